"""CBPE: estimates from scores alone, checked against labels drawn from the same world."""

import json

import numpy as np
import pytest
from tabular_mlops.stats.calibration import CalibrationFit, ScoreCalibrator, fit_calibrator, implied_roc_auc
from tabular_mlops.stats.cbpe import EstimationSettings, estimate_cbpe
from tabular_mlops.stats.metrics import METRIC_NAMES, PerformanceEstimate, realized_performance

IDENTITY = CalibrationFit(ScoreCalibrator("identity"), "identity: test", 1000, 50)


def night(n, seed, power=1.0):
    """Scores and labels whose true positive rate is score**power (1: the scores are calibrated)."""
    rng = np.random.default_rng(seed)
    scores = rng.beta(1, 10, n)
    return scores, (rng.random(n) < scores**power).astype(int)


def test_the_interval_covers_the_realized_figures_about_as_often_as_it_says():
    settings = EstimationSettings(draws=100, seed=1)
    hits = {m: 0 for m in METRIC_NAMES if m != "flag_rate"}
    for seed in range(30):
        scores, labels = night(1000, seed)
        est = estimate_cbpe(scores, 0.15, IDENTITY, settings)
        real = realized_performance(scores, labels, 0.15)
        for m in hits:
            hits[m] += est.metric(m).covers(real.metric(m).value)
    # 95% intervals over 30 nights: fewer than 24 hits would be a 1-in-5,000 event.
    assert all(h >= 24 for h in hits.values()), hits


def test_flag_rate_is_known_exactly_from_the_scores():
    scores, _ = night(3000, 2)
    est = estimate_cbpe(scores, 0.15, IDENTITY)
    fr = est.metric("flag_rate")
    assert fr.value == pytest.approx((scores >= 0.15).mean())
    assert fr.lower == pytest.approx(fr.value, abs=1e-12) and fr.upper == pytest.approx(fr.value, abs=1e-12)


def test_a_calibrator_fitted_on_the_holdout_corrects_miscalibrated_scores():
    scores, labels = night(8000, 3, power=0.6)
    fit = fit_calibrator(scores, labels)
    tonight, tonight_labels = night(4000, 4, power=0.6)
    real = realized_performance(tonight, tonight_labels, 0.15).metric("recall").value
    calibrated = estimate_cbpe(tonight, 0.15, fit).metric("recall")
    raw = estimate_cbpe(tonight, 0.15, IDENTITY).metric("recall")
    assert abs(calibrated.value - real) < abs(raw.value - real)
    assert calibrated.covers(real)


def test_a_tiny_night_is_withheld_with_the_reason():
    scores, _ = night(120, 5)
    est = estimate_cbpe(scores, 0.15, IDENTITY, EstimationSettings(min_rows=500))
    assert est.withheld and "120 scored rows, fewer than min_rows=500" in est.reason
    assert all(est.metric(m).value is None for m in METRIC_NAMES)


def test_nan_scores_are_left_out_and_counted():
    scores, _ = night(1000, 6)
    scores[:30] = np.nan
    est = estimate_cbpe(scores, 0.15, IDENTITY)
    assert est.rows == 970 and est.details["rows_without_score"] == 30
    assert est.metric("roc_auc").value is not None


def test_no_calibrator_withholds_with_the_calibrations_reason():
    no_cal = CalibrationFit(None, "holdout has a single class (all 600 rows negative)", 600, 0)
    est = estimate_cbpe(night(1000, 7)[0], 0.15, no_cal)
    assert est.withheld and "single class" in est.reason


def test_no_flagged_row_leaves_precision_without_a_value():
    est = estimate_cbpe(night(1000, 8)[0], 1.01, IDENTITY)
    assert est.metric("precision").value is None and "no row scored" in est.metric("precision").reason
    assert est.metric("recall").value == 0.0


def test_a_large_night_samples_its_draws_and_scales_the_width():
    scores, _ = night(8000, 9)
    settings = EstimationSettings(draws=300, draw_rows=2000)
    full = estimate_cbpe(scores[:2000], 0.15, IDENTITY, settings).metric("roc_auc")
    sampled = estimate_cbpe(scores, 0.15, IDENTITY, settings).metric("roc_auc")
    # Four times the rows: half the width.
    assert (sampled.upper - sampled.lower) / (full.upper - full.lower) == pytest.approx(0.5, rel=0.25)


def test_round_trips_through_json_with_no_nan():
    est = estimate_cbpe(night(1000, 10)[0], 1.01, IDENTITY)
    text = json.dumps(est.to_dict(), allow_nan=False)
    assert PerformanceEstimate.from_dict(json.loads(text)) == est


def test_settings_refuse_nonsense():
    with pytest.raises(ValueError, match="confidence"):
        EstimationSettings(confidence=1.5)
    with pytest.raises(ValueError, match="draws"):
        EstimationSettings(draws=3)


def test_probabilities_calibrated_in_ranked_order_are_the_row_orders():
    """CBPE calibrates the night's scores after ranking them (np.interp is faster on sorted values); its figures
    must be those of the calibrated probabilities in row order, to the bit."""
    scores, labels = night(20_000, 9, power=1.6)
    fit = fit_calibrator(scores[:8000], labels[:8000])
    assert fit.calibrator is not None and fit.calibrator.kind == "isotonic"
    est = estimate_cbpe(scores, 0.15, fit)
    p = fit.calibrator.apply(scores)
    assert est.details["expected_positive_rate"] == float(p.mean())
    assert est.metric("roc_auc").value == implied_roc_auc(scores, p)
    assert est.cells is not None
    assert est.cells.true_positive == pytest.approx(float(p[scores >= 0.15].sum()), rel=1e-12)
