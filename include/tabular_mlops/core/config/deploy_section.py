"""The `deploy` section: how a gated challenger is proven in production (shadow, canary, A/B test, bandit) and
the figures each strategy is judged by. Strategy `champion` (the default) is the blue-green swap of before."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal, get_args

from pydantic import Field, Strict, StrictBool, model_validator
from pydantic.dataclasses import dataclass

from tabular_mlops.core.config.fields import (
    _STRICT,
    Count,
    OpenFraction,
    Positive,
    Seed,
    Text,
    UpToOne,
    _raise_if,
)

Strategy = Literal["champion", "shadow", "canary", "ab_test", "bandit"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)
# Per-row losses the paired shadow comparison and the A/B test can use (lower is better), and the label itself.
ShadowLoss = Literal["log_loss", "brier"]
AbMetric = Literal["log_loss", "brier", "positive_label"]
AB_LOWER_IS_BETTER = ("log_loss", "brier")
NonNegative = Annotated[float, Strict(), Field(ge=0)]


@dataclass(frozen=True, config=_STRICT)
class ShadowConfig:
    """The challenger scores `fraction` of requests off the critical path; an answer later than `timeout_ms` is
    abandoned (never waited for). `nights` of paired comparison before the next step."""

    fraction: UpToOne = 1.0
    """Share of requests the challenger also scores in shadow (sticky per entity id)."""
    nights: Count = 3
    """Nights of paired shadow comparison before the next deploy step."""
    loss: ShadowLoss = "log_loss"
    """Per-row loss of the paired comparison once labels mature (lower is better)."""
    timeout_ms: Positive = 1000.0
    """A shadow answer ready later than this after its request is abandoned, never logged."""
    batch_ms: Positive = 20.0
    """Shadow rows are gathered this long and scored in one model call off the critical path (cheaper for
    the primary than a call per request)."""
    max_queued_rows: Count = 5000
    """Rows waiting for the shadow model beyond this are dropped (counted): a hung challenger never grows memory."""


@dataclass(frozen=True, config=_STRICT)
class SequentialConfig:
    """The pre-registered always-valid test (stats/sequential.py): error rate, non-inferiority margin (0 =
    superiority), largest sample, mixture scale, and the burn-in before any verdict."""

    alpha: OpenFraction = 0.05
    """Error rate of the always-valid test, whatever the number of looks."""
    margin: NonNegative = 0.0
    """Non-inferiority margin on the metric's scale; 0 tests superiority."""
    max_samples: Count = 20_000
    """Largest sample (pairs, or rows of the smaller arm); reached without a verdict: no winner."""
    mixture_sd: Positive = 0.01
    """Scale of the normal mixture: the effect size the test is most sensitive to."""
    min_samples: Count = 100
    """No verdict before this many samples (the variance is estimated)."""

    @model_validator(mode="after")
    def _burn_in_below_max(self) -> SequentialConfig:
        if self.min_samples > self.max_samples:
            _raise_if(
                [
                    (
                        "min_samples",
                        f"must be <= deploy.sequential.max_samples {self.max_samples} (got {self.min_samples})",
                    )
                ]
            )
        return self


@dataclass(frozen=True, config=_STRICT)
class CanaryGuardConfig:
    """Rollback rules over a sliding window (stats/canary_guard.py), judged every `check_seconds`."""

    window_seconds: Positive = 3600.0
    """The sliding window of answers the guard judges."""
    max_error_rate: Annotated[float, Strict(), Field(ge=0, lt=1)] = 0.02
    """Roll back above this share of the canary's answers that failed (fallbacks)."""
    min_requests: Count = 200
    """Canary answers in the window before the error rate is judged."""
    max_p99_latency_ms: Positive = 250.0
    """Roll back above this p99 latency of the canary's answers."""
    min_latencies: Count = 200
    """Canary answers in the window before the p99 latency is judged."""
    max_score_psi: Positive = 0.2
    """Roll back above this PSI of the canary's scores against the champion's in the window."""
    min_scores: Annotated[int, Strict(), Field(ge=2)] = 500
    """Scores on each side before the PSI is judged."""
    check_seconds: Annotated[float, Strict(), Field(ge=0.05, le=3600)] = 5.0
    """How often the service judges the window."""


@dataclass(frozen=True, config=_STRICT)
class CanaryConfig:
    share: OpenFraction = 0.05
    """Share of entity ids the challenger answers (sticky by hash)."""
    guard: CanaryGuardConfig = dataclasses.field(default_factory=CanaryGuardConfig)
    """Rules that roll the canary back by themselves."""


@dataclass(frozen=True, config=_STRICT)
class AbTestConfig:
    """A fixed split: `share` of entities to the challenger; the nightly test compares `metric` per row."""

    share: OpenFraction = 0.5
    """Share of entity ids the challenger answers in the fixed split."""
    metric: AbMetric = "log_loss"
    """The pre-registered per-row metric the nightly test compares."""
    higher_is_better: StrictBool = False
    """Direction of the metric (false for a loss)."""

    @model_validator(mode="after")
    def _losses_are_lower_is_better(self) -> AbTestConfig:
        if self.metric in AB_LOWER_IS_BETTER and self.higher_is_better:
            _raise_if([("higher_is_better", f"must be false for a loss ({self.metric}: lower is better)")])
        return self


@dataclass(frozen=True, config=_STRICT)
class BanditSection:
    """Thompson sampling over the live versions (stats/bandit.py): bernoulli for a 0/1 reward per row, gaussian
    for a per-row value; `floor` per arm, posterior `draws`, smallest applied move, seed."""

    reward: Literal["bernoulli", "gaussian"] = "bernoulli"
    """Reward of an answer once its label matured: bernoulli = 1 when its decision was right (Beta posterior);
    gaussian = its business value, from `business_value` (Normal-Inverse-Gamma posterior)."""
    floor: Annotated[float, Strict(), Field(ge=0, le=0.5)] = 0.05
    """Least traffic share per arm, so no version starves of labels."""
    draws: Annotated[int, Strict(), Field(ge=100)] = 10_000
    """Posterior draws per update."""
    min_change: Annotated[float, Strict(), Field(ge=0, lt=1)] = 0.01
    """Smaller moves of allocation are not applied (no churn in routing)."""
    seed: Seed = 0
    """Seed of the draws: the same rewards give the same allocation."""


@dataclass(frozen=True, config=_STRICT)
class DeployConfig:
    """Which strategy the service starts with (switchable at run time through POST /admin/strategy), whether the
    gate hands a challenger to the deploy DAG instead of promoting it, and the salt of sticky routing."""

    strategy: Strategy = "champion"
    """Strategy at start: champion, shadow, canary, ab_test or bandit (POST /admin/strategy switches it)."""
    require_proof: StrictBool = False
    """True: the gate hands an accepted challenger to the deploy DAG instead of promoting it."""
    routing_salt: Text = "deploy-1"
    """Salt of sticky routing; a new salt reshuffles who sees the challenger."""
    shadow: ShadowConfig = dataclasses.field(default_factory=ShadowConfig)
    """The shadow strategy."""
    sequential: SequentialConfig = dataclasses.field(default_factory=SequentialConfig)
    """The always-valid test of the nightly comparison."""
    canary: CanaryConfig = dataclasses.field(default_factory=CanaryConfig)
    """The canary strategy."""
    ab_test: AbTestConfig = dataclasses.field(default_factory=AbTestConfig)
    """The A/B test strategy."""
    bandit: BanditSection = dataclasses.field(default_factory=BanditSection)
    """The bandit strategy."""
