"""The verdict of one rollout step (deploy_model, issue 25): a challenger handed over by the gate goes shadow ->
canary -> full, one step a night at most, and the alias moves only when every check passes.

In shadow: the nightly paired comparisons with the champion (shadow_analysis) must cover `deploy.shadow.nights`
nights, the challenger's scores must stay close to the champion's (score PSI within the canary guard's
`max_score_psi`), and the always-valid test must not find it worse. In canary: the challenger's own online answers
in the log are judged by the canary guard's rules (stats/canary_guard: error rate, p99 latency, score PSI against
the champion's answers of the same nights) after at least one whole night, and the alias moves to it only once
the test has declared it better (or not worse by the margin). Any failed check rolls it back; a check short of
data waits.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from tabular_mlops.core.config import DeployConfig
from tabular_mlops.core.contracts import RolloutStage
from tabular_mlops.monitoring.results import ShadowComparison
from tabular_mlops.stats.canary_guard import GuardAction, GuardVerdict
from tabular_mlops.stats.records import JsonRecord
from tabular_mlops.stats.sequential import SequentialResult, Verdict

# Verdicts of the sequential test that prove the challenger, and those that end its rollout.
PROVEN = (Verdict.CHALLENGER_BETTER, Verdict.CHALLENGER_NON_INFERIOR)
DISPROVEN = (Verdict.CHALLENGER_WORSE, Verdict.STOPPED_NO_WINNER)


class StepAction(enum.StrEnum):
    START = "start"  # shadow begins
    WAIT = "wait"  # a check is short of data: the stage goes on
    ADVANCE = "advance"  # shadow -> canary
    PROMOTE = "promote"  # canary -> full: the champion alias moves
    ROLLBACK = "rollback"  # a check failed: the challenger leaves, the champion stays


@dataclass(frozen=True)
class RolloutCheck(JsonRecord):
    """One check of a step: passed, failed, or None while it lacks data; its figure and why."""

    name: str
    passed: bool | None
    reason: str


@dataclass(frozen=True)
class RolloutStep(JsonRecord):
    """A night's step for one challenger: the stage it was in, what was done, the stage it is in now."""

    night: str
    champion_version: str
    challenger_version: str
    stage: str
    action: StepAction
    next_stage: str
    checks: tuple[RolloutCheck, ...] = ()

    @property
    def summary(self) -> str:
        failed = [c.reason for c in self.checks if c.passed is False]
        waiting = [c.reason for c in self.checks if c.passed is None]
        shown = failed or waiting or [c.reason for c in self.checks]
        return f"{self.stage} {self.action}: " + "; ".join(shown)


def _test_check(test: SequentialResult | None, required: bool) -> RolloutCheck:
    """The always-valid test: never disproven; when `required`, proven."""
    if test is None:
        return RolloutCheck("sequential_test", None if required else True, "no matured paired labels yet")
    reason = f"test {test.verdict}: {test.reasons[0] if test.reasons else ''}"
    if test.verdict in DISPROVEN:
        return RolloutCheck("sequential_test", False, reason)
    if required and test.verdict not in PROVEN:
        return RolloutCheck("sequential_test", None, reason)
    return RolloutCheck("sequential_test", True, reason)


def shadow_checks(comparisons: Sequence[ShadowComparison], deploy: DeployConfig) -> tuple[RolloutCheck, ...]:
    """The shadow stage's checks on the nightly comparisons since it began (oldest first)."""
    compared = [c for c in comparisons if c.recent is not None and c.recent.rows > 0]
    need = deploy.shadow.nights
    nights = RolloutCheck(
        "shadow_nights",
        True if len(compared) >= need else None,
        f"{len(compared)} of {need} nights compared in shadow",
    )
    if not compared:
        return (nights,)
    latest = compared[-1].recent
    assert latest is not None
    limit = deploy.canary.guard.max_score_psi
    psi = latest.score_psi
    agreement = (
        "" if latest.decision_agreement is None else f", decision agreement {latest.decision_agreement:.1%}"
    )
    alike = RolloutCheck(
        "score_psi",
        None if psi is None else psi <= limit,
        f"score PSI against the champion {psi if psi is None else round(psi, 4)} (limit {limit:g}) on "
        f"{latest.rows} pairs{agreement}",
    )
    return nights, alike, _test_check(comparisons[-1].test, required=False)


def canary_checks(
    guard: GuardVerdict, nights_in_canary: int, test: SequentialResult | None
) -> tuple[RolloutCheck, ...]:
    """The canary stage's checks: the guard on its answers, a whole night of them, the test proven."""
    judged = RolloutCheck(
        "canary_guard",
        {GuardAction.HEALTHY: True, GuardAction.ROLLBACK: False}.get(guard.action),
        "; ".join(guard.reasons),
    )
    night = RolloutCheck(
        "canary_nights", True if nights_in_canary >= 1 else None, f"{nights_in_canary} whole nights in canary"
    )
    return judged, night, _test_check(test, required=True)


def step_action(stage: str, checks: Sequence[RolloutCheck]) -> tuple[StepAction, str]:
    """The action and the next stage from a stage's checks: any failure rolls back, any check short of data
    waits, all passed moves on."""
    if any(c.passed is False for c in checks):
        return StepAction.ROLLBACK, RolloutStage.ROLLED_BACK
    if any(c.passed is None for c in checks):
        return StepAction.WAIT, stage
    if stage == RolloutStage.SHADOW:
        return StepAction.ADVANCE, RolloutStage.CANARY
    return StepAction.PROMOTE, RolloutStage.FULL
