"""Importance weighting: a real domain classifier on frames with a known shift."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from tabular_mlops.stats.cbpe import EstimationSettings
from tabular_mlops.stats.importance import ImportanceSettings, domain_weights, estimate_importance_weighted
from tabular_mlops.stats.metrics import PerformanceEstimate, realized_performance

FEATURES = ["x", "colour", "empty"]
SETTINGS = EstimationSettings(min_rows=300, draws=100)
FAST = ImportanceSettings(folds=2, max_fit_rows=3000)


def frame(n, shift, seed):
    """x ~ N(shift, 1), a category leaning with x, an all-missing column; P(y=1 | x) the same everywhere, and
    the model's score that very probability (so reference and night differ only in who applies)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    colour = np.where(rng.random(n) < 1 / (1 + np.exp(-x)), "red", "blue").astype(object)
    df = pd.DataFrame({"x": x, "colour": colour, "empty": np.full(n, np.nan)})
    score = 1 / (1 + np.exp(-(x - 2.5)))
    return df, score, (rng.random(n) < score).astype(int)


def test_weights_follow_the_shift_and_the_estimate_tracks_the_realized_figure():
    ref, ref_scores, ref_labels = frame(3000, 0.0, 1)
    cur, cur_scores, cur_labels = frame(2000, 0.8, 2)
    est = estimate_importance_weighted(ref, ref_scores, ref_labels, cur, FEATURES, 0.3, SETTINGS, FAST)
    real = realized_performance(cur_scores, cur_labels, 0.3)
    unweighted = realized_performance(ref_scores, ref_labels, 0.3)
    assert not est.withheld, est.reason
    assert est.details["ignored_columns"] == "empty"
    assert 0.6 < est.details["domain_auc"] < 0.9
    assert est.details["effective_rows"] < 3000
    for m in ("recall", "flag_rate", "precision"):
        # Closer to tonight's truth than the reference's own figure, and inside its interval.
        assert abs(est.metric(m).value - real.metric(m).value) < abs(
            unweighted.metric(m).value - real.metric(m).value
        ), m
        assert est.metric(m).covers(real.metric(m).value), m
    assert est.cells.rows == pytest.approx(2000)
    assert PerformanceEstimate.from_dict(json.loads(json.dumps(est.to_dict(), allow_nan=False))) == est


def test_no_overlap_is_reported_without_dividing_by_zero():
    ref, ref_scores, ref_labels = frame(1500, 0.0, 3)
    cur, _, _ = frame(1000, 12.0, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        est = estimate_importance_weighted(ref, ref_scores, ref_labels, cur, FEATURES, 0.3, SETTINGS, FAST)
    assert est.withheld and est.reason.startswith("no overlap") and est.details["domain_auc"] >= 0.99
    assert all(np.isfinite(v) for k, v in est.details.items() if isinstance(v, float))


def test_too_small_an_effective_sample_is_withheld():
    ref, ref_scores, ref_labels = frame(1500, 0.0, 5)
    cur, _, _ = frame(1000, 1.5, 6)
    strict = ImportanceSettings(
        folds=2, max_fit_rows=3000, min_effective_rows=1400, max_unsupported_share=1.0
    )
    est = estimate_importance_weighted(ref, ref_scores, ref_labels, cur, FEATURES, 0.3, SETTINGS, strict)
    assert (
        est.withheld
        and est.reason.startswith("effective sample size")
        and "min_effective_rows=1400" in est.reason
    )


def test_unchanged_population_gives_weights_near_one():
    ref, _, _ = frame(2000, 0.0, 7)
    cur, _, _ = frame(2000, 0.0, 8)
    dw = domain_weights(ref, cur, FEATURES, FAST)
    assert dw.domain_auc < 0.6 and dw.effective_rows > 1500
    assert dw.weights.mean() == pytest.approx(1.0) and dw.weights.max() <= FAST.max_weight + 1e-9


def test_tiny_night_single_class_and_missing_column():
    ref, ref_scores, ref_labels = frame(1000, 0.0, 9)
    cur, _, _ = frame(100, 0.0, 10)
    tiny = estimate_importance_weighted(ref, ref_scores, ref_labels, cur, FEATURES, 0.3, SETTINGS, FAST)
    assert tiny.withheld and "100 rows tonight" in tiny.reason
    cur, _, _ = frame(1000, 0.0, 11)
    one_class = estimate_importance_weighted(
        ref, ref_scores, np.zeros(1000, int), cur, FEATURES, 0.3, SETTINGS, FAST
    )
    assert one_class.withheld and "single class" in one_class.reason
    with pytest.raises(KeyError, match=r"current frame lacks feature column\(s\) \['colour'\]"):
        estimate_importance_weighted(ref, ref_scores, ref_labels, cur.drop(columns="colour"), FEATURES, 0.3)


def test_rows_the_reference_holds_nothing_like_are_counted_and_withhold_the_estimate():
    ref, ref_scores, ref_labels = frame(2000, 0.0, 12)
    near, _, _ = frame(600, 0.0, 13)
    far, _, _ = frame(400, 12.0, 14)
    cur = pd.concat([near, far], ignore_index=True)
    est = estimate_importance_weighted(ref, ref_scores, ref_labels, cur, FEATURES, 0.3, SETTINGS, FAST)
    assert est.withheld and est.reason.startswith("no overlap for 40% of tonight's rows"), est.reason
    assert est.details["unsupported_share"] == pytest.approx(0.4, abs=0.03)
