"""The estimator grades itself: as each night's labels mature, its estimate is set against the realized figure.
Running mean absolute error and interval coverage say how far to trust tonight's estimate; the realized figure
outside the interval on k matured nights in a row is the signature of concept drift (the scores say all is
well, the labels disagree), which CBPE alone cannot see."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tabular_mlops.stats.metrics import require_finite
from tabular_mlops.stats.records import JsonRecord

Miss = Literal["below", "above"]


@dataclass(frozen=True)
class NightFigures(JsonRecord):
    """One night's estimate (value and interval, None when withheld) and its realized figure (None until the
    labels mature)."""

    night: str
    estimate: float | None
    lower: float | None
    upper: float | None
    realized: float | None

    def __post_init__(self) -> None:
        require_finite(self, "estimate", "lower", "upper", "realized")


@dataclass(frozen=True)
class GradedNight(JsonRecord):
    """A matured night's grade and the running figures up to it."""

    night: str
    error: float
    covered: bool | None
    miss: Miss | None
    consecutive_misses: int
    running_mae: float
    running_coverage: float | None


@dataclass(frozen=True)
class EstimateGrading(JsonRecord):
    """The grades of one metric's estimates by one method over the nights given."""

    metric: str
    method: str
    nights: tuple[GradedNight, ...]
    mean_absolute_error: float | None
    coverage: float | None
    alert: bool
    alert_night: str | None
    reason: str

    @property
    def matured_nights(self) -> int:
        return len(self.nights)


CONCEPT_DRIFT = "concept drift suspected"


def grade_estimates(
    metric: str, method: str, nights: Sequence[NightFigures], consecutive_misses: int = 3
) -> EstimateGrading:
    """Grade the nights (in date order) that have both an estimate and a realized figure; the others are
    skipped, so a withheld night neither breaks nor extends a run of misses. The alert stands while the latest
    run of misses is at least `consecutive_misses` long."""
    if consecutive_misses < 1:
        raise ValueError(f"consecutive_misses must be at least 1, got {consecutive_misses}")
    graded: list[GradedNight] = []
    errors = 0.0
    covered_count = interval_count = run = 0
    run_start: str | None = None
    alert_night: str | None = None
    for n in sorted(nights, key=lambda n: n.night):
        if n.estimate is None or n.realized is None:
            continue
        error = abs(n.estimate - n.realized)
        errors += error
        covered: bool | None = None
        miss: Miss | None = None
        if n.lower is not None and n.upper is not None:
            interval_count += 1
            covered = n.lower <= n.realized <= n.upper
            covered_count += covered
            if not covered:
                miss = "below" if n.realized < n.lower else "above"
        if miss is None:
            run, run_start, alert_night = 0, None, None
        else:
            run += 1
            run_start = run_start or n.night
            if run == consecutive_misses:
                alert_night = n.night
        graded.append(
            GradedNight(
                n.night,
                error,
                covered,
                miss,
                run,
                errors / (len(graded) + 1),
                covered_count / interval_count if interval_count else None,
            )
        )
    if not graded:
        reason = "no matured night with an estimate yet"
        return EstimateGrading(metric, method, (), None, None, False, None, reason)
    alert = run >= consecutive_misses
    mae = graded[-1].running_mae
    coverage = graded[-1].running_coverage
    if alert:
        reason = (
            f"{CONCEPT_DRIFT}: realized {metric} outside the {method} interval on {run} matured nights in a row "
            f"(from {run_start}, latest {graded[-1].miss} it), mean absolute error {mae:.4f}"
        )
    else:
        shown = "n/a" if coverage is None else f"{coverage:.0%}"
        reason = (
            f"{method} {metric} over {len(graded)} matured night(s): mean absolute error {mae:.4f}, "
            f"interval coverage {shown}"
        )
    return EstimateGrading(
        metric, method, tuple(graded), mae, coverage, alert, alert_night if alert else None, reason
    )
