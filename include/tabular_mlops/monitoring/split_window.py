"""The live split in force (an A/B test or a bandit, issue 25) and when it began, read from the deploy log the
service writes: the nightly A/B decision and the bandit update judge only the answers given under it, and only
those whose labels have matured (answered up to the end of `night - label_delay_days`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from tabular_mlops.core.config import DeployConfig, SchemaConfig
from tabular_mlops.monitoring.log_window import night_bounds
from tabular_mlops.store.deploy_log import STATE_EVENTS, DeployLog

SPLIT_STRATEGIES = ("ab_test", "bandit")


@dataclass(frozen=True)
class LiveSplit:
    """The split in force: its strategy, the two versions, and the first moment its answers count from (naive
    UTC, as the prediction log's timestamps)."""

    strategy: str
    champion: str
    challenger: str
    since: dt.datetime

    @property
    def began(self) -> str:
        return self.since.isoformat(timespec="seconds")


def strategy_in_force(log: DeployLog, model_name: str, deploy: DeployConfig) -> str:
    """What the service puts in force at start: the deploy log's last strategy, else params.yaml's (the same
    rule as the service's restore, read without asking the service)."""
    last = log.history(model_name, limit=1, events=STATE_EVENTS)
    return last[0].to_strategy if last else deploy.strategy


def live_split(
    log: DeployLog,
    model_name: str,
    state: dict[str, Any],
    champion: str | None,
    champion_since: str | None = None,
) -> tuple[LiveSplit | None, str]:
    """The split the service reports (`GET /admin/deploy`) with the moment it began: the deploy log's first
    switch of the current stretch (a restart continues it), else the service's own `since` (a strategy set in
    params.yaml and never switched); or, when the champion alias moved to this champion later
    (`champion_since`, the promotion ledger's time), from then on: the split compares these two versions over the
    same days, and a new pair starts a new test. None, with the reason, when there is no split to judge."""
    strategy, challenger = str(state.get("strategy")), state.get("challenger")
    if strategy not in SPLIT_STRATEGIES:
        return None, f"the service runs {strategy}, not a live split ({' or '.join(SPLIT_STRATEGIES)})"
    if not challenger or champion is None or str(challenger) == champion:
        why = f"the service runs {strategy} without two versions (champion v{champion}, challenger v{challenger})"
        return None, f"{why}: nothing to judge"
    first = log.in_force_since(model_name, strategy, str(challenger))
    since = naive_utc(first.at if first is not None else str(state.get("since")))
    if champion_since is not None:
        since = max(since, naive_utc(champion_since))
    return LiveSplit(strategy, champion, str(challenger), since), ""


def label_horizon(night: dt.date, schema: SchemaConfig) -> tuple[dt.date, dt.datetime]:
    """The last night whose labels have matured by `night`, and the end of it (answers before it may be
    labelled)."""
    labelled = night - dt.timedelta(days=schema.label_delay_days)
    return labelled, night_bounds(labelled, 1)[1]


def naive_utc(iso: str) -> dt.datetime:
    """An ISO time (with or without an offset) as naive UTC."""
    at = dt.datetime.fromisoformat(iso)
    return at.astimezone(dt.UTC).replace(tzinfo=None) if at.tzinfo else at
