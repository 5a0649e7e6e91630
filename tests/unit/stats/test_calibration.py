"""Calibration: ECE, the isotonic map kept only where cross-fitting shows it helps, and its JSON form."""

import json

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression
from tabular_mlops.stats.calibration import (
    CalibrationFit,
    ScoreCalibrator,
    expected_calibration_error,
    fit_calibrator,
)


def holdout(n=6000, power=1.0, seed=0):
    """Scores whose true positive rate is score**power (power 1: calibrated)."""
    rng = np.random.default_rng(seed)
    scores = rng.beta(1, 10, n)
    labels = (rng.random(n) < scores**power).astype(int)
    return scores, labels


def test_ece_by_hand():
    # Two equal-count bins: mean p 0.1 vs rate 0.0, mean p 0.7 vs rate 0.5.
    p = np.array([0.1, 0.1, 0.6, 0.8])
    y = np.array([0, 0, 1, 0])
    assert expected_calibration_error(p, y, bins=2) == pytest.approx((2 * 0.1 + 2 * 0.2) / 4)


def test_isotonic_kept_where_it_lowers_the_cross_fitted_ece():
    scores, labels = holdout(power=0.6)  # true rate well above the score: under-confident
    fit = fit_calibrator(scores, labels)
    assert fit.calibrator is not None and fit.calibrator.kind == "isotonic", fit.reason
    assert fit.ece_isotonic_cross_fitted < fit.ece_raw
    fresh, fresh_labels = holdout(power=0.6, seed=1)
    assert expected_calibration_error(fit.calibrator.apply(fresh), fresh_labels) < expected_calibration_error(
        fresh, fresh_labels
    )


def test_identity_when_isotonic_does_not_help():
    # Five score levels whose rows default exactly at their score, the defaults spread evenly: the raw scores
    # have no calibration error and imply exactly the realized ROC AUC, so nothing can do better.
    levels = [0.02, 0.05, 0.1, 0.2, 0.4]
    scores = np.repeat(levels, 1000)
    labels = np.concatenate(
        [(np.arange(1000) % round(1 / p) == 0).astype(int) for p in [0.02, 0.05, 0.1, 0.2]]
        + [(np.arange(1000) % 5 < 2).astype(int)]
    )
    assert labels.reshape(5, 1000).mean(axis=1) == pytest.approx(levels)
    fit = fit_calibrator(scores, labels)
    assert fit.calibrator == ScoreCalibrator("identity"), fit.reason
    assert fit.reason.startswith("identity: isotonic lowers neither the ECE nor the implied ROC AUC error")
    assert fit.ece_raw == pytest.approx(0.0, abs=1e-12) and fit.auc_error_raw == pytest.approx(0.0, abs=1e-12)


def test_under_dispersed_scores_get_isotonic_and_a_smaller_implied_auc_error():
    # True rate = score**1.6 rescaled to the same mean: the ECE barely sees it, the implied ROC AUC does.
    rng = np.random.default_rng(7)
    scores = rng.beta(1, 20, 20_000)
    truth = scores**1.6
    truth *= scores.mean() / truth.mean()
    labels = (rng.random(scores.size) < np.clip(truth, 0, 1)).astype(int)
    fit = fit_calibrator(scores, labels)
    assert fit.calibrator.kind == "isotonic", fit.reason
    assert fit.auc_error_isotonic_cross_fitted < fit.auc_error_raw


def test_single_class_holdout_gives_a_reason_and_no_calibrator():
    scores = np.linspace(0, 0.2, 500)
    fit = fit_calibrator(scores, np.zeros(500, dtype=int))
    assert fit.calibrator is None and "single class" in fit.reason


def test_too_few_rows_or_minority_rows():
    scores, labels = holdout(n=100)
    assert "fewer than min_rows" in fit_calibrator(scores, labels).reason
    labels = np.zeros(400, dtype=int)
    labels[0] = 1
    fit = fit_calibrator(np.linspace(0, 1, 400), labels)
    assert fit.calibrator is None and "cannot cross-fit" in fit.reason


def test_nan_holdout_scores_are_an_error():
    scores, labels = holdout(n=300)
    scores[5] = np.nan
    with pytest.raises(ValueError, match="holdout scores hold 1 missing"):
        fit_calibrator(scores, labels)


def test_json_form_predicts_as_sklearn_and_round_trips():
    scores, labels = holdout(power=0.6)
    fit = fit_calibrator(scores, labels)
    text = json.dumps(fit.to_dict(), allow_nan=False)
    again = CalibrationFit.from_dict(json.loads(text))
    assert again == fit
    reference = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(scores, labels)
    probe = np.r_[-1.0, np.linspace(0, 1, 501), 2.0]
    np.testing.assert_allclose(again.calibrator.apply(probe), reference.predict(probe), atol=1e-12)


def test_a_malformed_stored_calibrator_is_refused():
    with pytest.raises(ValueError, match="non-decreasing"):
        ScoreCalibrator.from_dict({"kind": "isotonic", "thresholds": [0.2, 0.1], "values": [0.1, 0.2]})
    with pytest.raises(ValueError, match="kind"):
        ScoreCalibrator.from_dict({"kind": "platt", "thresholds": [], "values": []})
