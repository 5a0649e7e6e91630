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
