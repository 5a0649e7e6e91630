"""Business value of a night's decisions: each cell of the confusion matrix at the decision threshold has a
value per row (credit: approved & repaid earns the margin, approved & defaulted loses the loan, declined & would
have repaid costs the forgone margin, declined & would have defaulted is 0). Estimated from the expected cells
before labels arrive, realized from the labels when they mature."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from tabular_mlops.stats.calibration import CalibrationFit
from tabular_mlops.stats.metrics import (
    CellFigures,
    ConfusionCells,
    RankedScores,
    cells_at_threshold,
    check_labels,
    require_finite,
)
from tabular_mlops.stats.records import JsonRecord


@dataclass(frozen=True)
class CellValues(CellFigures):
    """Value of one row in each cell. Positive = the bad class (e.g. default), flagged = score >= threshold (e.g.
    declined): true_negative = approved & repaid, false_negative = approved & defaulted, false_positive =
    declined & would have repaid, true_positive = declined & would have defaulted."""


@dataclass(frozen=True)
class BusinessValue(JsonRecord):
    """A night's value by one method ("cbpe", "importance_weighting" or "realized"): the total, per row, its
    interval where there is one; None with the reason where there is no figure."""

    method: str
    rows: int
    total: float | None
    per_row: float | None
    lower: float | None = None
    upper: float | None = None
    reason: str | None = None
    cells: ConfusionCells | None = None

    def __post_init__(self) -> None:
        require_finite(self, "total", "per_row", "lower", "upper")


def value_of_cells(cells: ConfusionCells, values: CellValues) -> float:
    """Total value of the cells (counts times each cell's value per row)."""
    return (
        cells.true_positive * values.true_positive
        + cells.false_positive * values.false_positive
        + cells.false_negative * values.false_negative
        + cells.true_negative * values.true_negative
    )


def business_value_of(
    method: str, cells: ConfusionCells | None, values: CellValues, reason: str | None
) -> BusinessValue:
    """The value of a performance estimate's expected cells (no interval): e.g. importance weighting's."""
    if cells is None or cells.rows <= 0:
        return BusinessValue(method, 0, None, None, reason=reason or "no cells to value")
    total = value_of_cells(cells, values)
    return BusinessValue(method, round(cells.rows), total, total / cells.rows, cells=cells)


def estimate_business_value(
    scores: np.ndarray,
    threshold: float,
    calibration: CalibrationFit,
    values: CellValues,
    *,
    min_rows: int = 500,
    confidence: float = 0.95,
) -> BusinessValue:
    """The night's expected value from its scores. Value is a sum of independent rows, so its variance under
    y ~ Bernoulli(p) is exact: p(1 - p) times the squared gap between a row's two possible cells."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    s = s[np.isfinite(s)]
    if calibration.calibrator is None:
        return BusinessValue("cbpe", int(s.size), None, None, reason=f"no calibrator: {calibration.reason}")
    if s.size < min_rows:
        return BusinessValue(
            "cbpe", int(s.size), None, None, reason=f"{s.size} scored rows, fewer than min_rows={min_rows}"
        )
    p = calibration.calibrator.apply(s)
    flagged = s >= threshold
    # The cells at one threshold need no ranking (a sort of the night): sums over the flagged rows and the rest.
    flagged_positive, positive = float(p[flagged].sum()), float(p.sum())
    flagged_rows = int(np.count_nonzero(flagged))
    cells = ConfusionCells(
        flagged_positive,
        flagged_rows - flagged_positive,
        positive - flagged_positive,
        (s.size - flagged_rows) - (positive - flagged_positive),
    )
    total = value_of_cells(cells, values)
    gap = np.where(
        flagged, values.true_positive - values.false_positive, values.false_negative - values.true_negative
    )
    half = float(norm.ppf(0.5 + confidence / 2) * np.sqrt(np.sum(p * (1.0 - p) * gap**2)))
    return BusinessValue("cbpe", int(s.size), total, total / s.size, total - half, total + half, None, cells)


def realized_business_value(
    scores: np.ndarray, labels: np.ndarray, threshold: float, values: CellValues
) -> BusinessValue:
    """The night's value from its matured labels (rows without a score are left out)."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = check_labels(labels, "labels").ravel()
    if s.shape != y.shape:
        raise ValueError(f"scores ({s.size}) and labels ({y.size}) differ in length")
    present = np.isfinite(s)
    s, y = s[present], y[present].astype(np.float64)
    if s.size == 0:
        return BusinessValue("realized", 0, None, None, reason="no row with both a score and a label")
    ranked = RankedScores.of(s, threshold)
    cells = cells_at_threshold(ranked, y[ranked.order], 1.0 - y[ranked.order])
    total = value_of_cells(cells, values)
    return BusinessValue("realized", int(s.size), total, total / s.size, cells=cells)


def row_values(decisions: np.ndarray, labels: np.ndarray, values: CellValues) -> np.ndarray:
    """Each row's value: the value of its cell (flagged = decision 1, positive = label 1); a bandit's per-row
    reward when params.yaml sets business_value."""
    d = np.asarray(decisions, dtype=np.float64).ravel()
    y = check_labels(labels, "labels").ravel()
    if d.shape != y.shape:
        raise ValueError(f"decisions ({d.size}) and labels ({y.size}) differ in length")
    flagged, positive = d == 1, y == 1
    return np.where(
        flagged,
        np.where(positive, values.true_positive, values.false_positive),
        np.where(positive, values.false_negative, values.true_negative),
    ).astype(np.float64)
