"""The deploy log: every change of deployment strategy (who, when, from, to, why), every automatic rollback and
every bandit allocation, one row each; and the bandit's state, one row per model. Both tables are created
idempotently beside the prediction log (the monitoring database)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from tabular_mlops.store.tables import create_tables

TABLE = "deploy_log"
BANDIT_TABLE = "deploy_bandit_state"
# Events that put a strategy in force (the service's switches, its canary guard, a restart putting one back);
# the others only record what happened under it (bandit allocations, the nightly A/B and bandit steps).
STATE_EVENTS = ("strategy_change", "canary_rollback", "strategy_restored")
BANDIT_ALLOCATION = "bandit_allocation"  # the bandit's weights moved (the service's start, a nightly update)
BANDIT_UPDATE = "bandit_update"  # a nightly update that fed rewards and left the weights where they were
AB_TEST_NIGHT = "ab_test_night"  # a night's A/B decision: the test's state and the arms' figures


@dataclass(frozen=True)
class DeployEvent:
    """One entry: `event` is strategy_change, canary_rollback or bandit_allocation; `detail` holds its figures."""

    at: str
    model_name: str
    event: str
    from_strategy: str | None
    to_strategy: str
    actor: str
    champion_version: str | None
    challenger_version: str | None
    reason: str
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeployEvent:
        return cls(**data)


def _tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    log = sa.Table(
        TABLE,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(32), nullable=False, index=True),
        sa.Column("model_name", sa.String(256), nullable=False, index=True),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("from_strategy", sa.String(16), nullable=True),
        sa.Column("to_strategy", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("champion_version", sa.String(32), nullable=True),
        sa.Column("challenger_version", sa.String(32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    bandit = sa.Table(
        BANDIT_TABLE,
        metadata,
        sa.Column("model_name", sa.String(256), primary_key=True),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
    )
    return log, bandit


class DeployLog:
    """Both tables on one engine, created on first use (`create_tables`: once, from any number of processes)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        metadata = sa.MetaData()
        self.log, self.bandit = _tables(metadata)
        create_tables(engine, metadata)

    def record(self, event: DeployEvent) -> None:
        row = event.to_dict() | {"detail": json.dumps(event.detail, sort_keys=True)}
        with self.engine.begin() as conn:
            conn.execute(self.log.insert(), row)

    def history(
        self, model_name: str, limit: int = 100, events: Sequence[str] | None = None
    ) -> list[DeployEvent]:
        """The most recent entries first (of these `events` only, when given)."""
        query = sa.select(*[c for c in self.log.columns if c.name != "id"]).where(
            self.log.c.model_name == model_name
        )
        if events is not None:
            query = query.where(self.log.c.event.in_(list(events)))
        query = query.order_by(self.log.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [DeployEvent.from_dict({**r, "detail": json.loads(r["detail"])}) for r in rows]

    def in_force_since(self, model_name: str, strategy: str, challenger: str) -> DeployEvent | None:
        """The event that began the current stretch of `strategy` for `challenger`: the earliest of the state
        events since the last one that put anything else in force (a restart's `strategy_restored` continues a
        stretch). None when `strategy` for `challenger` is not what the log last put in force."""
        first = None
        for event in self.history(model_name, limit=10_000, events=STATE_EVENTS):
            if event.to_strategy != strategy or event.challenger_version != challenger:
                break
            first = event
        return first

    def bandit_state(self, model_name: str) -> dict[str, Any] | None:
        """The stored BanditState as its `to_dict`, or None when no bandit ran for this model."""
        query = sa.select(self.bandit.c.state).where(self.bandit.c.model_name == model_name)
        with self.engine.connect() as conn:
            text = conn.execute(query).scalar_one_or_none()
        return None if text is None else dict(json.loads(text))

    def save_bandit_state(self, model_name: str, state: dict[str, Any], at: dt.datetime) -> None:
        """Replace the model's bandit state (delete + insert in one transaction: portable upsert)."""
        with self.engine.begin() as conn:
            conn.execute(self.bandit.delete().where(self.bandit.c.model_name == model_name))
            row = {"model_name": model_name, "updated_at": at.isoformat(), "state": json.dumps(state)}
            conn.execute(self.bandit.insert(), row)
