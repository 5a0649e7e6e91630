"""The record of every nightly decision and trigger: answers "why did the model change on that night?"."""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa

TABLE = "monitoring_decisions"


def _table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        TABLE,
        metadata,
        sa.Column("night", sa.String(10), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("champion_version", sa.String(32), nullable=True),
        sa.Column("drift_share", sa.Float(), nullable=True),
        sa.Column("triggered_run_id", sa.String(256), nullable=True),
    )


def ensure(engine: sa.Engine) -> sa.Table:
    metadata = sa.MetaData()
    table = _table(metadata)
    metadata.create_all(engine)
    return table


def record(
    engine: sa.Engine,
    night: str,
    status: str,
    action: str | None,
    reasons: list[str],
    champion_version: str | None,
    drift_share: float | None,
) -> None:
    """Upsert the night's decision (a re-run of the night replaces it, keeping any trigger already made)."""
    table = ensure(engine)
    with engine.begin() as conn:
        previous = conn.execute(sa.select(table.c.triggered_run_id).where(table.c.night == night)).scalar()
        conn.execute(table.delete().where(table.c.night == night))
        conn.execute(
            table.insert().values(
                night=night,
                status=status,
                action=action,
                reasons=json.dumps(reasons),
                champion_version=champion_version,
                drift_share=drift_share,
                triggered_run_id=previous,
            )
        )


def record_trigger(engine: sa.Engine, night: str, run_id: str) -> None:
    table = ensure(engine)
    with engine.begin() as conn:
        conn.execute(table.update().where(table.c.night == night).values(triggered_run_id=run_id))


def last_retrain(engine: sa.Engine, before: str) -> dt.date | None:
    """The last night before `before` whose decision triggered a retraining (for the cooldown)."""
    table = ensure(engine)
    query = sa.select(sa.func.max(table.c.night)).where(
        table.c.night < before, table.c.action == "retrain", table.c.triggered_run_id.is_not(None)
    )
    with engine.connect() as conn:
        value = conn.execute(query).scalar()
    return dt.date.fromisoformat(value) if value else None


def history(engine: sa.Engine) -> list[dict]:
    table = ensure(engine)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(table).order_by(table.c.night)).mappings().all()
    return [{**r, "reasons": json.loads(r["reasons"])} for r in rows]
