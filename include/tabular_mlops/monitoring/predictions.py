"""The prediction log: the single record of what the models said (nightly batch scoring and the online service).

One row per (application id, source). A night's batch scoring replaces that night's batch rows (delete + insert
in one transaction), so a backfilled night never duplicates. Labels are joined in place as they mature. Online
rows also carry the answer's latency and whether it was the fallback decision (no score then).

The table is migrated in place when this module adds to it (see `migrate`): a running stack's log keeps its rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pandas as pd
import sqlalchemy as sa

from tabular_mlops.config import SchemaConfig

TABLE = "prediction_log"
LATENCY_COLUMN = "latency_ms"
FALLBACK_COLUMN = "fallback"


def log_table(schema: SchemaConfig, metadata: sa.MetaData) -> sa.Table:
    types: dict[str, sa.types.TypeEngine[Any]] = {
        "float": sa.Float(),
        "int": sa.Float(),
        "category": sa.String(64),
    }
    return sa.Table(
        TABLE,
        metadata,
        sa.Column("prediction_id", sa.String(128), primary_key=True),
        sa.Column(schema.id_column, sa.String(64), nullable=False, index=True),
        sa.Column(schema.timestamp_column, sa.DateTime(), nullable=False, index=True),
        # Integer-coded categories stay whole numbers, so they compare equal to the schema's codes on the way back.
        *[
            sa.Column(f.name, sa.Integer() if f.integer_codes else types[f.type], nullable=True)
            for f in schema.features
        ],
        # NULL only for a fallback answer: the model failed, the applicant got the configured safe decision.
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("decision", sa.Integer(), nullable=False),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("scoring_run_id", sa.String(256), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("label", sa.Integer(), nullable=True),
        sa.Column("label_joined_at", sa.DateTime(), nullable=True),
        # Online answers: milliseconds from the request's arrival to its answer (NULL for batch rows).
        sa.Column(LATENCY_COLUMN, sa.Float(), nullable=True),
        sa.Column(FALLBACK_COLUMN, sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def ensure_table(engine: sa.Engine, schema: SchemaConfig) -> sa.Table:
    """The log table, created if missing and migrated if an older version of it is there."""
    metadata = sa.MetaData()
    table = log_table(schema, metadata)
    metadata.create_all(engine)
    migrate(engine, table)
    return table


def _pending_changes(bind: sa.Engine | sa.Connection, table: sa.Table) -> tuple[list[sa.Column], bool]:
    """Columns the existing table lacks, and whether its `score` still refuses NULL."""
    existing = {c["name"]: c for c in sa.inspect(bind).get_columns(table.name)}
    missing = [c for c in table.columns if c.name not in existing]
    return missing, not existing["score"]["nullable"]


def migrate(engine: sa.Engine, table: sa.Table) -> bool:
    """Bring an existing log table to `table`'s columns without losing a row; True when something changed.

    Only additive changes are made: new nullable (or defaulted) columns, and `score` made nullable. Alembic's
    batch mode does it as ALTER TABLE where the database can (PostgreSQL) and by copying into a new table where
    it cannot (SQLite cannot relax NOT NULL), inside one transaction, so a failure leaves the old table whole.
    """
    missing, score_not_null = _pending_changes(engine, table)
    if not missing and not score_not_null:
        return False
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    with _transactional(engine) as conn:
        missing, score_not_null = _pending_changes(conn, table)  # another process may have done it
        if not missing and not score_not_null:
            return False
        ops = Operations(MigrationContext.configure(conn))
        with ops.batch_alter_table(table.name) as batch:
            for column in missing:
                batch.add_column(
                    sa.Column(
                        column.name,
                        column.type,
                        nullable=column.nullable,
                        server_default=column.server_default,
                    )
                )
            if score_not_null:
                batch.alter_column("score", existing_type=sa.Float(), nullable=True)
    return True


@contextlib.contextmanager
def _transactional(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction that covers DDL too. Python's sqlite3 driver commits before CREATE/DROP/ALTER on its own,
    so on SQLite a dedicated engine hands transaction control to an explicit BEGIN (SQLAlchemy's recipe)."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    ddl_engine = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)

    @sa.event.listens_for(ddl_engine, "connect")
    def _no_implicit_transactions(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(ddl_engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock first: no other writer in between

    try:
        with ddl_engine.begin() as conn:
            yield conn
    finally:
        ddl_engine.dispose()


def replace_batch(
    engine: sa.Engine,
    schema: SchemaConfig,
    rows: pd.DataFrame,
    start: dt.datetime,
    end: dt.datetime,
    source: str = "batch",
) -> int:
    """Upsert a night: this source's rows in [start, end) are replaced by `rows` atomically."""
    table = ensure_table(engine, schema)
    ts = table.c[schema.timestamp_column]
    records = rows.astype(object).where(rows.notna(), None).to_dict("records")
    with engine.begin() as conn:
        conn.execute(table.delete().where(ts >= start, ts < end, table.c.source == source))
        if records:
            conn.execute(table.insert(), records)
    return len(records)


def logged_version(
    engine: sa.Engine, schema: SchemaConfig, start: dt.datetime, end: dt.datetime, source: str = "batch"
) -> str | None:
    """The model version that scored this source's rows in [start, end), or None if none are logged."""
    if not sa.inspect(engine).has_table(TABLE):
        return None
    table = ensure_table(engine, schema)
    ts = table.c[schema.timestamp_column]
    query = sa.select(table.c.model_version).where(ts >= start, ts < end, table.c.source == source).limit(1)
    with engine.connect() as conn:
        return conn.execute(query).scalar()


def join_labels(engine: sa.Engine, schema: SchemaConfig, labels: pd.DataFrame, joined_at: dt.datetime) -> int:
    """Write matured labels onto the logged predictions of the same ids (idempotent: same labels, same rows)."""
    table = ensure_table(engine, schema)
    if labels.empty:
        return 0
    payload = [
        {"_id": str(i), "_label": int(v)}
        for i, v in zip(labels[schema.id_column], labels[schema.target_column], strict=True)
        if pd.notna(v)
    ]
    stmt = (
        table.update()
        .where(table.c[schema.id_column] == sa.bindparam("_id"))
        .values(label=sa.bindparam("_label"), label_joined_at=joined_at)
    )
    with engine.begin() as conn:
        result = conn.execute(stmt, payload)
    return int(result.rowcount or 0)


def read_log(engine: sa.Engine, schema: SchemaConfig, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    table = ensure_table(engine, schema)
    ts = table.c[schema.timestamp_column]
    query = sa.select(table).where(ts >= start, ts < end).order_by(ts, table.c.prediction_id)
    with engine.connect() as conn:
        return pd.read_sql(query, conn)
