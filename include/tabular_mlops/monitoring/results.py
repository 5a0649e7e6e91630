"""What a monitored night produces, as typed, frozen records: drift per column and per window, label drift, the
night's summary, the retrain/keep decision, the alerts, the night's result (XCom, summary.json, the MLflow
artifact) and the audit record that `tabular-mlops why` and the fire drill read.

Each record is a frozen pydantic dataclass (positional construction and `dataclasses.replace` work as usual;
values are validated and numpy scalars coerced on construction). `to_dict()` gives plain JSON (dates as ISO
strings, enums as values, tuples as lists) and `from_dict()` reads it back, validated. Derived keys that a reader
of the JSON wants (`reason`, `drifted_columns`) are pydantic computed fields: written, and ignored when read back.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import field
from typing import Any, Literal, Self

from pydantic import TypeAdapter, computed_field
from pydantic.dataclasses import dataclass

from tabular_mlops.monitoring.estimate_records import NightEstimate
from tabular_mlops.stats.paired import PairedShadowReport
from tabular_mlops.stats.sequential import SequentialResult


class Status(enum.StrEnum):
    """Whether the night could be judged: no rows at all, too few rows for a decision, or enough."""

    OK = "ok"
    NO_DATA = "no_data"
    TOO_FEW_ROWS = "too_few_rows"


class Action(enum.StrEnum):
    RETRAIN = "retrain"
    KEEP = "keep"
    # The night's data fails quality rules: nothing is retrained on it, whatever drift it shows.
    HOLD = "hold"


AlertKind = Literal["drift", "quality", "performance", "retraining"]


_ADAPTERS: dict[type, TypeAdapter] = {}


def _adapter(cls: type) -> TypeAdapter:
    if cls not in _ADAPTERS:
        _ADAPTERS[cls] = TypeAdapter(cls)
    return _ADAPTERS[cls]


class _Json:
    """JSON round trip for the records below."""

    def to_dict(self) -> dict[str, Any]:
        return _adapter(type(self)).dump_python(self, mode="json")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return _adapter(cls).validate_python(data)


@dataclass(frozen=True)
class ColumnDrift(_Json):
    """One column, current vs reference: the configured test, its statistic and p-value (None for PSI), PSI,
    the verdict, the PSI band, and flags that explain edge inputs (all missing, constant, unseen categories)."""

    column: str
    test: str
    statistic: float
    p_value: float | None
    psi: float
    drifted: bool
    band: str
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class WindowDrift(_Json):
    """Drift of a set of rows (the current window, or the newest night alone) against the reference."""

    rows: int
    columns: tuple[ColumnDrift, ...]
    drift_share: float
    score_psi: float

    @computed_field  # type: ignore[prop-decorator]
    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    @property
    def psi(self) -> dict[str, float]:
        return {c.column: round(c.psi, 6) for c in self.columns}

    @property
    def flags(self) -> dict[str, list[str]]:
        return {c.column: list(c.flags) for c in self.columns if c.flags}

    def top_psi(self, n: int = 3) -> list[ColumnDrift]:
        return sorted(self.columns, key=lambda c: -c.psi)[:n]


@dataclass(frozen=True)
class LabelDrift(_Json):
    """The matured positive rate against the reference's (all None when there are not enough matured labels)."""

    reference_rate: float | None = None
    matured_rate: float | None = None
    rate_ratio: float | None = None  # None when the reference has no positives
    p_value: float | None = None
    drifted: bool = False


@dataclass(frozen=True)
class OnlineServing(_Json):
    """The night's online answers (prediction-log rows with source `online`): how many, how fast, how many were
    the fallback decision (the model failed on them). `answers` counts rows: a batch request of n
    rows is n answers. Latency: request arrival to answer ready, in the service (ms)."""

    answers: int
    fallbacks: int
    fallback_rate: float
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    model_versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class NightSummary(_Json):
    """Everything the decision, the alerts and the dashboards need about one night, as plain numbers (never
    NaN). Drift, quality and label figures are None / empty when the window has no rows (`no_data`)."""

    night: dt.date
    status: Status
    rows: int  # in the current window (`monitor.window_days` nights)
    night_rows: int  # of the newest night alone
    reference_rows: int
    expected_rows: float
    labelled_rows: int
    window: WindowDrift | None = None
    # The newest night alone (only with at least monitor.min_rows rows): a fresh shift is diluted in a window.
    last_night: WindowDrift | None = None
    missing_rate: dict[str, float] = field(default_factory=dict)
    outlier_share: float | None = None
    row_count_ratio: float | None = None
    # On matured labels, scored by the current champion / as logged at the time (None below min_rows).
    matured_roc_auc: float | None = None
    matured_roc_auc_logged: float | None = None
    label_drift: LabelDrift = field(default_factory=LabelDrift)
    labelled_window_drifted: tuple[str, ...] = ()
    # Quality rules the newest night fails (missing or constant key values, unseen categories, row count).
    night_quality: tuple[str, ...] = ()
    # The online service's answers of the newest night (None when it answered none).
    online: OnlineServing | None = None

    @property
    def drift_share(self) -> float | None:
        return None if self.window is None else self.window.drift_share

    @property
    def score_psi(self) -> float | None:
        return None if self.window is None else self.window.score_psi

    @property
    def drifted_columns(self) -> list[str]:
        return [] if self.window is None else self.window.drifted_columns


@dataclass(frozen=True)
class Decision(_Json):
    """`retrain`, `keep`, or no decision (None) for a night that is not `ok`; the reasons say why, in order.
    `drift_reasons` are the drift rules that fired, whatever the action."""

    night: dt.date
    status: Status
    action: Action | None
    reasons: tuple[str, ...] = ()
    drift_reasons: tuple[str, ...] = ()

    @property
    def retrain(self) -> bool:
        return self.action is Action.RETRAIN


@dataclass(frozen=True)
class Alert(_Json):
    """One notification: what kind, a one-line title and the details (reasons or problems)."""

    kind: AlertKind
    title: str
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class ShadowComparison(_Json):
    """The champion against the challenger that scored the same rows in shadow (issue 25). `recent`:
    the current window's pairs (how alike: score correlation, decision agreement, score PSI); `matured`: every
    pair with a matured label since the challenger began shadowing (loss and ROC AUC differences, challenger -
    champion, with intervals); `test`: the always-valid test of the per-row `loss` improvement, carried from
    night to night (safe to read every night)."""

    champion_version: str
    challenger_version: str
    loss: str
    recent: PairedShadowReport | None = None
    matured: PairedShadowReport | None = None
    test: SequentialResult | None = None
    reasons: tuple[str, ...] = ()

    @property
    def verdict(self) -> str:
        return "no test yet" if self.test is None else str(self.test.verdict)


@dataclass(frozen=True)
class NightResult(_Json):
    """What a monitored night hands on: the task's XCom (the DAG branches on `action`; the retraining's conf
    reads `reason` and `training_window_end` at the top level), the night's summary.json and MLflow artifact."""

    summary: NightSummary
    decision: Decision
    alerts: tuple[Alert, ...]
    champion_version: str
    monitoring_run_id: str
    reports: tuple[str, ...]
    # The newest day a retraining can learn from: its labels have matured.
    training_window_end: dt.date
    # The night's Evidently workspace snapshots: kind -> "project_id/snapshot_id" (links in the run note).
    evidently: dict[str, str] = field(default_factory=dict)
    # The paired comparison with a shadow challenger, on nights one scored beside the champion.
    shadow: ShadowComparison | None = None
    # The champion's performance estimated before the labels arrive, and graded as they mature (issue 24).
    estimate: NightEstimate | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def night(self) -> dt.date:
        return self.summary.night

    @computed_field  # type: ignore[prop-decorator]
    @property
    def action(self) -> Action | None:
        return self.decision.action

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reason(self) -> str:
        return "; ".join(self.decision.reasons)


@dataclass(frozen=True)
class RetrainingOutcome(_Json):
    """The training run an Airflow run produced, the version it registered and the gate's decision on it;
    `gate` explains what is known when there is no version (yet)."""

    airflow_run_id: str
    mlflow_run_id: str | None = None
    version: str | None = None
    gate: str | None = None


@dataclass(frozen=True)
class NightRecord(_Json):
    """A night's row of the decision record, and (from the audit) the outcome of the retraining it triggered."""

    night: dt.date
    status: Status
    action: Action | None
    reasons: tuple[str, ...]
    champion_version: str | None
    drift_share: float | None
    triggered_run_id: str | None
    retraining: RetrainingOutcome | None = None
    # The night's paired shadow comparison, when a challenger was in shadow (`tabular-mlops why`).
    shadow: ShadowComparison | None = None
