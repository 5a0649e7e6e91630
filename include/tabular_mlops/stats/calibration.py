"""Score calibration for performance estimation: the expected calibration error, and an isotonic map from the
model's score to the probability of the positive class, fitted on a labelled out-of-sample holdout and kept
only where cross-fitting shows it lowers that error. Stored as plain JSON (two threshold arrays), never pickled,
beside the champion's reference profile."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import StratifiedKFold

from tabular_mlops.stats.metrics import check_labels, require_finite
from tabular_mlops.stats.records import JsonRecord

CalibratorKind = Literal["isotonic", "identity"]


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """Row-weighted mean |mean probability - observed rate| over `bins` equal-count bins. Equal-count, not
    equal-width: at a few percent positives nearly every score falls in the first tenth of [0, 1]."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = check_labels(labels, "labels")
    if p.size == 0:
        raise ValueError("expected_calibration_error needs at least one row")
    if p.shape != y.shape:
        raise ValueError(f"probabilities ({p.size}) and labels ({y.size}) differ in length")
    if not np.isfinite(p).all():
        raise ValueError(f"probabilities hold {int((~np.isfinite(p)).sum())} missing or infinite value(s)")
    order = np.argsort(p, kind="stable")
    error = 0.0
    for chunk in np.array_split(order, min(bins, p.size)):
        error += chunk.size * abs(float(p[chunk].mean()) - float(y[chunk].mean()))
    return error / p.size


@dataclass(frozen=True)
class ScoreCalibrator(JsonRecord):
    """Maps a model score to a calibrated probability: piecewise linear through (thresholds, values), constant
    beyond the ends (what sklearn's IsotonicRegression(out_of_bounds="clip") predicts), or the identity."""

    kind: CalibratorKind
    thresholds: tuple[float, ...] = ()
    values: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("isotonic", "identity"):
            raise ValueError(f"calibrator kind must be 'isotonic' or 'identity', got {self.kind!r}")
        if self.kind == "isotonic":
            x, y = np.asarray(self.thresholds), np.asarray(self.values)
            if x.size == 0 or x.size != y.size:
                raise ValueError("an isotonic calibrator needs as many thresholds as values, at least one")
            if not (np.isfinite(x).all() and np.isfinite(y).all()):
                raise ValueError("calibrator thresholds and values must be finite numbers")
            if np.any(np.diff(x) < 0) or np.any(np.diff(y) < 0) or y.min() < 0 or y.max() > 1:
                raise ValueError("calibrator thresholds and values must be non-decreasing, values in [0, 1]")

    def apply(self, scores: np.ndarray) -> np.ndarray:
        s = np.asarray(scores, dtype=np.float64)
        if self.kind == "identity":
            return np.clip(s, 0.0, 1.0)
        return np.interp(s, self.thresholds, self.values)


@dataclass(frozen=True)
class CalibrationFit(JsonRecord):
    """The calibrator chosen on a holdout and why: isotonic when its cross-fitted ECE is lower than the raw
    scores', identity otherwise; None (with the reason) when the holdout cannot calibrate anything."""

    calibrator: ScoreCalibrator | None
    reason: str
    rows: int
    positives: int
    ece_raw: float | None = None
    ece_isotonic_cross_fitted: float | None = None

    def __post_init__(self) -> None:
        require_finite(self, "ece_raw", "ece_isotonic_cross_fitted")


def fit_calibrator(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    folds: int = 5,
    bins: int = 10,
    min_rows: int = 200,
    seed: int = 0,
) -> CalibrationFit:
    """Choose a calibrator on the holdout's (score, label) pairs (rows the model never trained on). The isotonic
    map is judged by its ECE on folds it was not fitted on, so its in-sample perfection does not count."""
    s = np.asarray(scores, dtype=np.float64)
    y = check_labels(labels, "holdout labels")
    if s.shape != y.shape:
        raise ValueError(f"holdout scores ({s.size}) and labels ({y.size}) differ in length")
    if not np.isfinite(s).all():
        raise ValueError(
            f"holdout scores hold {int((~np.isfinite(s)).sum())} missing value(s): the model must score every "
            "holdout row"
        )
    rows, positives = int(s.size), int(y.sum())
    if rows < min_rows:
        return CalibrationFit(
            None, f"holdout has {rows} rows, fewer than min_rows={min_rows}", rows, positives
        )
    if positives in (0, rows):
        only = "positive" if positives else "negative"
        return CalibrationFit(None, f"holdout has a single class (all {rows} rows {only})", rows, positives)
    minority = min(positives, rows - positives)
    folds = min(folds, minority)
    if folds < 2:
        return CalibrationFit(
            None, f"holdout has {minority} row(s) of its rarer class: cannot cross-fit", rows, positives
        )
    ece_raw = expected_calibration_error(s, y, bins)
    out_of_fold = np.empty_like(s)
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(s, y):
        out_of_fold[test] = _isotonic(s[train], y[train]).apply(s[test])
    ece_iso = expected_calibration_error(out_of_fold, y, bins)
    if not ece_iso < ece_raw:
        reason = (
            f"identity: isotonic does not lower the ECE (cross-fitted {ece_iso:.4f} vs raw {ece_raw:.4f})"
        )
        return CalibrationFit(ScoreCalibrator("identity"), reason, rows, positives, ece_raw, ece_iso)
    reason = f"isotonic: lowers the ECE from {ece_raw:.4f} to {ece_iso:.4f} (cross-fitted, {folds} folds)"
    return CalibrationFit(_isotonic(s, y), reason, rows, positives, ece_raw, ece_iso)


def _isotonic(scores: np.ndarray, labels: np.ndarray) -> ScoreCalibrator:
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, labels)
    x = tuple(float(v) for v in model.X_thresholds_)
    values = tuple(min(max(float(v), 0.0), 1.0) for v in model.y_thresholds_)
    return ScoreCalibrator("isotonic", x, values)
