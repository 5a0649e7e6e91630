"""Score calibration for performance estimation: the expected calibration error, and an isotonic map from the
model's score to the probability of the positive class, fitted on a labelled out-of-sample holdout and kept
only where cross-fitting shows it lowers that error or the error of the ROC AUC that CBPE would estimate. Stored as plain JSON (two threshold arrays), never pickled,
beside the champion's reference profile."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import StratifiedKFold

from tabular_mlops.stats.metrics import RankedScores, check_labels, require_finite, weighted_metrics
from tabular_mlops.stats.records import JsonRecord

CalibratorKind = Literal["isotonic", "identity"]
# Differences below this are floating-point noise, not a calibrator that helps.
TIE = 1e-9


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
    """The calibrator chosen on a holdout and why: isotonic when, cross-fitted, it lowers the ECE or the error of
    the ROC AUC CBPE implies, identity otherwise; None (with the reason) when the holdout cannot calibrate."""

    calibrator: ScoreCalibrator | None
    reason: str
    rows: int
    positives: int
    ece_raw: float | None = None
    ece_isotonic_cross_fitted: float | None = None
    auc_error_raw: float | None = None
    auc_error_isotonic_cross_fitted: float | None = None

    def __post_init__(self) -> None:
        require_finite(
            self, "ece_raw", "ece_isotonic_cross_fitted", "auc_error_raw", "auc_error_isotonic_cross_fitted"
        )


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
    map is judged on folds it was not fitted on, so its in-sample perfection does not count."""
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
    # ECE is dominated by the bulk of low scores; CBPE also needs the spread of the probabilities right. Scores
    # with a low ECE but too little spread understate the ROC AUC CBPE implies (benchmarks/RESULTS-estimation.md),
    # so the error of that implied ROC AUC on the holdout is the second judge.
    ranked = RankedScores.of(s, 1.0)  # one ranking serves the three ROC AUCs below
    realized_auc = _ranked_roc_auc(ranked, y.astype(np.float64))
    auc_error_raw = abs(_ranked_roc_auc(ranked, s) - realized_auc)
    auc_error_iso = abs(_ranked_roc_auc(ranked, out_of_fold) - realized_auc)
    figures = (
        f"ECE raw {ece_raw:.4f}, isotonic {ece_iso:.4f}; implied ROC AUC error raw {auc_error_raw:.4f}, "
        f"isotonic {auc_error_iso:.4f} (isotonic cross-fitted, {folds} folds)"
    )
    fit = CalibrationFit(None, "", rows, positives, ece_raw, ece_iso, auc_error_raw, auc_error_iso)
    lowers_ece, lowers_auc_error = ece_iso < ece_raw - TIE, auc_error_iso < auc_error_raw - TIE
    if lowers_ece or lowers_auc_error:
        return replace(
            fit,
            calibrator=_isotonic(s, y),
            reason=f"isotonic: lowers the {_which(lowers_ece, lowers_auc_error)}: {figures}",
        )
    return replace(
        fit,
        calibrator=ScoreCalibrator("identity"),
        reason=f"identity: isotonic lowers neither the ECE nor the implied ROC AUC error: {figures}",
    )


def _which(ece: bool, auc: bool) -> str:
    return " and the ".join(n for n, lowered in (("ECE", ece), ("implied ROC AUC error", auc)) if lowered)


def implied_roc_auc(scores: np.ndarray, positive_weight: np.ndarray) -> float:
    """ROC AUC of `scores` when each row counts `positive_weight` as a positive and the rest as a negative: the
    realized figure for 0/1 labels, CBPE's estimate for calibrated probabilities."""
    return _ranked_roc_auc(RankedScores.of(scores, 1.0), positive_weight)


def _ranked_roc_auc(ranked: RankedScores, positive_weight: np.ndarray) -> float:
    w = positive_weight[ranked.order]
    return float(weighted_metrics(ranked, w, 1.0 - w)["roc_auc"][0])


def _isotonic(scores: np.ndarray, labels: np.ndarray) -> ScoreCalibrator:
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, labels)
    x = tuple(float(v) for v in model.X_thresholds_)
    values = tuple(min(max(float(v), 0.0), 1.0) for v in model.y_thresholds_)
    return ScoreCalibrator("isotonic", x, values)
