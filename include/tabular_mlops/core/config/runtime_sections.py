"""Sections of the running system: monitor, serving, wording."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    Field,
    Strict,
    StrictBool,
    model_validator,
)
from pydantic.dataclasses import dataclass

from tabular_mlops.core.config.fields import (
    _STRICT,
    FEATURE_TYPES,
    TESTS_FOR_TYPE,
    Count,
    Days,
    Number,
    OpenFraction,
    Positive,
    Share,
    Text,
    UpToOne,
    Word,
    _raise_if,
)


@dataclass(frozen=True, config=_STRICT)
class MonitorConfig:
    window_days: Count
    """Nights of the prediction log in the current window; the reference is the champion's training data."""
    min_rows: Count
    """Fewer rows than this: a report, but no retrain/keep decision; also the matured labels needed for
    performance and label drift."""
    psi_bins: Annotated[int, Strict(), Field(ge=2)]
    """Bins (reference quantiles) of the PSI of numeric columns."""
    psi_moderate: Positive
    """PSI from which a column's shift is moderate."""
    psi_significant: Positive
    """PSI from which a column has drifted."""
    ks_alpha: OpenFraction
    """KS test p-value below which a numeric column may have drifted."""
    ks_min_statistic: Annotated[float, Strict(), Field(ge=0, lt=1)]
    """KS effect size also needed: at a million rows a p-value alone flags differences nobody cares about."""
    default_test: dict[Word, Word]
    """Feature type -> drift test: float and int take psi or ks, category takes psi or chi2."""
    column_tests: dict[Word, Word]
    """Column -> its own drift test, instead of the type's default."""
    key_features: tuple[Text, ...]
    """Drift in one is a retrain reason on its own; the dashboard plots their PSI and the report
    summarises them."""
    drift_share_threshold: UpToOne
    """Share of drifted columns from which monitoring retrains."""
    score_psi_threshold: Positive
    """PSI of the model's score from which monitoring retrains."""
    max_missing_rate: Share
    """A feature missing on more of a night's rows fails the night's quality rules."""
    max_outlier_share: Share
    """Share of rows with a value outside the schema's ranges or categories above which a quality alert
    fires."""
    max_unseen_share: Share
    """A category never seen in the reference on more of the rows marks the column drifted (and fails
    quality)."""
    row_count_tolerance: Positive
    """A night's row count further than this share from the usual fails quality."""
    retrain_when_drifted_but_performing: StrictBool
    """Retrain on drift even when matured labels show unchanged performance."""
    label_rate_max_change: Positive
    """Label drift needs the matured positive rate to change by more than this share (0.5: up by half
    or down by a third)."""
    label_alpha: OpenFraction
    """Chi-square p-value below which the matured positive rate differs from the reference's."""
    retrain_on_label_drift: StrictBool
    """Retrain on label drift (it is always reported and alerted)."""
    cooldown_days: Days
    """No new retraining within this many nights of the last one."""
    report_sample_rows: Count
    """Rows Evidently renders the HTML reports on."""
    experiment_name: Text
    """The MLflow experiment of the nightly monitoring runs."""
    hold_on_quality: StrictBool = True
    """A night failing quality rules is held: no retraining on it, its drift reported only, its rows
    left out of later windows."""
    max_window_rows: Count = 250_000
    """Above this many rows a window's statistics run on a reproducible sample of about this many (row
    counts stay exact): reading a week of 1M-row nights whole takes minutes and gigabytes for the same
    verdicts."""
    max_estimated_drop: Share = 0.03
    """A drifted window whose estimated ROC AUC (CBPE, else importance weighting) lies more than this below
    the champion's holdout ROC AUC retrains on its first night; within it the champion is kept, reported as
    "drifted, performing (estimated)". Matured labels, when they cover the drift, have the final word."""
    concept_drift_nights: Count = 3
    """Matured nights in a row whose realized ROC AUC falls outside the estimate's interval before the
    "concept drift suspected" alert: the scores say all is well, the labels disagree."""
    evidently_reports: StrictBool = True
    """Render each night's Evidently reports (HTML and the workspace's snapshots and dashboard). Off, a night is
    judged, recorded, alerted and logged to MLflow the same, without them (as a night without data is): for
    long drills and backfills whose reports nobody opens, where rendering is most of a night's time. Those nights
    get no point on the Evidently dashboard's charts, not even once it is turned back on (the record, MLflow and
    `tabular-mlops why` keep them)."""

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


@dataclass(frozen=True, config=_STRICT)
class BusinessValueConfig:
    """The value of one row in each cell of the confusion matrix at the decision threshold (positive = the
    target's positive label, flagged = score >= threshold), in `unit`. All four set, or none (no value is
    reported, and the record says why)."""

    true_negative: Number | None = None
    """Not flagged and negative (credit: an approved loan repaid, the margin earned)."""
    false_negative: Number | None = None
    """Not flagged and positive (credit: an approved loan that defaults, the loss; negative)."""
    false_positive: Number | None = None
    """Flagged and negative (credit: a good applicant declined, what that costs; zero or negative)."""
    true_positive: Number | None = None
    """Flagged and positive (credit: a default declined, usually 0 or the cost of handling it)."""
    unit: Text = "EUR"
    """What the values are counted in (shown beside every figure)."""

    @model_validator(mode="after")
    def _all_or_none(self) -> BusinessValueConfig:
        cells = {
            k: getattr(self, k)
            for k in ("true_negative", "false_negative", "false_positive", "true_positive")
        }
        missing = [k for k, v in cells.items() if v is None]
        if missing and len(missing) < len(cells):
            _raise_if([(k, "set every cell's value or none (got null)") for k in missing])
        return self

    @property
    def configured(self) -> bool:
        return self.true_negative is not None


# --------------------------------------------------------------------------- online serving


@dataclass(frozen=True, config=_STRICT)
class ServingConfig:
    """The online scoring service (`tabular-mlops serve`); endpoints and the admin token come from the environment."""

    host: Text
    """Address the service binds to."""
    port: Annotated[int, Strict(), Field(ge=1, le=65535)]
    """Port of the service (MLOPS_SERVING_PORT overrides it)."""
    max_batch: Annotated[int, Strict(), Field(ge=1, le=10_000)]
    """Most rows per POST /predict/batch; more is a 422."""
    max_body_bytes: Annotated[int, Strict(), Field(ge=1024, le=64 * 2**20)]
    """Request bodies above this get 413 before they are parsed."""
    poll_seconds: Annotated[float, Strict(), Field(ge=0.5, le=3600)]
    """How often the service asks the registry who is champion (POST /admin/reload asks at once)."""
    low_risk_decision: Text
    """The answer when score < the decision threshold."""
    high_risk_decision: Text
    """The answer when score >= the decision threshold."""
    fallback_decision: Text
    """The answer when the model raises, marked `fallback: true`."""
    latency_p95_ms: Positive
    """Budget for the p95 single-row latency a new champion must meet before it is swapped in."""
    latency_samples: Count
    """Single-row calls that latency test times."""
    log_buffer_rows: Count
    """Prediction-log rows that may wait while the database is down; overflow is dropped and counted."""
    log_batch_rows: Count
    """Rows per insert into the prediction log."""
    log_flush_seconds: Positive
    """Longest wait before buffered rows are written."""
    cache_dir: Text
    """The last good champion (model, metadata, checksum): what the service starts from when the
    registry is down."""

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

    score: Text | None = None
    """What the score is, as a noun phrase (default: probability that <target> = 1)."""
    row: Text = "row"
    """One row of the table (an application)."""
    rows: Text = "rows"
    """Several rows (applications)."""
    positive_rate: Text | None = None
    """The share of positive labels, the base rate (default: rate of <target> = 1)."""

    def score_text(self, target: str) -> str:
        return self.score or f"probability that {target} = 1"

    def rate_text(self, target: str) -> str:
        return self.positive_rate or f"rate of {target} = 1"


# --------------------------------------------------------------------------- all of it
