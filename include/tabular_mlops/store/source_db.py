"""The source database: a real SQL table reached by a SQLAlchemy URL (SQLite by default, PostgreSQL works)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from tabular_mlops.core.config import FeatureSpec, SchemaConfig
from tabular_mlops.core.contracts import SOURCE_CONN_ID
from tabular_mlops.store import time_columns
from tabular_mlops.store.bulk import insert_frame
from tabular_mlops.store.tables import create_tables, ddl_transaction


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


def connect(url: str, conn_id: str = SOURCE_CONN_ID) -> sa.Engine:
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
    extra = tuple(c for c in batch.columns if c not in schema.columns)
    create_tables(engine, table_for(schema, sa.MetaData(), extra).metadata)
    if extra and not set(extra) <= _column_names(engine, schema.table):
        with ddl_transaction(engine) as conn:
            existing = _column_names(
                conn, schema.table
            )  # again, under the lock: another writer may have added it
            for col in extra:
                if col not in existing:
                    # An upstream schema change (e.g. a renamed column) shows up as a new column.
                    conn.execute(sa.text(f'ALTER TABLE "{schema.table}" ADD COLUMN "{col}" FLOAT'))
    table = sa.Table(schema.table, sa.MetaData(), autoload_with=engine)
    ts = table.c[schema.timestamp_column]
    start = dt.datetime.combine(day, dt.time())
    with engine.begin() as conn:
        conn.execute(table.delete().where(ts >= start, ts < start + dt.timedelta(days=1)))
        return insert_frame(conn, table, batch)


def _column_names(bind: sa.Engine | sa.Connection, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(bind).get_columns(table)}


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
    # The time column as the driver returns it (text, a number, a datetime): `time_columns` reads every form; the
    # column's declared type would parse SQLite text itself and fail on an offset without naming the column.
    raw_ts = sa.type_coerce(ts, sa.types.NullType()).label(ts.name)
    columns = [raw_ts if c == ts.name else table.c[c] for c in (only or schema.columns) if c in table.c]
    where = time_columns.window_clause(engine, ts, start, end)
    return sa.select(*columns).where(where).order_by(ts, table.c[schema.id_column])


def _in_window(
    chunk: pd.DataFrame, schema: SchemaConfig, start: dt.datetime, end: dt.datetime, conn_id: str
) -> pd.DataFrame:
    """The chunk's rows whose time, read by the `time_columns` rule (naive UTC), is in [start, end)."""
    col = schema.timestamp_column
    if col not in chunk.columns:
        return chunk
    try:
        times = time_columns.to_naive_utc(chunk[col], col)
    except time_columns.TimeColumnError as exc:
        raise time_columns.TimeColumnError(f"{exc} (table '{schema.table}' in '{conn_id}')") from exc
    keep = time_columns.in_window(times, start, end)
    out = chunk.assign(**{col: times})
    return out if bool(keep.all()) else out[keep.to_numpy()].reset_index(drop=True)


def read_window(
    engine: sa.Engine,
    schema: SchemaConfig,
    start: dt.datetime,
    end: dt.datetime,
    conn_id: str = SOURCE_CONN_ID,
    only: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The schema's columns (or the `only` ones of them) of the rows with start <= timestamp < end (naive UTC,
    the `time_columns` rule: the time column comes back as naive UTC datetimes), in a stable order (timestamp, id)
    so output bytes are repeatable. Other columns of the source table are never read; a schema column the table
    lacks is left out here and reported by validation."""
    query = _window_query(engine, schema, start, end, conn_id, only)
    with engine.connect() as conn:
        return _in_window(pd.read_sql(query, conn), schema, start, end, conn_id)


def _rechunk(chunks: Iterator[pd.DataFrame], chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The same rows in chunks of exactly `chunk_rows` (the last one shorter; one empty chunk if there are none),
    so a chunk still holds rows k*chunk_rows.. of the window when the exact cut dropped rows the SQL range read."""
    held: list[pd.DataFrame] = []
    size = 0
    emitted = False
    last = pd.DataFrame()
    for last in chunks:
        if len(last):
            held.append(last)
            size += len(last)
        while size >= chunk_rows:
            joined = pd.concat(held, ignore_index=True) if len(held) > 1 else held[0]
            yield joined.iloc[:chunk_rows].reset_index(drop=True)
            emitted = True
            rest = joined.iloc[chunk_rows:].reset_index(drop=True)
            held, size = ([rest], len(rest)) if len(rest) else ([], 0)
    if size:
        yield pd.concat(held, ignore_index=True) if len(held) > 1 else held[0]
    elif not emitted:
        yield last


def iter_window(
    engine: sa.Engine,
    schema: SchemaConfig,
    start: dt.datetime,
    end: dt.datetime,
    chunk_rows: int,
    conn_id: str = SOURCE_CONN_ID,
) -> Iterator[pd.DataFrame]:
    """`read_window` in chunks of at most `chunk_rows` rows, same rows in the same order; an empty window gives
    one empty chunk with the columns. The rows stay in the database until asked for: a server-side cursor where
    the driver has one (`stream_results`, e.g. psycopg2's named cursor), SQLite's cursor steps lazily anyway."""
    query = _window_query(engine, schema, start, end, conn_id)
    with engine.connect() as conn:
        streaming = conn.execution_options(stream_results=True, max_row_buffer=chunk_rows)
        chunks = pd.read_sql(query, streaming, chunksize=chunk_rows)
        yield from _rechunk((_in_window(c, schema, start, end, conn_id) for c in chunks), chunk_rows)
