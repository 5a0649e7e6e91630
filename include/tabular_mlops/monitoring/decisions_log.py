"""The record of every nightly decision and trigger: answers "why did the model change on that night?"."""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa

from tabular_mlops.monitoring.results import Action, Decision, NightRecord, Status
from tabular_mlops.store.tables import create_tables

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
    create_tables(engine, metadata)  # once, however many processes use it first
    return table


def record(
    engine: sa.Engine, decision: Decision, champion_version: str | None, drift_share: float | None
) -> None:
    """Upsert the night's decision (a re-run of the night replaces it, keeping any trigger already made)."""
    table = ensure(engine)
    night = decision.night.isoformat()
    with engine.begin() as conn:
        previous = conn.execute(sa.select(table.c.triggered_run_id).where(table.c.night == night)).scalar()
        conn.execute(table.delete().where(table.c.night == night))
        conn.execute(
            table.insert().values(
                night=night,
                status=decision.status.value,
                action=None if decision.action is None else decision.action.value,
                reasons=json.dumps(list(decision.reasons)),
                champion_version=champion_version,
                drift_share=drift_share,
                triggered_run_id=previous,
            )
        )


def record_trigger(engine: sa.Engine, night: dt.date, run_id: str) -> None:
    table = ensure(engine)
    with engine.begin() as conn:
        conn.execute(table.update().where(table.c.night == night.isoformat()).values(triggered_run_id=run_id))


def last_retrain(engine: sa.Engine, before: dt.date) -> dt.date | None:
    """The last night before `before` whose decision triggered a retraining (for the cooldown)."""
    table = ensure(engine)
    query = sa.select(sa.func.max(table.c.night)).where(
        table.c.night < before.isoformat(),
        table.c.action == Action.RETRAIN.value,
        table.c.triggered_run_id.is_not(None),
    )
    with engine.connect() as conn:
        value = conn.execute(query).scalar()
    return dt.date.fromisoformat(value) if value else None


def champion_since(engine: sa.Engine, champion_version: str, night: dt.date) -> dt.date | None:
    """The first night of `champion_version`'s current stretch as champion: the night after the last night before
    `night` that was judged with another champion; None when none was (it has been champion all along). On the
    log's own timeline, unlike the promotion ledger's wall-clock time (a backfilled night is in the past): a
    promotion on night N (deploy_model runs after monitor_nightly) shows as N judged by the old champion and N + 1
    by the new one."""
    table = ensure(engine)
    query = sa.select(sa.func.max(table.c.night)).where(
        table.c.night < night.isoformat(),
        table.c.champion_version.is_not(None),
        table.c.champion_version != str(champion_version),
    )
    with engine.connect() as conn:
        value = conn.execute(query).scalar()
    return dt.date.fromisoformat(value) + dt.timedelta(days=1) if value else None


def held_nights(engine: sa.Engine, start: dt.date, end: dt.date) -> set[dt.date]:
    """Nights in [start, end) held for data quality: their rows stay out of later windows."""
    table = ensure(engine)
    query = sa.select(table.c.night).where(
        table.c.night >= start.isoformat(),
        table.c.night < end.isoformat(),
        table.c.action == Action.HOLD.value,
    )
    with engine.connect() as conn:
        return {dt.date.fromisoformat(n) for n in conn.execute(query).scalars()}


def last_judged_night(engine: sa.Engine) -> dt.date | None:
    """The newest night that had rows to judge (nights without data, e.g. past the simulated history, do not
    count)."""
    table = ensure(engine)
    query = sa.select(sa.func.max(table.c.night)).where(table.c.status != Status.NO_DATA.value)
    with engine.connect() as conn:
        value = conn.execute(query).scalar()
    return dt.date.fromisoformat(value) if value else None


def _record(row: sa.RowMapping) -> NightRecord:
    return NightRecord.from_dict({**row, "reasons": json.loads(row["reasons"])})


def history(engine: sa.Engine) -> list[NightRecord]:
    """Every recorded night, oldest first."""
    table = ensure(engine)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(table).order_by(table.c.night)).mappings().all()
    return [_record(r) for r in rows]


def night_record(engine: sa.Engine, night: dt.date) -> NightRecord | None:
    """The record of one night, or None if it was not monitored."""
    table = ensure(engine)
    with engine.connect() as conn:
        row = conn.execute(sa.select(table).where(table.c.night == night.isoformat())).mappings().first()
    return None if row is None else _record(row)
