"""The bandit's nightly update (issue 25): the service routes by the Thompson-sampling weights stored in the deploy
log's bandit state and re-reads them every `canary.guard.check_seconds`; every night the rewards of its arms'
answers whose labels matured since the last update are fed to the bandit (stats/bandit.py), the new state is
saved and every applied move of the allocation is recorded (deploy log, the challenger's version tags, the run
note). The reward per row is its business value where params.yaml sets `business_value` (`deploy.bandit.reward:
gaussian`), else 1 when the decision was right (`bernoulli`: a flagged row was positive, an unflagged one was
not). Rewards are fed once: each update records the last label night it fed, and the next starts after it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa
from numpy.typing import NDArray

from tabular_mlops.core.config import BusinessValueConfig, SchemaConfig
from tabular_mlops.core.contracts import LogColumn, Tag
from tabular_mlops.monitoring.night_estimate import cell_values
from tabular_mlops.monitoring.split_window import LiveSplit, label_horizon
from tabular_mlops.stats.bandit import AllocationChange, BanditState, RewardKind, update_bandit
from tabular_mlops.stats.business_value import CellValues, row_values
from tabular_mlops.stats.records import JsonRecord
from tabular_mlops.store import prediction_log
from tabular_mlops.store.deploy_log import BANDIT_ALLOCATION, BANDIT_UPDATE, DeployEvent, DeployLog

BANDIT = "bandit"


@dataclass(frozen=True)
class BanditNight(JsonRecord):
    """A night's update: the label nights fed, the reward, rows and mean reward per arm, the weights before and
    after, and the allocation change (None when the move was below `min_change` or nothing was fed)."""

    night: str
    rewards_from: str
    rewards_through: str
    reward: str
    rows: dict[str, int]
    means: dict[str, float | None]
    before: dict[str, float]
    after: dict[str, float]
    change: AllocationChange | None
    summary: str


def reward_name(kind: RewardKind, business_value: BusinessValueConfig) -> str:
    if kind is RewardKind.GAUSSIAN:
        return f"business value per row ({business_value.unit})"
    return "decision right (1) or wrong (0)"


def rewards_of(rows: pd.DataFrame, kind: RewardKind, values: CellValues | None) -> NDArray:
    """Each matured row's reward: its business value (gaussian), or whether its decision was right (bernoulli)."""
    labels = rows[LogColumn.LABEL].to_numpy(float)
    decisions = rows[LogColumn.DECISION].to_numpy(float)
    if kind is RewardKind.BERNOULLI:
        return (decisions == labels).astype(float)
    if values is None:
        raise ValueError(
            "deploy.bandit.reward is gaussian (business value per row) but business_value is not set in "
            "params.yaml: set its four cells, or use reward: bernoulli"
        )
    return row_values(decisions, labels, values)


def last_fed(log: DeployLog, model_name: str, split: LiveSplit) -> dt.date | None:
    """The last label night an update of this bandit fed (since it began), None before the first."""
    for event in log.history(model_name, limit=10_000, events=(BANDIT_UPDATE, BANDIT_ALLOCATION)):
        through = event.detail.get("rewards_through")
        if through and event.detail.get("since") == split.began:
            return dt.date.fromisoformat(through)
    return None


def feed_night(
    state: BanditState, rows: pd.DataFrame, values: CellValues | None, at: str
) -> tuple[BanditState, AllocationChange | None, dict[str, int], dict[str, float | None]]:
    """The bandit after the matured rewards of `rows` (per arm), with the rows and mean reward per arm."""
    matured = rows[rows[LogColumn.LABEL].notna()]
    rewards: dict[str, NDArray] = {}
    for arm in state.weights:
        mine = matured[matured[LogColumn.MODEL_VERSION] == arm]
        rewards[arm] = rewards_of(mine, state.config.reward, values)
    new, change = update_bandit(state, rewards, at)
    counts = {a: int(r.size) for a, r in rewards.items()}
    means = {a: float(r.mean()) if r.size else None for a, r in rewards.items()}
    return new, change, counts, means


def _summary(kind: str, counts: dict[str, int], means: dict[str, float | None], before: dict[str, float],
             after: dict[str, float], change: AllocationChange | None, span: str) -> str:  # fmt: skip
    arms = "; ".join(
        f"v{a}: {counts.get(a, 0):,} rows, mean {'n/a' if means.get(a) is None else f'{means[a]:.4g}'}, "
        f"weight {before[a]:.3f} -> {after[a]:.3f}"
        for a in after
    )
    why = change.reason if change else "largest move below deploy.bandit.min_change: weights kept"
    return f"{kind} of the answers of {span}: {arms}; {why}"


def bandit_step(
    model_name: str,
    schema: SchemaConfig,
    business_value: BusinessValueConfig,
    log_engine: sa.Engine,
    night: dt.date,
    split: LiveSplit,
    actor: str,
) -> tuple[BanditNight | None, str]:
    """Feed the rewards matured since the last update, save the state the service reads, record the update.
    None (with why) when there is no bandit state for these two versions yet (the service starts it on its
    switch to bandit) or nothing new has matured."""
    from mlflow import MlflowClient

    log = DeployLog(log_engine)
    stored = log.bandit_state(model_name)
    arms = {split.champion, split.challenger}
    if stored is None or set(BanditState.from_dict(stored).weights) != arms:
        return (
            None,
            f"no bandit state over v{split.champion} and v{split.challenger} yet: the service starts it",
        )
    state = BanditState.from_dict(stored)
    labels_through, horizon = label_horizon(night, schema)
    fed = last_fed(log, model_name, split)
    first = (
        split.since
        if fed is None
        else max(split.since, dt.datetime.combine(fed + dt.timedelta(days=1), dt.time()))
    )
    if first >= horizon:
        return None, f"no answers of the bandit (since {split.began}) have matured since the last update"
    rows = prediction_log.read_arms(log_engine, schema, first, horizon, sorted(arms))
    at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    values = cell_values(business_value)
    new, change, counts, means = feed_night(state, rows, values, at)
    span = f"{first.date()} to {labels_through}"
    kind = reward_name(state.config.reward, business_value)
    summary = _summary(kind, counts, means, state.weights, new.weights, change, span)
    result = BanditNight(night.isoformat(), first.date().isoformat(), labels_through.isoformat(), kind, counts,
                         means, state.weights, new.weights, change, summary)  # fmt: skip
    log.save_bandit_state(model_name, new.to_dict(), dt.datetime.now(dt.UTC))
    detail = {**result.to_dict(), "since": split.began}
    event = BANDIT_ALLOCATION if change is not None else BANDIT_UPDATE
    log.record(DeployEvent(at, model_name, event, BANDIT, BANDIT, actor, split.champion, split.challenger,
                           summary[:4000], detail))  # fmt: skip
    client = MlflowClient()
    client.set_model_version_tag(model_name, split.challenger, Tag.BANDIT_WEIGHTS, json.dumps(new.weights))
    client.set_model_version_tag(
        model_name, split.challenger, Tag.BANDIT_LAST_UPDATE, f"{night}: {summary}"[:4900]
    )
    return result, summary
