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
    """sklearn's HistGradientBoostingClassifier."""
    learning_rate: NotRequired[UpToOne]
    """Shrinkage of each tree's contribution."""
    max_iter: NotRequired[Count]
    """Boosting iterations (trees)."""
    max_depth: NotRequired[Count | None]
    """Depth limit of each tree (null: none)."""
    max_leaf_nodes: NotRequired[Annotated[int, Strict(), Field(ge=2)] | None]
    """Leaves per tree (null: none)."""
    min_samples_leaf: NotRequired[Count]
    """Fewest training rows in a leaf."""
    l2_regularization: NotRequired[Annotated[float, Strict(), Field(ge=0)]]
    """L2 penalty on the leaves' values."""
    max_features: NotRequired[UpToOne]
    """Share of features considered at each split."""
    class_weight: NotRequired[Literal["balanced"] | None]
    """`balanced` weights the classes by their inverse frequency (null: equal)."""


@with_config(_STRICT)
class LogisticRegressionCandidate(TypedDict):
    """sklearn LogisticRegression (L2); omitted keys keep sklearn's defaults."""

    model: Literal["logistic_regression"]
    """sklearn's LogisticRegression (L2), on standardised numeric features."""
    C: NotRequired[Positive]
    """Inverse of the L2 regularisation strength."""
    max_iter: NotRequired[Count]
    """Iterations of the solver."""
    class_weight: NotRequired[Literal["balanced"] | None]
    """`balanced` weights the classes by their inverse frequency (null: equal)."""


@with_config(_STRICT)
class RandomForestCandidate(TypedDict):
    """sklearn RandomForestClassifier; omitted keys keep sklearn's defaults."""

    model: Literal["random_forest"]
    """sklearn's RandomForestClassifier."""
    n_estimators: NotRequired[Count]
    """Trees in the forest."""
    max_depth: NotRequired[Count | None]
    """Depth limit of each tree (null: none)."""
    min_samples_leaf: NotRequired[Count]
    """Fewest training rows in a leaf."""
    max_features: NotRequired[UpToOne]
    """Share of features considered at each split."""
    class_weight: NotRequired[Literal["balanced", "balanced_subsample"] | None]
    """`balanced` or `balanced_subsample` weight the classes by their inverse frequency (null: equal)."""


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
    """Seed of the estimators, the row budget's sample and the permutation importance."""
    search_space: Annotated[tuple[Candidate, ...], Field(min_length=1)]
    """The candidates, each an MLflow child run: `model` names the estimator, the other keys are its
    hyperparameters (omitted ones keep sklearn's defaults)."""
    selection_metric: Word
    """The validation metric that picks the winner, highest wins: roc_auc, pr_auc, precision, recall,
    f1 or brier_skill."""
    max_rows: Count | None = None
    """Row budget of the candidate search, sampled per day and label (null: every row of the training
    part)."""
    refit_on: Literal["window", "budget"] = "window"
    """What the winner is refitted on: the whole training part (`window`) or the budgeted sample
    (`budget`)."""

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
    """`fixed` (value), `target_flag_rate` (rate) or `cost_ratio` (false_negative_cost,
    false_positive_cost)."""
    value: OpenFraction | None = None
    """The `fixed` rule's threshold, the same for every model version."""
    rate: OpenFraction | None = None
    """The `target_flag_rate` rule: the share of validation rows that get decision 1."""
    false_negative_cost: Positive | None = None
    """The `cost_ratio` rule: the cost of a missed positive."""
    false_positive_cost: Positive | None = None
    """The `cost_ratio` rule: the cost of a false alarm."""

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
    decision_threshold: Annotated[ThresholdRule, BeforeValidator(_threshold_shorthand)]
    """Score >= threshold gives decision 1 (serving.high_risk_decision); a bare number is short for
    {rule: fixed, value: <number>}."""


@dataclass(frozen=True, config=_STRICT)
class GateConfig:
    min_roc_auc: Share
    """Lowest holdout ROC AUC a challenger may have; also the matured-label ROC AUC below which
    monitoring retrains."""
    min_pr_auc: Share
    """Lowest holdout PR AUC a challenger may have."""
    min_brier_skill: Annotated[float, Strict(), Field(ge=0, lt=1)]
    """Lowest Brier skill score on the holdout against always predicting its base rate (0: no better
    than that), so it means the same at any base rate, where an absolute Brier fits one only."""
    champion_margin: Share
    """How much worse than the champion, on comparison_metric and the same holdout days, a challenger
    may be."""
    comparison_metric: Metric
    """The metric of the champion comparison (brier and log_loss: lower is better)."""
    latency_p95_ms: Positive
    """Budget for the p95 single-row scoring time, as the scoring thread's CPU time."""
    latency_samples: Count
    """Single-row calls the latency test times."""


@dataclass(frozen=True, config=_STRICT)
class RegistryConfig:
    model_name: Text
    """The MLflow registered model; its aliases are champion, challenger and previous_champion."""
    experiment_name: Text
    """The MLflow experiment of the training runs."""


# --------------------------------------------------------------------------- monitoring
