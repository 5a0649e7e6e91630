"""The prediction log: the single record of what the models said (nightly batch scoring and the online service).

One row per (entity id, source). A night's batch scoring replaces that night's batch rows (delete + insert
in one transaction), so a backfilled night never duplicates. Labels are joined in place as they mature. Online
rows also carry the answer's latency and whether it was the fallback decision (no score then).

The table is migrated in place when this module adds to it (see `migrate`): a running stack's log keeps its rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from tabular_mlops.core.config import SchemaConfig
from tabular_mlops.core.contracts import ONLINE_SOURCE, SHADOW_SOURCE, LogColumn, LogSource
from tabular_mlops.store.bulk import execute_many, frame_chunks
from tabular_mlops.store.tables import create_tables, ddl_transaction

TABLE = "prediction_log"
LATENCY_COLUMN = LogColumn.LATENCY
FALLBACK_COLUMN = LogColumn.FALLBACK
# A stable pseudo-random number per row (`sample_keys`): rows whose key is below a limit are a reproducible sample
# the database selects by itself, so a window of millions is never read whole to be sampled.
SAMPLE_KEY_COLUMN = LogColumn.SAMPLE_KEY
SAMPLE_KEY_BITS = 31  # a key fits a signed 32-bit INTEGER in every database
SAMPLE_KEY_SPAN = 2**SAMPLE_KEY_BITS


def log_table(schema: SchemaConfig, metadata: sa.MetaData) -> sa.Table:
    types: dict[str, sa.types.TypeEngine[Any]] = {
        "float": sa.Float(),
        "int": sa.Float(),
        "category": sa.String(64),
    }
    return sa.Table(
        TABLE,
        metadata,
        sa.Column(LogColumn.PREDICTION_ID, sa.String(128), primary_key=True),
        sa.Column(schema.id_column, sa.String(64), nullable=False, index=True),
        sa.Column(schema.timestamp_column, sa.DateTime(), nullable=False, index=True),
        # Integer-coded categories stay whole numbers, so they compare equal to the schema's codes on the way back.
        *[
            sa.Column(f.name, sa.Integer() if f.integer_codes else types[f.type], nullable=True)
            for f in schema.features
        ],
        # NULL only for a fallback answer: the model failed, the applicant got the configured safe decision.
        sa.Column(LogColumn.SCORE, sa.Float(), nullable=True),
        sa.Column(LogColumn.DECISION, sa.Integer(), nullable=False),
        sa.Column(LogColumn.MODEL_NAME, sa.String(128), nullable=False),
        sa.Column(LogColumn.MODEL_VERSION, sa.String(32), nullable=False),
        sa.Column(LogColumn.SCORING_RUN_ID, sa.String(256), nullable=False),
        sa.Column(LogColumn.SOURCE, sa.String(16), nullable=False),
        sa.Column(LogColumn.LABEL, sa.Integer(), nullable=True),
        sa.Column(LogColumn.LABEL_JOINED_AT, sa.DateTime(), nullable=True),
        # Online answers: milliseconds from the request's arrival to its answer (NULL for batch rows).
        sa.Column(LATENCY_COLUMN, sa.Float(), nullable=True),
        sa.Column(FALLBACK_COLUMN, sa.Boolean(), nullable=False, server_default=sa.false()),
        # NULL on rows logged before the column existed: those are always read (see `read_window`).
        sa.Column(SAMPLE_KEY_COLUMN, sa.Integer(), nullable=True),
    )


def sample_keys(prediction_ids: Iterable[str]) -> list[int]:
    """Each id's key in [0, SAMPLE_KEY_SPAN): the top bits of pandas' stable 64-bit hash of its text, so the same
    row always gets the same key (a re-scored night keeps its sample). Any uniform hash would do: rows keyed by
    an earlier one still form a uniform sample with the rest."""
    ids = pd.Series(list(prediction_ids), dtype=object).astype(str)
    hashed = pd.util.hash_pandas_object(ids, index=False).to_numpy()
    return (hashed >> np.uint64(64 - SAMPLE_KEY_BITS)).astype(np.int64).tolist()


def keyed(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Log records with their sample key set (from `prediction_id`)."""
    keys = sample_keys(r[LogColumn.PREDICTION_ID] for r in records)
    return [{**r, SAMPLE_KEY_COLUMN: k} for r, k in zip(records, keys, strict=True)]


@dataclass(frozen=True)
class AnsweredBy:
    """Who gave a set of answers: the model version, the run or service instance that scored, the source."""

    model_name: str
    model_version: str
    scoring_run_id: str
    source: str


def prediction_id(source: str, key: str) -> str:
    """A log row's primary key: its source and a key unique within it (the entity id for batch rows)."""
    return f"{source}:{key}"


def log_columns(
    schema: SchemaConfig,
    by: AnsweredBy,
    prediction_ids: Any,
    entity_ids: Any,
    at: Any,
    features: Any,
    scores: Any,
    decisions: Any,
    **extra: Any,
) -> dict[str, Any]:
    """The prediction-log row of each answer, as columns: every argument is a column (a sequence, one value a
    row) or a value shared by every row (`at`, the answerer). `features` maps each schema feature to its column;
    `decisions` are the decision rule's codes (1 = high risk); `extra` adds the online columns (latency_ms,
    fallback). Batch scoring makes a DataFrame of it, the service a record per row (`log_records`)."""
    return {
        LogColumn.PREDICTION_ID: prediction_ids,
        schema.id_column: entity_ids,
        schema.timestamp_column: at,
        **{name: features[name] for name in schema.feature_names},
        LogColumn.SCORE: scores,
        LogColumn.DECISION: decisions,
        LogColumn.MODEL_NAME: by.model_name,
        LogColumn.MODEL_VERSION: by.model_version,
        LogColumn.SCORING_RUN_ID: by.scoring_run_id,
        LogColumn.SOURCE: by.source,
        **extra,
    }


def log_records(columns: dict[str, Any], rows: int) -> list[dict[str, Any]]:
    """`log_columns` as one dict per row: list columns are split by row, any other value is shared by all."""
    bad = [k for k, v in columns.items() if isinstance(v, list) and len(v) != rows]
    if bad:
        raise ValueError(f"prediction-log columns {bad} do not hold one value for each of the {rows} row(s)")
    return [{k: v[i] if isinstance(v, list) else v for k, v in columns.items()} for i in range(rows)]


def ensure_table(engine: sa.Engine, schema: SchemaConfig) -> sa.Table:
    """The log table, created if missing and migrated if an older version of it is there."""
    metadata = sa.MetaData()
    table = log_table(schema, metadata)
    create_tables(engine, metadata)
    migrate(engine, table)
    return table


def _pending_changes(bind: sa.Engine | sa.Connection, table: sa.Table) -> tuple[list[sa.Column], bool]:
    """Columns the existing table lacks, and whether its `score` still refuses NULL."""
    existing = {c["name"]: c for c in sa.inspect(bind).get_columns(table.name)}
    missing = [c for c in table.columns if c.name not in existing]
    return missing, not existing[LogColumn.SCORE]["nullable"]


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

    with ddl_transaction(engine) as conn:
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
                batch.alter_column(LogColumn.SCORE, existing_type=sa.Float(), nullable=True)
    return True


def replace_batch(
    engine: sa.Engine,
    schema: SchemaConfig,
    rows: pd.DataFrame,
    start: dt.datetime,
    end: dt.datetime,
    source: str = LogSource.BATCH,
    chunk_rows: int = 100_000,
) -> int:
    """Upsert a night: this source's rows in [start, end) are replaced by `rows` atomically (one transaction;
    inserted `chunk_rows` at a time, so only one chunk's Python objects exist at once)."""
    table = ensure_table(engine, schema)
    ts = table.c[schema.timestamp_column]
    with engine.begin() as conn:
        conn.execute(table.delete().where(ts >= start, ts < end, table.c.source == source))
        for chunk in frame_chunks(rows, chunk_rows):
            chunk[SAMPLE_KEY_COLUMN] = sample_keys(chunk[LogColumn.PREDICTION_ID])
            execute_many(conn, table.insert(), chunk)
    return len(rows)


def logged_version(
    engine: sa.Engine,
    schema: SchemaConfig,
    start: dt.datetime,
    end: dt.datetime,
    source: str = LogSource.BATCH,
) -> str | None:
    """The model version that scored this source's newest row in [start, end), or None if none are logged.
    The newest: a window can hold the shadow answers of an earlier challenger and of the one shadowing now."""
    if not sa.inspect(engine).has_table(TABLE):
        return None
    table = ensure_table(engine, schema)
    ts = table.c[schema.timestamp_column]
    query = (
        sa.select(table.c.model_version)
        .where(ts >= start, ts < end, table.c.source == source)
        .order_by(ts.desc(), table.c.prediction_id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        return conn.execute(query).scalar()


def join_labels(engine: sa.Engine, schema: SchemaConfig, labels: pd.DataFrame, joined_at: dt.datetime) -> int:
    """Write matured labels onto the logged predictions of the same ids (idempotent: same labels, same rows)."""
    table = ensure_table(engine, schema)
    if labels.empty:
        return 0
    known = labels[labels[schema.target_column].notna()]
    stmt = (
        table.update()
        .where(table.c[schema.id_column] == sa.bindparam("_id"))
        .values(label=sa.bindparam("_label"), label_joined_at=sa.bindparam("_joined_at"))
    )
    ids = known[schema.id_column].astype(str).tolist()
    columns = {
        "_label": known[schema.target_column].astype("int64").tolist(),
        "_joined_at": [joined_at] * len(ids),
        "_id": ids,
    }
    if not ids:
        return 0
    with engine.begin() as conn:
        return execute_many(conn, stmt, columns)


def read_log(engine: sa.Engine, schema: SchemaConfig, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """Every column of every row logged in [start, end), in a stable order (for small windows and tests)."""
    table = ensure_table(engine, schema)
    ts = table.c[schema.timestamp_column]
    query = sa.select(table).where(ts >= start, ts < end).order_by(ts, table.c.prediction_id)
    with engine.connect() as conn:
        return pd.read_sql(query, conn)


@dataclass(frozen=True)
class LogWindow:
    """A monitored window of the log: the rows the statistics use, and exact counts of all its rows.

    `rows` holds the timestamp, the features, `score` and `label` of every row in the window, or, when the window
    holds more than the asked maximum, of a reproducible sample of about that many (the rows whose sample key is
    under a limit: the same rows every time the window is read). `day_counts` counts every row by day, and
    the scored ones and the scored and labelled ones, so volumes and row-count rules never depend on the sample."""

    rows: pd.DataFrame
    # Per day (date): rows, scored (rows with a score), labelled (scored and labelled).
    day_counts: pd.DataFrame
    sample_share: float  # 1.0 when `rows` is the whole window

    @property
    def sampled(self) -> bool:
        return self.sample_share < 1.0


def _monitored(table: sa.Table, id_column: str) -> sa.ColumnElement[bool]:
    """The rows a monitored window holds: each application once. A shadow's answers are never the primary's; an
    online answer is left out when the nightly batch scored the same application (its batch row is the night's
    record of it, by the champion): with the service answering the applications the batch job scores, each
    would otherwise count twice, and a night would be held as twice its usual rows."""
    batch = table.alias("batch_rows")
    in_batch = sa.exists().where(batch.c[id_column] == table.c[id_column], batch.c.source == LogSource.BATCH)
    return sa.and_(table.c.source != SHADOW_SOURCE, sa.or_(table.c.source != ONLINE_SOURCE, ~in_batch))


def _day_counts(
    conn: sa.Connection, table: sa.Table, ts: sa.Column, start: dt.datetime, end: dt.datetime, id_column: str
) -> pd.DataFrame:
    """Per day of [start, end): all rows, scored rows, scored and labelled rows (`_monitored` rows only). One
    aggregate per day over the timestamp index, not a GROUP BY on a computed date (four times slower on SQLite at
    1M rows a day)."""
    both = sa.and_(table.c.score.isnot(None), table.c.label.isnot(None))
    query = sa.select(sa.func.count(), sa.func.count(table.c.score), sa.func.sum(sa.case((both, 1), else_=0)))
    query = query.where(_monitored(table, id_column))
    counts = []
    day = start
    while day < end:
        upto = min(day + dt.timedelta(days=1), end)
        rows, scored, labelled = conn.execute(query.where(ts >= day, ts < upto)).one()
        counts.append((day.date(), int(rows), int(scored), int(labelled or 0)))
        day = upto
    return pd.DataFrame(counts, columns=["day", "rows", "scored", "labelled"])


def day_counts(engine: sa.Engine, schema: SchemaConfig, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """The exact per-day counts of [start, end) (rows, scored, labelled) without reading a row."""
    table = ensure_table(engine, schema)
    with engine.connect() as conn:
        return _day_counts(conn, table, table.c[schema.timestamp_column], start, end, schema.id_column)


def read_window(
    engine: sa.Engine, schema: SchemaConfig, start: dt.datetime, end: dt.datetime, max_rows: int
) -> LogWindow:
    """The window [start, end) for monitoring: only the columns the statistics read (timestamp, features, score,
    label), all of its rows up to `max_rows`, above that a sample of about `max_rows` drawn by the database."""
    table = ensure_table(engine, schema)
    ts = table.c[schema.timestamp_column]
    # A shadow challenger's answers are compared with the champion's (`read_shadow_pairs`), never drift data; an
    # application both answered online and scored in batch is read once (`_monitored`).
    in_window = sa.and_(ts >= start, ts < end, _monitored(table, schema.id_column))
    columns = [ts, *(table.c[f] for f in schema.feature_names), table.c.score, table.c.label]
    with engine.connect() as conn:
        counts = _day_counts(conn, table, ts, start, end, schema.id_column)
        total = int(counts["rows"].sum())
        share = 1.0 if total <= max_rows else max_rows / total
        where = in_window
        if share < 1.0:
            key = table.c[SAMPLE_KEY_COLUMN]
            where = sa.and_(in_window, sa.or_(key.is_(None), key < int(share * SAMPLE_KEY_SPAN)))
        query = sa.select(*columns).where(where).order_by(ts, table.c.prediction_id)
        rows = pd.read_sql(query, conn)
    return LogWindow(rows, counts, share)


def read_source(
    engine: sa.Engine, schema: SchemaConfig, start: dt.datetime, end: dt.datetime, source: str
) -> pd.DataFrame:
    """One source's rows in [start, end), without the features: timestamp, source, score, model version, latency
    and fallback flag (the online service's night)."""
    table = ensure_table(engine, schema)
    ts = table.c[schema.timestamp_column]
    names = [
        schema.timestamp_column,
        LogColumn.SOURCE,
        LogColumn.SCORE,
        LogColumn.MODEL_VERSION,
        LATENCY_COLUMN,
        FALLBACK_COLUMN,
    ]
    query = sa.select(*(table.c[n] for n in names)).where(ts >= start, ts < end, table.c.source == source)
    with engine.connect() as conn:
        return pd.read_sql(query.order_by(ts, table.c.prediction_id), conn)


def read_arms(
    engine: sa.Engine, schema: SchemaConfig, start: dt.datetime, end: dt.datetime, versions: Iterable[str]
) -> pd.DataFrame:
    """The online answers in [start, end) of these model versions (the arms of a live split): timestamp,
    `model_version`, `score` (NULL for a fallback answer), `decision` and `label` (NULL until it matures)."""
    table = ensure_table(engine, schema)
    ts = table.c[schema.timestamp_column]
    names = [LogColumn.MODEL_VERSION, LogColumn.SCORE, LogColumn.DECISION, LogColumn.LABEL]
    query = sa.select(ts, *(table.c[n] for n in names)).where(
        ts >= start, ts < end, table.c.source == ONLINE_SOURCE, table.c.model_version.in_(list(versions))
    )
    with engine.connect() as conn:
        rows = pd.read_sql(query.order_by(ts, table.c.prediction_id), conn)
    rows[LogColumn.MODEL_VERSION] = rows[LogColumn.MODEL_VERSION].astype(str)
    return rows
