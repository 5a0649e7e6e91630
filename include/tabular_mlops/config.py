"""params.yaml -> frozen, validated pydantic dataclasses, one per section. Nothing is read at import time.

Every key has a type and a range, cross-field rules live on the section they concern (the ones that need the
schema on `Params`), and unknown keys are errors. `load_params` turns pydantic's errors into one `ConfigError`
that lists every problem as `<file>: <key.path>: <rule> (got <value>)`. Pydantic dataclasses rather than
`BaseModel`s: callers derive variants with `dataclasses.replace`, which validates the new values again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, NotRequired, Union, get_args, get_origin, get_type_hints

import yaml
from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
    with_config,
)
from pydantic.dataclasses import dataclass
from typing_extensions import TypedDict, is_typeddict

FeatureType = Literal["float", "int", "category"]
# How a category column's values are compared: as text, or as whole numbers (integer codes such as state codes).
CategoryValueType = Literal["string", "integer"]
Metric = Literal["roc_auc", "pr_auc", "precision", "recall", "f1", "brier", "brier_skill", "log_loss"]

FEATURE_TYPES: tuple[str, ...] = get_args(FeatureType)
# The names `metrics.classification_metrics` returns; for the ones below a smaller value is better.
METRICS: tuple[str, ...] = get_args(Metric)
LOWER_IS_BETTER = ("brier", "log_loss")
# Drift tests that fit each column type (a KS test on categories or a chi-square on numbers is refused).
TESTS_FOR_TYPE = {"float": ("psi", "ks"), "int": ("psi", "ks"), "category": ("psi", "chi2")}

_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)

Word = Annotated[str, Strict()]
Text = Annotated[str, Strict(), Field(min_length=1)]
Count = Annotated[int, Strict(), Field(ge=1)]
Days = Annotated[int, Strict(), Field(ge=0)]
Seed = Annotated[int, Strict(), Field(ge=0, le=2**32 - 1)]
Number = Annotated[float, Strict()]
Positive = Annotated[float, Strict(), Field(gt=0)]
Share = Annotated[float, Strict(), Field(ge=0, le=1)]
OpenFraction = Annotated[float, Strict(), Field(gt=0, lt=1)]
UpToOne = Annotated[float, Strict(), Field(gt=0, le=1)]


class ConfigError(ValueError):
    """A params.yaml problem; the message names the file, the key path, the rule and the value."""


class _Invalid(ValueError):
    """Rule violations found by one validator, each as (key path relative to the validated object, message)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{key}: {msg}" for key, msg in problems))
        self.problems = problems


def _raise_if(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise _Invalid(problems)


def _iso_date(value: Any) -> Any:
    """A date as `YYYY-MM-DD` text; YAML reads an unquoted date as a `date`, which is accepted too."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise ValueError(f"must be an ISO date YYYY-MM-DD (got {value!r})")


IsoDate = Annotated[str, BeforeValidator(_iso_date)]

_FLIPPED = "YAML reads unquoted yes/no/on/off/true/false as booleans and null/~ as nothing; quote them in params.yaml"


def _not_flipped(value: Any) -> Any:
    """Refuse a value YAML turned into a boolean or nothing: the user meant the text (`yes`, `no`, `on`)."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{value!r} is not a label: {_FLIPPED}")
    return value


# A target label: text or a whole number (a boolean column's labels are written as quoted 'true' / 'false').
Label = Annotated[Union[Annotated[int, Strict()], Text], BeforeValidator(_not_flipped)]  # noqa: UP007


def label_key(value: Any) -> str:
    """How a label and a source value are compared: as text, with 1, 1.0 and '1' alike and booleans as
    'true' / 'false' (a boolean column's labels are written quoted in params.yaml)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        return label_key(value.item())
    text = str(value)
    return text.lower() if text.lower() in ("true", "false") else text


# --------------------------------------------------------------------------- schema


@dataclass(frozen=True, config=_STRICT)
class FeatureSpec:
    """One model input column; in params.yaml its name is the key under `schema.features`."""

    name: Text
    type: FeatureType
    min: Number | None = None
    max: Number | None = None
    nullable: StrictBool = False
    # Category features only: `integer` compares the values as whole numbers (codes such as 86, 93, 33).
    value_type: CategoryValueType = "string"
    categories: tuple[Text | Annotated[int, Strict()], ...] = ()

    @property
    def is_categorical(self) -> bool:
        return self.type == "category"

    @property
    def integer_codes(self) -> bool:
        """A category whose values are whole numbers (compared as integers, stored as Int64)."""
        return self.is_categorical and self.value_type == "integer"

    @field_validator("categories", mode="before")
    @classmethod
    def _categories_of_value_type(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, list | tuple):
            return value
        flipped = [v for v in value if isinstance(v, bool) or v is None]
        if flipped:
            raise ValueError(f"{flipped} are not category names: {_FLIPPED}")
        if info.data.get("value_type") == "integer":
            text = [v for v in value if not isinstance(v, int)]
            if text:
                raise ValueError(f"{text} are not whole numbers, and value_type is integer")
            return tuple(value)
        return tuple(str(v) if isinstance(v, int) else v for v in value)

    @model_validator(mode="after")
    def _consistent(self) -> FeatureSpec:
        problems: list[tuple[str, str]] = []
        if self.is_categorical:
            if not self.categories:
                problems.append(("categories", "a category feature must list its allowed values"))
            duplicated = sorted({c for c in self.categories if self.categories.count(c) > 1})
            if duplicated:
                problems.append(("categories", f"lists {duplicated} more than once"))
            problems += [
                (b, "only numeric features have bounds")
                for b in ("min", "max")
                if getattr(self, b) is not None
            ]
        else:
            if self.value_type != "string":
                problems.append(
                    ("value_type", f"only category features have a value_type (type is {self.type})")
                )
            if self.categories:
                problems.append(
                    ("categories", f"only category features list categories (type is {self.type})")
                )
            if self.min is not None and self.max is not None and self.min > self.max:
                problems.append(("min", f"must be <= max {self.max:g} (got {self.min:g})"))
        _raise_if(problems)
        return self


@dataclass(frozen=True, config=_STRICT)
class SchemaConfig:
    table: Text
    id_column: Text
    timestamp_column: Text
    target_column: Text
    # Ground truth arrives this many days after the application; 0 = labels known at once.
    label_delay_days: Days
    features: Annotated[tuple[FeatureSpec, ...], Field(min_length=1)]
    # The target's raw values: positive_label is mapped to 1 and each negative label to 0 at extraction; any other
    # value stops the batch, naming the values found. Text or whole numbers (quote yes/no/true/false).
    positive_label: Label = 1
    negative_labels: Annotated[tuple[Label, ...], Field(min_length=1)] = (0,)

    @field_validator("features", mode="before")
    @classmethod
    def _named(cls, value: Any) -> Any:
        """params.yaml maps name -> spec; a tuple of FeatureSpec (e.g. from `dataclasses.replace`) passes."""
        if isinstance(value, list):
            raise ValueError("must be a mapping of feature name -> {type, ...}, not a list")
        if not isinstance(value, Mapping):
            return value
        specs = []
        for name, spec in value.items():
            if not isinstance(name, str):
                raise ValueError(f"feature name {name!r} is not text: quote it in params.yaml")
            if isinstance(spec, Mapping) and "name" in spec:
                raise _Invalid([(f"{name}.name", "remove it: the key under schema.features is the name")])
            specs.append({**spec, "name": name} if isinstance(spec, Mapping) else spec)
        return specs

    @model_validator(mode="after")
    def _distinct_columns(self) -> SchemaConfig:
        problems: list[tuple[str, str]] = []
        roles = {"id_column": self.id_column, "timestamp_column": self.timestamp_column}
        seen: dict[str, str] = {}
        for key, column in {**roles, "target_column": self.target_column}.items():
            if column in seen:
                problems.append(
                    (key, f"'{column}' is already schema.{seen[column]}; the three columns must differ")
                )
            seen.setdefault(column, key)
            if column in self.feature_names:
                problems.append((key, f"'{column}' is also in schema.features; it cannot be a model input"))
        duplicated = sorted({n for n in self.feature_names if self.feature_names.count(n) > 1})
        if duplicated:
            problems.append(("features", f"names {duplicated} more than once"))
        negatives = [label_key(v) for v in self.negative_labels]
        if label_key(self.positive_label) in negatives:
            problems.append(
                ("negative_labels", f"must not hold schema.positive_label {self.positive_label!r}")
            )
        if len(set(negatives)) != len(negatives):
            problems.append(
                ("negative_labels", f"lists a label more than once (got {list(self.negative_labels)})")
            )
        _raise_if(problems)
        return self

    def target_codes(self) -> dict[str, int]:
        """label_key(raw target value) -> 1 (positive) or 0 (negative)."""
        return {label_key(self.positive_label): 1, **{label_key(v): 0 for v in self.negative_labels}}

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def numeric_features(self) -> list[str]:
        return [f.name for f in self.features if not f.is_categorical]

    @property
    def categorical_features(self) -> list[str]:
        return [f.name for f in self.features if f.is_categorical]

    @property
    def columns(self) -> list[str]:
        return [self.id_column, self.timestamp_column, *self.feature_names, self.target_column]

    def feature(self, name: str) -> FeatureSpec:
        return next(f for f in self.features if f.name == name)


# --------------------------------------------------------------------------- data


@dataclass(frozen=True, config=_STRICT)
class SimulateConfig:
    seed: Seed
    history_start: IsoDate
    history_days: Count
    rows_per_day: Annotated[int, Strict(), Field(ge=1, le=1_000_000)]
    # Checked against the simulator's scenario names when it runs (`tabular-mlops simulate --scenario` lists them).
    scenario: Text
    scenario_start: IsoDate | None = None
    # On a running stack, the simulate_source DAG writes each next day's applications (example table only).
    live_source: StrictBool = False


@dataclass(frozen=True, config=_STRICT)
class IngestConfig:
    """How extraction reads the source: `chunk_rows` rows at a time, each chunk one Parquet row group, so its
    memory stays flat whatever a day's size (at most 1M: one chunk must stay one row group)."""

    chunk_rows: Annotated[int, Strict(), Field(ge=1, le=1_000_000)] = 100_000


@dataclass(frozen=True, config=_STRICT)
class PathsConfig:
    raw_dir: Text
    landing_dir: Text
    quarantine_dir: Text
    processed_dir: Text
    model_dir: Text
    metrics_dir: Text
    plots_dir: Text
    reports_dir: Text
    expectations_dir: Text
    evidently_workspace: Text
    reference_cache_dir: Text
    mlflow_dir: Text


@dataclass(frozen=True, config=_STRICT)
class ValidateConfig:
    max_null_fraction: Share
    min_rows: Count
    max_rows: Count

    @model_validator(mode="after")
    def _ordered(self) -> ValidateConfig:
        if self.min_rows > self.max_rows:
            _raise_if([("min_rows", f"must be <= validate.max_rows {self.max_rows} (got {self.min_rows})")])
        return self


@dataclass(frozen=True, config=_STRICT)
class PreprocessConfig:
    window_days: Annotated[int, Strict(), Field(ge=2)]
    holdout_days: Count
    validation_fraction: OpenFraction

    @model_validator(mode="after")
    def _holdout_inside_window(self) -> PreprocessConfig:
        if self.holdout_days >= self.window_days:
            msg = f"must be < preprocess.window_days {self.window_days}, to leave days to train on"
            _raise_if([("holdout_days", f"{msg} (got {self.holdout_days})")])
        return self


# --------------------------------------------------------------------------- orchestration

SCHEDULE_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")


def _schedule(value: Any) -> Any:
    """An Airflow preset, a 5-field cron expression, or null (runs only when triggered)."""
    if value is None:
        return None
    if isinstance(value, str):
        from croniter import croniter

        if value in SCHEDULE_PRESETS or (len(value.split()) == 5 and croniter.is_valid(value)):
            return value
    raise ValueError(
        f"must be one of {', '.join(SCHEDULE_PRESETS)}, a 5-field cron expression or null (got {value!r})"
    )


Schedule = Annotated[str | None, BeforeValidator(_schedule)]


@dataclass(frozen=True, config=_STRICT)
class DagSchedules:
    """One schedule per DAG (the field names are orchestration.DAG_IDS; tests/dags checks they agree)."""

    ingest_applications: Schedule
    train_model: Schedule
    monitor_nightly: Schedule
    simulate_source: Schedule


@dataclass(frozen=True, config=_STRICT)
class DagsConfig:
    """When the DAGs run. Read by the DAG files when Airflow parses them (a bad value is a DAG import error)."""

    # The first night the pipeline processes; a run for an earlier night fails and names both dates.
    start_date: IsoDate
    # DAG id -> schedule (preset, cron, or null = triggered only).
    schedules: DagSchedules
    # A train_model run that monitoring triggered and that is still queued this many nights later never started
    # (no scheduler, e.g. headless `airflow dags test`): it no longer counts as a retraining in flight.
    retrain_stale_after_days: Count

    def schedule(self, dag_id: str) -> str | None:
        return getattr(self.schedules, dag_id)


# --------------------------------------------------------------------------- training


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


@dataclass(frozen=True, config=_STRICT)
class MonitorConfig:
    window_days: Count
    min_rows: Count
    psi_bins: Annotated[int, Strict(), Field(ge=2)]
    psi_moderate: Positive
    psi_significant: Positive
    ks_alpha: OpenFraction
    ks_min_statistic: Annotated[float, Strict(), Field(ge=0, lt=1)]
    # feature type -> test; a column in column_tests uses its own test instead.
    default_test: dict[Word, Word]
    column_tests: dict[Word, Word]
    key_features: tuple[Text, ...]
    drift_share_threshold: UpToOne
    score_psi_threshold: Positive
    max_missing_rate: Share
    max_outlier_share: Share
    max_unseen_share: Share
    row_count_tolerance: Positive
    retrain_when_drifted_but_performing: StrictBool
    label_rate_max_change: Positive
    label_alpha: OpenFraction
    retrain_on_label_drift: StrictBool
    cooldown_days: Days
    report_sample_rows: Count
    experiment_name: Text
    # A night failing quality rules (missing or constant key values, unseen categories, row count) is held:
    # its drift cannot trigger a retraining, and its rows are left out of later nights' windows.
    hold_on_quality: StrictBool = True
    # Above this many rows a window's statistics run on a reproducible sample of about this many (volumes stay
    # exact): reading 7 nights of 1M rows whole would take minutes and gigabytes for the same verdicts.
    max_window_rows: Count = 250_000

    @model_validator(mode="after")
    def _bands_and_tests(self) -> MonitorConfig:
        problems: list[tuple[str, str]] = []
        if self.max_window_rows < self.min_rows:
            problems.append(
                (
                    "max_window_rows",
                    f"must be >= monitor.min_rows {self.min_rows} (got {self.max_window_rows})",
                )
            )
        if self.psi_moderate >= self.psi_significant:
            problems.append(
                (
                    "psi_moderate",
                    f"must be < monitor.psi_significant {self.psi_significant:g} (got {self.psi_moderate:g})",
                )
            )
        for ftype, test in self.default_test.items():
            if ftype not in TESTS_FOR_TYPE:
                problems.append(
                    (f"default_test.{ftype}", f"unknown feature type (allowed: {', '.join(FEATURE_TYPES)})")
                )
            elif test not in TESTS_FOR_TYPE[ftype]:
                problems.append((f"default_test.{ftype}", _wrong_test(ftype, test)))
        _raise_if(problems)
        return self


def _wrong_test(ftype: str, test: str) -> str:
    return f"must be one of {', '.join(TESTS_FOR_TYPE[ftype])} for a {ftype} column (got {test!r})"


# --------------------------------------------------------------------------- online serving


@dataclass(frozen=True, config=_STRICT)
class ServingConfig:
    """The online scoring service (`tabular-mlops serve`); endpoints and the admin token come from the environment."""

    host: Text
    port: Annotated[int, Strict(), Field(ge=1, le=65535)]
    # Applications per POST /predict/batch; a larger batch is a 422, not a slow request.
    max_batch: Annotated[int, Strict(), Field(ge=1, le=10_000)]
    # Request bodies above this are refused with 413 before they are parsed.
    max_body_bytes: Annotated[int, Strict(), Field(ge=1024, le=64 * 2**20)]
    # How often the service asks the registry who is champion (POST /admin/reload asks at once).
    poll_seconds: Annotated[float, Strict(), Field(ge=0.5, le=3600)]
    # Answers: score >= evaluate.decision_threshold is high risk (decision 1 in the prediction log, as in batch
    # scoring); a model that raises gets the fallback decision instead, marked `fallback: true`.
    low_risk_decision: Text
    high_risk_decision: Text
    fallback_decision: Text
    # Model tests on a new champion before it is swapped in: p95 single-row latency budget over this many calls.
    latency_p95_ms: Positive
    latency_samples: Count
    # Prediction-log writer: rows wait in a bounded buffer (overflow is dropped and counted), written in batches.
    log_buffer_rows: Count
    log_batch_rows: Count
    log_flush_seconds: Positive
    # The last good champion (model file, metadata, checksum): what the service starts from when the registry is down.
    cache_dir: Text

    @model_validator(mode="after")
    def _distinct_and_ordered(self) -> ServingConfig:
        problems: list[tuple[str, str]] = []
        decisions = {
            "low_risk_decision": self.low_risk_decision,
            "high_risk_decision": self.high_risk_decision,
        }
        for key, value in decisions.items():
            if value == self.fallback_decision:
                problems.append(("fallback_decision", f"must differ from serving.{key} (both {value!r})"))
        if self.low_risk_decision == self.high_risk_decision:
            problems.append(
                (
                    "high_risk_decision",
                    f"must differ from serving.low_risk_decision (both {self.low_risk_decision!r})",
                )
            )
        if self.log_batch_rows > self.log_buffer_rows:
            problems.append(
                (
                    "log_batch_rows",
                    f"must be <= serving.log_buffer_rows {self.log_buffer_rows} (got {self.log_batch_rows})",
                )
            )
        _raise_if(problems)
        return self


# --------------------------------------------------------------------------- wording


@dataclass(frozen=True, config=_STRICT)
class WordingConfig:
    """The words user-visible outputs use for the domain (model description and card, reports, alerts, plots).
    Left out, they are derived from schema.target_column; the example sets its credit wording in params.yaml."""

    # What the score is, as a noun phrase ("probability of loan default"); default "probability that <target> = 1".
    score: Text | None = None
    # One row of the table and several ("application" / "applications").
    row: Text = "row"
    rows: Text = "rows"
    # The share of positive labels, the base rate ("default rate"); default "rate of <target> = 1".
    positive_rate: Text | None = None

    def score_text(self, target: str) -> str:
        return self.score or f"probability that {target} = 1"

    def rate_text(self, target: str) -> str:
        return self.positive_rate or f"rate of {target} = 1"


# --------------------------------------------------------------------------- all of it


@dataclass(frozen=True, config=_STRICT)
class Params:
    schema: SchemaConfig
    simulate: SimulateConfig
    paths: PathsConfig
    validate: ValidateConfig
    preprocess: PreprocessConfig
    train: TrainConfig
    evaluate: EvaluateConfig
    gate: GateConfig
    registry: RegistryConfig
    monitor: MonitorConfig
    serving: ServingConfig
    dags: DagsConfig
    wording: WordingConfig = dataclasses.field(default_factory=WordingConfig)
    ingest: IngestConfig = dataclasses.field(default_factory=IngestConfig)
    source_file: str = ""
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False, repr=False)

    @model_validator(mode="after")
    def _monitor_matches_schema(self) -> Params:
        """Monitoring names columns and tests that must exist in the schema and fit the column's type."""
        schema, mon = self.schema, self.monitor
        names = schema.feature_names
        problems: list[tuple[str, str]] = []
        unknown = [c for c in mon.key_features if c not in names]
        if unknown:
            problems.append(
                ("monitor.key_features", f"{unknown} not in schema.features ({', '.join(names)})")
            )
        for column, test in mon.column_tests.items():
            if column not in names:
                problems.append(
                    (f"monitor.column_tests.{column}", f"not in schema.features ({', '.join(names)})")
                )
            elif test not in TESTS_FOR_TYPE[schema.feature(column).type]:
                problems.append(
                    (f"monitor.column_tests.{column}", _wrong_test(schema.feature(column).type, test))
                )
        untested = [
            t for t in FEATURE_TYPES if t in {f.type for f in schema.features} and t not in mon.default_test
        ]
        if untested:
            problems.append(
                ("monitor.default_test", f"needs a test for feature type(s) {untested} used in schema")
            )
        _raise_if(problems)
        return self

    def flat(self) -> dict[str, str]:
        """Every parameter as `section.key` -> string, for MLflow params."""
        out: dict[str, str] = {}

        def walk(prefix: str, value: Any) -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(f"{prefix}.{k}" if prefix else str(k), v)
            else:
                out[prefix] = str(value)

        walk("", self.raw)
        return out


_PARAMS = TypeAdapter(Params)
_UNIONS = (Union, types.UnionType)
_SECTIONS = [f.name for f in dataclasses.fields(Params) if f.name not in ("source_file", "raw")]
# Keys that were valid once: say where they went instead of only "unknown key".
_MOVED = {
    ("train", "model"): (
        f"moved: each train.search_space entry names its estimator as `model: <{' | '.join(ESTIMATORS)}>`"
    ),
    ("gate", "max_brier"): (
        "replaced by gate.min_brier_skill, the Brier skill score against the base rate (1 - brier / brier of "
        "always predicting the base rate; 0 = no better than that): an absolute Brier fits only one base rate "
        "(0.06 passed a model worse than the constant 3% forecast and failed any good model at 25%)"
    ),
}


def load_params(path: str | os.PathLike[str]) -> Params:
    """Read and validate params.yaml; a ConfigError lists every problem with the file and the key path."""
    source = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read params file ({exc.strerror})") from exc
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: top level must be a mapping of sections ({', '.join(_SECTIONS)})")
    unknown = [k for k in raw if k not in _SECTIONS]
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {unknown} (allowed: {', '.join(_SECTIONS)})")
    try:
        return _PARAMS.validate_python({**raw, "source_file": source, "raw": raw})
    except ValidationError as exc:
        lines = [f"{source}: {key}: {msg}" for key, msg in _problems(exc, raw)]
        raise ConfigError("\n".join(lines)) from None


def project_dir() -> Path:
    """The project root: $MLOPS_PROJECT_DIR, else the current directory (how `dvc repro` runs stages)."""
    return Path(os.environ.get("MLOPS_PROJECT_DIR") or Path.cwd()).resolve()


# --------------------------------------------------------------------------- YAML and error messages


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping (PyYAML would keep the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        self.flatten_mapping(node)
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"key {key!r} appears twice",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _problems(exc: ValidationError, raw: dict[str, Any]) -> list[tuple[str, str]]:
    """(dotted key path, message) for every error pydantic found, in file order."""
    errors = exc.errors()
    out: list[tuple[str, str]] = []
    for err in errors:
        loc, error = tuple(err["loc"]), err.get("ctx", {}).get("error")
        if err["type"] == "too_short" and any(e["loc"][: len(loc)] == loc and e is not err for e in errors):
            continue  # the items' own errors say more than "too few valid items"
        if isinstance(error, _Invalid):
            out += [(_key(loc + tuple(k.split(".")), raw), msg) for k, msg in error.problems]
        else:
            loc, msg = _describe(err, loc)
            out.append((_key(loc, raw), msg))
    return out


# Plain-language rule per pydantic error type; {got} is the value read.
_RULES = {
    "missing": "missing (required)",
    "missing_argument": "missing (required)",
    "int_type": "must be a whole number{got}",
    "int_from_float": "must be a whole number{got}",
    "float_type": "must be a number{got}",
    "finite_number": "must be a finite number{got}",
    "bool_type": "must be true or false{got}",
    "string_type": "must be text{got}",
    "string_too_short": "must not be empty",
    "tuple_type": "must be a list{got}",
    "dict_type": "must be a mapping{got}",
    "dataclass_type": "must be a mapping{got}",
    "dataclass_args_type": "must be a mapping{got}",
    "model_attributes_type": "must be a mapping{got}",
}


def _describe(err: Any, loc: tuple) -> tuple[tuple, str]:
    """(key path, message) of one pydantic error that is not one of our own rule violations."""
    kind, ctx, value = err["type"], err.get("ctx", {}), err.get("input")
    got = "" if isinstance(value, dict | list | tuple) else f" (got {value!r})"
    if isinstance(value, bool) and kind in ("string_type", "literal_error"):
        return loc, f"must be text (got {value!r}): {_FLIPPED}"
    if kind in _RULES:
        return loc, _RULES[kind].format(got=got)
    if kind == "value_error":
        return loc, str(ctx["error"])
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        return loc, _MOVED.get(loc) or f"unknown key (allowed: {', '.join(_keys_at(loc[:-1]))})"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return loc, f"must be {_range_at(loc)}{got}"
    if kind == "too_short":
        return loc, f"must list at least {ctx['min_length']} item(s)"
    if kind == "literal_error":
        return loc, f"must be one of {ctx['expected']}{got}"
    if kind == "union_tag_invalid":
        return loc + ("model",), f"must be one of {ctx['expected_tags']} (got {ctx['tag']!r})"
    if kind == "union_tag_not_found":
        return loc + ("model",), f"missing: name the estimator, one of {', '.join(ESTIMATORS)}"
    return loc, f"{err['msg']}{got}"


def _key(loc: tuple, raw: dict[str, Any]) -> str:
    """Dotted key path as written in params.yaml: feature index -> its name, no union tags."""
    parts = list(loc)
    if parts[:2] == ["schema", "features"] and len(parts) > 2 and isinstance(parts[2], int):
        names = list((raw.get("schema") or {}).get("features") or {})
        parts[2] = names[parts[2]] if parts[2] < len(names) else parts[2]
    if parts[:2] == ["train", "search_space"] and len(parts) > 3 and parts[3] in ESTIMATORS:
        del parts[3]
    return ".".join(str(p) for p in parts if p != "")


def _type_at(loc: tuple) -> tuple[Any, list[Any]]:
    """The declared type at a key path and its constraint metadata (Field(...) / annotated_types)."""
    tp: Any = Params
    for part in loc:
        tp, _ = _unwrap(tp)
        if dataclasses.is_dataclass(tp) or is_typeddict(tp):
            tp = get_type_hints(tp, include_extras=True).get(part)
        elif get_origin(tp) is tuple:
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        elif get_origin(tp) in _UNIONS:  # a tagged search_space candidate: pick the member by its tag
            tp = next((m for m in get_args(tp) if _estimator(m) == part), None)
        else:
            tp = None
        if tp is None:
            return None, []
    return _unwrap(tp)


def _unwrap(tp: Any) -> tuple[Any, list[Any]]:
    """Strip Annotated and Optional, collecting constraint metadata on the way."""
    meta: list[Any] = []
    while True:
        if get_origin(tp) is Annotated:
            meta += [m for item in tp.__metadata__ for m in getattr(item, "metadata", [item])]
            tp = tp.__origin__
        elif get_origin(tp) in _UNIONS and type(None) in get_args(tp):
            tp = next(a for a in get_args(tp) if a is not type(None))
        elif get_origin(tp) is NotRequired:
            tp = get_args(tp)[0]
        else:
            return tp, meta


def _keys_at(loc: tuple) -> list[str]:
    tp, _ = _type_at(loc)
    if dataclasses.is_dataclass(tp):
        hidden = {"name", "source_file", "raw"}
        return [f.name for f in dataclasses.fields(tp) if f.name not in hidden]
    if is_typeddict(tp):
        return list(get_type_hints(tp))
    return []


def _range_at(loc: tuple) -> str:
    _, meta = _type_at(loc)
    bounds = {name: getattr(m, name) for m in meta for name in ("gt", "ge", "lt", "le") if hasattr(m, name)}
    low = f"{'(' if 'gt' in bounds else '['}{bounds.get('gt', bounds.get('ge'))}"
    high = f"{bounds.get('lt', bounds.get('le'))}{')' if 'lt' in bounds else ']'}"
    if ("gt" in bounds or "ge" in bounds) and ("lt" in bounds or "le" in bounds):
        return f"in {low}, {high}"
    for name, op in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
        if name in bounds:
            return f"{op} {bounds[name]}"
    return "in range"
