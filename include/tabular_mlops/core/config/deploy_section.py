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
    nights: Count = 3
    loss: ShadowLoss = "log_loss"
    timeout_ms: Positive = 1000.0


@dataclass(frozen=True, config=_STRICT)
class SequentialConfig:
    """The pre-registered always-valid test (stats/sequential.py): error rate, non-inferiority margin (0 =
    superiority), largest sample, mixture scale, and the burn-in before any verdict."""

    alpha: OpenFraction = 0.05
    margin: NonNegative = 0.0
    max_samples: Count = 20_000
    mixture_sd: Positive = 0.01
    min_samples: Count = 100

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
    max_error_rate: Annotated[float, Strict(), Field(ge=0, lt=1)] = 0.02
    min_requests: Count = 200
    max_p99_latency_ms: Positive = 250.0
    min_latencies: Count = 200
    max_score_psi: Positive = 0.2
    min_scores: Annotated[int, Strict(), Field(ge=2)] = 500
    check_seconds: Annotated[float, Strict(), Field(ge=0.05, le=3600)] = 5.0


@dataclass(frozen=True, config=_STRICT)
class CanaryConfig:
    share: OpenFraction = 0.05
    guard: CanaryGuardConfig = dataclasses.field(default_factory=CanaryGuardConfig)


@dataclass(frozen=True, config=_STRICT)
class AbTestConfig:
    """A fixed split: `share` of entities to the challenger; the nightly test compares `metric` per row."""

    share: OpenFraction = 0.5
    metric: AbMetric = "log_loss"
    higher_is_better: StrictBool = False

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
    floor: Annotated[float, Strict(), Field(ge=0, le=0.5)] = 0.05
    draws: Annotated[int, Strict(), Field(ge=100)] = 10_000
    min_change: Annotated[float, Strict(), Field(ge=0, lt=1)] = 0.01
    seed: Seed = 0


@dataclass(frozen=True, config=_STRICT)
class DeployConfig:
    """Which strategy the service starts with (switchable at run time through POST /admin/strategy), whether the
    gate hands a challenger to the deploy DAG instead of promoting it, and the salt of sticky routing."""

    strategy: Strategy = "champion"
    require_proof: StrictBool = False
    # A new salt reshuffles which entities see the challenger (a new experiment); keep it for one experiment.
    routing_salt: Text = "deploy-1"
    shadow: ShadowConfig = dataclasses.field(default_factory=ShadowConfig)
    sequential: SequentialConfig = dataclasses.field(default_factory=SequentialConfig)
    canary: CanaryConfig = dataclasses.field(default_factory=CanaryConfig)
    ab_test: AbTestConfig = dataclasses.field(default_factory=AbTestConfig)
    bandit: BanditSection = dataclasses.field(default_factory=BanditSection)
