"""What a night records about the champion's performance before its labels arrive (issue 24): the estimates by
CBPE and by importance weighting with their intervals, the business value, the realized figures of the window
whose labels matured tonight, the estimator's grades, and the estimated harm the decision reads. Plain frozen
dataclasses (stats/records.py's JSON round trip); a missing figure is None with its reason, never NaN."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tabular_mlops.stats.business_value import BusinessValue
from tabular_mlops.stats.estimate_grading import EstimateGrading, NightFigures
from tabular_mlops.stats.metrics import MetricEstimate, PerformanceEstimate
from tabular_mlops.stats.records import JsonRecord

# Keys of `NightEstimate.matured` and `grades`: "<method>/<figure>". The decision and the alert read ROC AUC.
CBPE_ROC_AUC = "cbpe/roc_auc"
IMPORTANCE_ROC_AUC = "importance_weighting/roc_auc"
CBPE_VALUE_PER_ROW = "cbpe/value_per_row"
GRADED = (CBPE_ROC_AUC, IMPORTANCE_ROC_AUC, CBPE_VALUE_PER_ROW)
# The grades whose misses raise the concept-drift alert: ROC AUC, which a change of the base rate alone does not
# move. The value per row misses under label drift too (more defaults, same scores), which has its own alert
# (tests/integration/test_label_drills_drift_e2e.py: 4 label-drift days missed it 6 nights in a row); it is
# graded and logged, not alerted on.
SELF_CHECKED = (CBPE_ROC_AUC, IMPORTANCE_ROC_AUC)

METHOD_NAMES = {"cbpe": "CBPE", "importance_weighting": "importance weighting", "realized": "realized"}


def interval_text(figure: MetricEstimate, digits: int = 2) -> str:
    """`0.78 [0.76, 0.80]`, or `0.78` without an interval, or `n/a (reason)`."""
    if figure.value is None:
        return f"n/a ({figure.reason})"
    text = f"{figure.value:.{digits}f}"
    if figure.lower is not None and figure.upper is not None:
        text += f" [{figure.lower:.{digits}f}, {figure.upper:.{digits}f}]"
    return text


@dataclass(frozen=True)
class EstimatedHarm(JsonRecord):
    """What the estimates say of harm: `drop`, the larger of the two methods' ROC AUC drops below the
    champion's holdout ROC AUC (> 0: worse; None when neither has an estimate or there is no baseline), and
    `unsupported`, importance weighting's reason when the window lies where no holdout row stands for it (the
    model extrapolates there, and CBPE, which trusts the scores, cannot see it). `method` and `estimate` are the
    headline figure (CBPE, else importance weighting). `text` names the figures, for the decision's reasons."""

    drop: float | None
    method: str | None
    estimate: MetricEstimate | None
    baseline: float | None
    text: str
    unsupported: str | None = None

    @property
    def judged(self) -> bool:
        """Whether the estimates can say anything on harm (a drop, or a window beyond the holdout)."""
        return self.drop is not None or self.unsupported is not None

    def harmful(self, max_drop: float) -> bool:
        return self.unsupported is not None or (self.drop is not None and self.drop > max_drop)


@dataclass(frozen=True)
class NightEstimate(JsonRecord):
    """The champion's estimated performance on the current window (`rows` scored rows, decision `threshold`),
    the holdout it is judged against, the business value, and what the matured labels say of an earlier window.

    `matured` holds, per graded figure ("cbpe/roc_auc", "importance_weighting/roc_auc", "cbpe/value_per_row"),
    the estimate recorded on `matured_night` (the window whose labels matured tonight) beside its realized figure,
    when the same champion made both; `grades` grade every matured night recorded so far (running error,
    coverage, the concept-drift alert)."""

    rows: int
    threshold: float
    calibrator: str | None
    calibration_reason: str
    holdout: PerformanceEstimate
    cbpe: PerformanceEstimate
    importance: PerformanceEstimate
    value: BusinessValue
    value_importance: BusinessValue
    value_unit: str
    harm: EstimatedHarm
    matured_night: str | None = None
    realized: PerformanceEstimate | None = None
    value_realized: BusinessValue | None = None
    matured: dict[str, NightFigures] = field(default_factory=dict)
    grades: dict[str, EstimateGrading] = field(default_factory=dict)

    def headline(self) -> str:
        """`estimated ROC AUC 0.78 [0.76, 0.80] (CBPE)`: the figure the decision trusts, else why there is none."""
        method = self.harm.method
        if method is None or self.harm.estimate is None:
            reason = self.cbpe.metric("roc_auc").reason or self.cbpe.reason
            return f"estimated ROC AUC n/a ({reason})"
        return f"estimated ROC AUC {interval_text(self.harm.estimate)} ({METHOD_NAMES[method]})"

    @property
    def concept_drift(self) -> tuple[str, ...]:
        """The reasons of every ROC AUC grade (SELF_CHECKED) that raises the concept-drift alert tonight."""
        return tuple(self.grades[k].reason for k in SELF_CHECKED if k in self.grades and self.grades[k].alert)


def _figure_metrics(prefix: str, estimate: PerformanceEstimate) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name, figure in estimate.metrics.items():
        out |= {
            f"{prefix}{name}": figure.value,
            f"{prefix}{name}.lower": figure.lower,
            f"{prefix}{name}.upper": figure.upper,
        }
    return out


def estimate_metrics(estimate: NightEstimate | None) -> dict[str, float]:
    """The night's estimate as MLflow metrics: `estimated/*` (CBPE as `estimated/<metric>`, importance weighting
    as `estimated/importance.<metric>`, each with `.lower` / `.upper`, the value, the drop the decision reads)
    and `realized/*` (the window whose labels matured tonight, the estimator's running error and coverage, its
    misses in a row, and for ROC AUC the concept-drift alert, 1 while it stands).
    Figures without a value are left out, never NaN."""
    if estimate is None:
        return {}
    metrics: dict[str, float | None] = {
        **_figure_metrics("estimated/", estimate.cbpe),
        **_figure_metrics("estimated/importance.", estimate.importance),
        "estimated/importance.effective_rows": _number(estimate.importance.details.get("effective_rows")),
        "estimated/importance.domain_auc": _number(estimate.importance.details.get("domain_auc")),
        "estimated/drop": estimate.harm.drop,
        "estimated/value_total": estimate.value.total,
        "estimated/value_per_row": estimate.value.per_row,
        "estimated/importance.value_per_row": estimate.value_importance.per_row,
    }
    if estimate.value.total is not None and estimate.value.rows:
        for end in ("lower", "upper"):
            bound = getattr(estimate.value, end)
            metrics[f"estimated/value_per_row.{end}"] = None if bound is None else bound / estimate.value.rows
    if estimate.realized is not None:
        metrics |= {f"realized/{n}": f.value for n, f in estimate.realized.metrics.items()}
    if estimate.value_realized is not None:
        metrics |= {
            "realized/value_total": estimate.value_realized.total,
            "realized/value_per_row": estimate.value_realized.per_row,
        }
    for key, grade in estimate.grades.items():
        name = key.replace("/", ".")
        metrics |= {
            f"realized/error.{name}": grade.mean_absolute_error,
            f"realized/coverage.{name}": grade.coverage,
            # The self-check: matured nights in a row outside the interval, and 1 while its alert stands.
            f"realized/misses_in_a_row.{name}": grade.nights[-1].consecutive_misses if grade.nights else None,
        }
        if key in SELF_CHECKED:
            metrics[f"realized/concept_drift.{name}"] = float(grade.alert)
    return {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)}


def _number(value: float | int | str | None) -> float | None:
    return float(value) if isinstance(value, int | float) else None
