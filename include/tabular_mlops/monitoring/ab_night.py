"""The nightly decision of an A/B test (issue 25): the service splits applications between the champion and the
challenger (`deploy.ab_test.share`, sticky per id); every night the answers whose labels matured since the split
began are compared on the pre-registered per-row metric (`deploy.ab_test.metric`) with the always-valid test of
`deploy.sequential` (stats/sequential.py: safe to look at every night, two-sample form), carried from night to
night in the deploy log. Its verdict is acted on through deploy_model's own path (rollout_night.carry_out):
better (or not worse by the margin) promotes the challenger inside the promotion lock; worse, or the maximum
sample reached without a winner, rolls back to the champion alone; otherwise the split goes on. Verdict and
figures go on the challenger's version tags, into the deploy log and into the run's note.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa
from numpy.typing import NDArray

from tabular_mlops.core.config import AbTestConfig, DeployConfig, SchemaConfig
from tabular_mlops.core.contracts import LogColumn, Tag
from tabular_mlops.monitoring.rollout_night import CHAMPION_ONLY, ScoringServiceControl, carry_out
from tabular_mlops.monitoring.rollout_verdict import (
    DISPROVEN,
    PROVEN,
    RolloutCheck,
    RolloutStep,
    StepAction,
    step_action,
)
from tabular_mlops.monitoring.shadow_analysis import sequential_design
from tabular_mlops.monitoring.split_window import LiveSplit, label_horizon
from tabular_mlops.stats.paired import per_row_loss
from tabular_mlops.stats.records import JsonRecord
from tabular_mlops.stats.sequential import SequentialResult, two_sample_look, update
from tabular_mlops.store import prediction_log
from tabular_mlops.store.deploy_log import AB_TEST_NIGHT, DeployEvent, DeployLog

AB_TEST = "ab_test"


@dataclass(frozen=True)
class ArmFigures(JsonRecord):
    """One arm of the split: its version, its answers since the split began up to the label horizon, those with
    a matured label and a score (the test's rows), and the metric's mean over them."""

    version: str
    answered: int
    matured: int
    mean: float | None


@dataclass(frozen=True)
class AbNight(JsonRecord):
    """A night's A/B evidence and the test after it."""

    night: str
    metric: str
    since: str
    labels_through: str
    champion: ArmFigures
    challenger: ArmFigures
    test: SequentialResult

    @property
    def figures(self) -> str:
        a, b = self.champion, self.challenger
        return (
            f"{self.metric} per row: champion v{a.version} {_mean(a)} on {a.matured:,} matured rows, challenger "
            f"v{b.version} {_mean(b)} on {b.matured:,} (answers since {self.since}, labels through "
            f"{self.labels_through})"
        )


def _mean(arm: ArmFigures) -> str:
    return "n/a" if arm.mean is None else f"{arm.mean:.4g}"


def metric_per_row(metric: str, labels: NDArray, scores: NDArray) -> NDArray:
    """The pre-registered per-row metric: log loss or Brier of the score, or the label itself."""
    if metric == "positive_label":
        return np.asarray(labels, float)
    if metric in ("log_loss", "brier"):
        return per_row_loss(labels, scores, "log_loss" if metric == "log_loss" else "brier")
    raise ValueError(f"deploy.ab_test.metric: unknown metric {metric!r}")


def arm_values(rows: pd.DataFrame, version: str, metric: str) -> tuple[ArmFigures, NDArray]:
    """One arm's figures and its per-row metric on the rows with a matured label and a score."""
    mine = rows[rows[LogColumn.MODEL_VERSION] == version]
    done = mine[mine[LogColumn.LABEL].notna() & mine[LogColumn.SCORE].notna()]
    values = metric_per_row(
        metric, done[LogColumn.LABEL].to_numpy(float), done[LogColumn.SCORE].to_numpy(float)
    )
    mean = float(values.mean()) if values.size else None
    return ArmFigures(version, len(mine), int(values.size), mean), values


def judge_ab(
    rows: pd.DataFrame,
    split: LiveSplit,
    ab: AbTestConfig,
    deploy: DeployConfig,
    night: dt.date,
    labels_through: dt.date,
    previous: SequentialResult | None,
) -> AbNight:
    """The test after tonight's look at every matured answer of both arms since the split began."""
    champion, a = arm_values(rows, split.champion, ab.metric)
    challenger, b = arm_values(rows, split.challenger, ab.metric)
    look = two_sample_look(a, b, higher_is_better=ab.higher_is_better)
    test = update(sequential_design(deploy), previous, look)
    return AbNight(
        night.isoformat(), ab.metric, split.began, labels_through.isoformat(), champion, challenger, test
    )


def ab_check(evidence: AbNight) -> RolloutCheck:
    """The verdict as a rollout check: proven passes (promote), disproven fails (roll back), else waits."""
    test = evidence.test
    p = "" if test.p_value is None else f"; always-valid p = {test.p_value:.3g}"
    reason = f"test {test.verdict}: {test.reasons[0] if test.reasons else ''}{p}; {evidence.figures}"
    passed = True if test.verdict in PROVEN else False if test.verdict in DISPROVEN else None
    return RolloutCheck("ab_test", passed, reason)


def previous_test(
    log: DeployLog, model_name: str, split: LiveSplit, night: dt.date
) -> SequentialResult | None:
    """The test after the last night before `night` of this split (a re-run of a night starts from the one
    before it, as the shadow comparison does)."""
    for event in log.history(model_name, limit=10_000, events=(AB_TEST_NIGHT,)):
        d = event.detail
        same = (event.champion_version, event.challenger_version) == (split.champion, split.challenger)
        if same and d.get("since") == split.began and d.get("night", "") < night.isoformat():
            return AbNight.from_dict(d).test
    return None


def ab_test_step(
    model_name: str,
    schema: SchemaConfig,
    deploy: DeployConfig,
    log_engine: sa.Engine,
    night: dt.date,
    split: LiveSplit,
    service: ScoringServiceControl,
    actor: str,
) -> RolloutStep:
    """Judge tonight's evidence of the split and act on the verdict: record it (deploy log, version tags), then
    promote, roll back or go on through the rollout's own ordering of registry and service."""
    from mlflow import MlflowClient

    labels_through, horizon = label_horizon(night, schema)
    log = DeployLog(log_engine)
    rows = prediction_log.read_arms(
        log_engine, schema, split.since, max(horizon, split.since), (split.champion, split.challenger)
    )
    evidence = judge_ab(
        rows,
        split,
        deploy.ab_test,
        deploy,
        night,
        labels_through,
        previous_test(log, model_name, split, night),
    )
    check = ab_check(evidence)
    action, next_stage = step_action(AB_TEST, (check,))
    step = RolloutStep(
        night.isoformat(), split.champion, split.challenger, AB_TEST, action, next_stage, (check,)
    )
    log.record(
        DeployEvent(
            dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            model_name,
            AB_TEST_NIGHT,
            AB_TEST,
            AB_TEST,
            actor,
            split.champion,
            split.challenger,
            step.summary[:4000],
            evidence.to_dict(),
        )  # fmt: skip
    )
    client = MlflowClient()
    tags = {
        Tag.AB_TEST_VERDICT: str(evidence.test.verdict),
        Tag.AB_TEST_RESULT: json.dumps(evidence.to_dict()),
    }
    for key, value in tags.items():
        client.set_model_version_tag(model_name, split.challenger, key, value[:4900])
    strategy = AB_TEST if action is StepAction.WAIT else CHAMPION_ONLY
    carry_out(client, model_name, step, service, AB_TEST, strategy, log_engine, actor)
    return step
