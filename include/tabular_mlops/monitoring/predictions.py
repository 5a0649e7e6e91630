"""The prediction log: the single record of what the models said (batch scoring now, the online service later).

One row per (application id, source). A night's batch scoring replaces that night's batch rows (delete + insert
in one transaction), so a backfilled night never duplicates. Labels are joined in place as they mature.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import sqlalchemy as sa

from tabular_mlops.config import SchemaConfig

TABLE = "prediction_log"


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
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("decision", sa.Integer(), nullable=False),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("scoring_run_id", sa.String(256), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("label", sa.Integer(), nullable=True),
        sa.Column("label_joined_at", sa.DateTime(), nullable=True),
    )


def ensure_table(engine: sa.Engine, schema: SchemaConfig) -> sa.Table:
    metadata = sa.MetaData()
    table = log_table(schema, metadata)
    metadata.create_all(engine)
    return table


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
