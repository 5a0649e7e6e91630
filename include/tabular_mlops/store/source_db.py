"""The source database: a real SQL table reached by a SQLAlchemy URL (SQLite by default, PostgreSQL works)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from tabular_mlops.core.config import FeatureSpec, SchemaConfig
from tabular_mlops.store.bulk import insert_frame


class SourceUnavailableError(ConnectionError):
    """The source database cannot be reached; the message names the connection."""


def _sql_type(spec: FeatureSpec) -> sa.types.TypeEngine[Any]:
    if spec.integer_codes:
        return sa.Integer()
    types: dict[str, sa.types.TypeEngine[Any]] = {
        "float": sa.Float(),
        "int": sa.Integer(),
        "category": sa.String(64),
    }
    return types[spec.type]


def _label_type(schema: SchemaConfig) -> sa.types.TypeEngine[Any]:
    labels = (schema.positive_label, *schema.negative_labels)
    return sa.Integer() if all(isinstance(v, int) for v in labels) else sa.String(64)


def table_for(schema: SchemaConfig, metadata: sa.MetaData, extra_columns: tuple[str, ...] = ()) -> sa.Table:
    """The source table as the schema describes it. No primary key: production data can hold duplicate ids."""
    cols: list[sa.Column[Any]] = [
        sa.Column(schema.id_column, sa.String(64), nullable=True),
        sa.Column(schema.timestamp_column, sa.DateTime(), nullable=False, index=True),
        *[sa.Column(f.name, _sql_type(f), nullable=True) for f in schema.features],
        sa.Column(schema.target_column, _label_type(schema), nullable=True),
        *[sa.Column(c, sa.Float(), nullable=True) for c in extra_columns],
    ]
    return sa.Table(schema.table, metadata, *cols)


def connect(url: str, conn_id: str = "source_db") -> sa.Engine:
    """An engine that has been checked to connect; a failure names the connection, not just the driver."""
    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        raise SourceUnavailableError(
            f"cannot reach source database '{conn_id}' ({_safe(url)}): {exc}"
        ) from exc
    return engine


def ensure_sqlite_folder(url: str) -> None:
    """Create the folder of a SQLite database file (SQLite creates the file, not its folder)."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def _safe(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def write_day(engine: sa.Engine, schema: SchemaConfig, day: dt.date, batch: pd.DataFrame) -> int:
    """Replace one day of rows (delete + insert in one transaction), so re-seeding a day never duplicates."""
    metadata = sa.MetaData()
    inspector = sa.inspect(engine)
    extra = tuple(c for c in batch.columns if c not in schema.columns)
    if inspector.has_table(schema.table):
        existing = {c["name"] for c in inspector.get_columns(schema.table)}
        with engine.begin() as conn:
            for col in extra:
                if col not in existing:
                    # An upstream schema change (e.g. a renamed column) shows up as a new column.
                    conn.execute(sa.text(f'ALTER TABLE "{schema.table}" ADD COLUMN "{col}" FLOAT'))
        table = sa.Table(schema.table, metadata, autoload_with=engine)
    else:
        table = table_for(schema, metadata, extra)
        metadata.create_all(engine)
    ts = table.c[schema.timestamp_column]
    start = dt.datetime.combine(day, dt.time())
    with engine.begin() as conn:
        conn.execute(table.delete().where(ts >= start, ts < start + dt.timedelta(days=1)))
        return insert_frame(conn, table, batch)


def _window_query(
    engine: sa.Engine,
    schema: SchemaConfig,
    start: dt.datetime,
    end: dt.datetime,
    conn_id: str,
    only: Sequence[str] | None = None,
) -> sa.Select[Any]:
    metadata = sa.MetaData()
    try:
        table = sa.Table(schema.table, metadata, autoload_with=engine)
    except sa.exc.NoSuchTableError as exc:
        raise LookupError(
            f"table '{schema.table}' (params.yaml schema.table) does not exist in source database '{conn_id}'"
        ) from exc
    for col in (schema.timestamp_column, schema.id_column):
        if col not in table.c:
            raise KeyError(
                f"column '{col}' named in params.yaml schema is missing from table '{schema.table}' in '{conn_id}'"
            )
    ts = table.c[schema.timestamp_column]
    columns = [table.c[c] for c in (only or schema.columns) if c in table.c]
    return sa.select(*columns).where(ts >= start, ts < end).order_by(ts, table.c[schema.id_column])


def read_window(
    engine: sa.Engine,
    schema: SchemaConfig,
    start: dt.datetime,
    end: dt.datetime,
    conn_id: str = "source_db",
    only: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The schema's columns (or the `only` ones of them) of the rows with start <= timestamp < end, in a stable
    order (timestamp, id) so output bytes are repeatable. Other columns of the source table are never read; a
    schema column the table lacks is left out here and reported by validation."""
    query = _window_query(engine, schema, start, end, conn_id, only)
    with engine.connect() as conn:
        return pd.read_sql(query, conn)


def iter_window(
    engine: sa.Engine,
    schema: SchemaConfig,
    start: dt.datetime,
    end: dt.datetime,
    chunk_rows: int,
    conn_id: str = "source_db",
) -> Iterator[pd.DataFrame]:
    """`read_window` in chunks of at most `chunk_rows` rows, same rows in the same order; an empty window gives
    one empty chunk with the columns. The rows stay in the database until asked for: a server-side cursor where
    the driver has one (`stream_results`, e.g. psycopg2's named cursor), SQLite's cursor steps lazily anyway."""
    query = _window_query(engine, schema, start, end, conn_id)
    with engine.connect() as conn:
        streaming = conn.execution_options(stream_results=True, max_row_buffer=chunk_rows)
        yield from pd.read_sql(query, streaming, chunksize=chunk_rows)
