"""Sections of the model side: train (the search space), evaluate (the threshold rule), gate, registry."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired, get_args, get_type_hints

from pydantic import (
    BeforeValidator,
    Field,
    Strict,
    field_validator,
    model_validator,
    with_config,
)
from pydantic.dataclasses import dataclass
from typing_extensions import TypedDict, is_typeddict

from tabular_mlops.core.config.fields import (
    _STRICT,
    LOWER_IS_BETTER,
    METRICS,
    Count,
    Metric,
    OpenFraction,
    Positive,
    Seed,
    Share,
    Text,
    UpToOne,
    Word,
    _raise_if,
)


@with_config(_STRICT)
class HistGradientBoostingCandidate(TypedDict):
    """sklearn HistGradientBoostingClassifier; omitted keys keep sklearn's defaults."""

    model: Literal["hist_gradient_boosting"]
    learning_rate: NotRequired[UpToOne]
    max_iter: NotRequired[Count]
    max_depth: NotRequired[Count | None]
    max_leaf_nodes: NotRequired[Annotated[int, Strict(), Field(ge=2)] | None]
    min_samples_leaf: NotRequired[Count]
    l2_regularization: NotRequired[Annotated[float, Strict(), Field(ge=0)]]
    max_features: NotRequired[UpToOne]
    class_weight: NotRequired[Literal["balanced"] | None]


@with_config(_STRICT)
class LogisticRegressionCandidate(TypedDict):
    """sklearn LogisticRegression (L2); omitted keys keep sklearn's defaults."""

    model: Literal["logistic_regression"]
    C: NotRequired[Positive]
    max_iter: NotRequired[Count]
    class_weight: NotRequired[Literal["balanced"] | None]


@with_config(_STRICT)
class RandomForestCandidate(TypedDict):
    """sklearn RandomForestClassifier; omitted keys keep sklearn's defaults."""

    model: Literal["random_forest"]
    n_estimators: NotRequired[Count]
    max_depth: NotRequired[Count | None]
    min_samples_leaf: NotRequired[Count]
    max_features: NotRequired[UpToOne]
    class_weight: NotRequired[Literal["balanced", "balanced_subsample"] | None]


Candidate = Annotated[
    HistGradientBoostingCandidate | LogisticRegressionCandidate | RandomForestCandidate,
    Field(discriminator="model"),
]


def _estimator(candidate: Any) -> str:
    """The `model` tag of a candidate type ("" for any other type)."""
    hints = get_type_hints(candidate) if is_typeddict(candidate) else {}
    return get_args(hints["model"])[0] if "model" in hints else ""


ESTIMATORS: tuple[str, ...] = tuple(
    _estimator(c) for c in (HistGradientBoostingCandidate, LogisticRegressionCandidate, RandomForestCandidate)
)


@dataclass(frozen=True, config=_STRICT)
class TrainConfig:
    seed: Seed
    # Each candidate is a plain dict: `model` names the estimator, the other keys are its hyperparameters.
    search_space: Annotated[tuple[Candidate, ...], Field(min_length=1)]
    selection_metric: Word
    # Row budget of the candidate search (None: the whole training part), sampled per day and label.
    max_rows: Count | None = None
    # What the winner is refitted on: the whole training part (`window`) or the same budgeted sample (`budget`).
    refit_on: Literal["window", "budget"] = "window"

    @field_validator("selection_metric")
    @classmethod
    def _higher_is_better(cls, value: str) -> str:
        allowed = [m for m in METRICS if m not in LOWER_IS_BETTER]
        if value not in allowed:
            raise ValueError(
                f"must be one of {', '.join(allowed)} (the best candidate has the highest value) (got {value!r})"
            )
        return value


ThresholdRuleName = Literal["fixed", "target_flag_rate", "cost_ratio"]
# The keys each threshold rule takes (all required), besides `rule`.
THRESHOLD_RULE_KEYS: dict[str, tuple[str, ...]] = {
    "fixed": ("value",),
    "target_flag_rate": ("rate",),
    "cost_ratio": ("false_negative_cost", "false_positive_cost"),
}


def _threshold_shorthand(value: Any) -> Any:
    """A bare number is the `fixed` rule with that value (how params.yaml said it before rules existed)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"rule": "fixed", "value": value}
    return value


@dataclass(frozen=True, config=_STRICT)
class ThresholdRule:
    """How the decision threshold (score >= threshold: decision 1, `serving.high_risk_decision`) is set.

    fixed: `value`, the same for every model version. target_flag_rate: the threshold that gives decision 1 to
    `rate` of the validation rows. cost_ratio: the threshold with the lowest total cost on the validation rows,
    a missed positive costing `false_negative_cost` and a false alarm `false_positive_cost`. The two data rules
    are applied at training, on the best candidate's out-of-sample validation scores, and recorded on the version.
    """

    rule: ThresholdRuleName
    value: OpenFraction | None = None
    rate: OpenFraction | None = None
    false_negative_cost: Positive | None = None
    false_positive_cost: Positive | None = None

    @model_validator(mode="after")
    def _keys_of_the_rule(self) -> ThresholdRule:
        wanted = THRESHOLD_RULE_KEYS[self.rule]
        problems = [(k, f"required by rule {self.rule}") for k in wanted if getattr(self, k) is None]
        problems += [
            (k, f"not used by rule {self.rule} (it takes {', '.join(wanted)})")
            for keys in THRESHOLD_RULE_KEYS.values()
            for k in keys
            if k not in wanted and getattr(self, k) is not None
        ]
        _raise_if(problems)
        return self

    def describe(self) -> str:
        """The rule in a few words, for reasons and the model card."""
        if self.rule == "fixed":
            return f"fixed {self.value}"
        if self.rule == "target_flag_rate":
            return f"decision 1 for {self.rate:.1%} of the validation rows"
        return (
            f"lowest cost on the validation rows (false negative {self.false_negative_cost:g}, "
            f"false positive {self.false_positive_cost:g})"
        )


@dataclass(frozen=True, config=_STRICT)
class EvaluateConfig:
    # A number is shorthand for {rule: fixed, value: <number>}.
    decision_threshold: Annotated[ThresholdRule, BeforeValidator(_threshold_shorthand)]


@dataclass(frozen=True, config=_STRICT)
class GateConfig:
    min_roc_auc: Share
    min_pr_auc: Share
    # Brier skill score against the base rate of the holdout (1 - brier / brier of always predicting that rate):
    # 0 = no better than the base rate, whatever the rate is. An absolute Brier only fits one base rate.
    min_brier_skill: Annotated[float, Strict(), Field(ge=0, lt=1)]
    # The challenger may be at most this much worse than the champion on comparison_metric.
    champion_margin: Share
    comparison_metric: Metric
    latency_p95_ms: Positive
    latency_samples: Count


@dataclass(frozen=True, config=_STRICT)
class RegistryConfig:
    model_name: Text
    experiment_name: Text


# --------------------------------------------------------------------------- monitoring
