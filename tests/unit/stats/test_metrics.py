"""The shared metric code against sklearn's, and the results' JSON form."""

import json

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)
from tabular_mlops.stats.metrics import (
    METRIC_NAMES,
    MetricEstimate,
    PerformanceEstimate,
    RankedScores,
    draw_block_sizes,
    drawn_metrics,
    realized_performance,
    stable_argsort,
    weighted_metrics,
)


@pytest.mark.parametrize("decimals", [2, 6])  # 2: many tied scores
def test_realized_figures_equal_sklearns(decimals):
    rng = np.random.default_rng(3)
    scores = np.round(rng.beta(1, 12, 4000), decimals)
    labels = (rng.random(4000) < scores).astype(int)
    got = realized_performance(scores, labels, 0.1)
    flagged = (scores >= 0.1).astype(int)
    expected = {
        "roc_auc": roc_auc_score(labels, scores),
        "pr_auc": average_precision_score(labels, scores),
        "precision": precision_score(labels, flagged),
        "recall": recall_score(labels, flagged),
        "flag_rate": flagged.mean(),
        "brier": brier_score_loss(labels, scores),
    }
    for name in METRIC_NAMES:
        assert got.metric(name).value == pytest.approx(expected[name], abs=1e-12), name
    assert got.cells.true_positive == int(((flagged == 1) & (labels == 1)).sum())


def test_weights_act_as_repeated_rows():
    rng = np.random.default_rng(4)
    scores = rng.random(300)
    labels = (rng.random(300) < scores).astype(int)
    counts = rng.integers(0, 4, 300)
    ranked = RankedScores.of(scores, 0.5)
    y = labels[ranked.order].astype(float)
    c = counts[ranked.order]
    got = weighted_metrics(ranked, c * y, c * (1 - y))
    repeated = np.repeat(np.arange(300), counts)
    assert got["roc_auc"][0] == pytest.approx(roc_auc_score(labels[repeated], scores[repeated]))
    assert got["pr_auc"][0] == pytest.approx(average_precision_score(labels[repeated], scores[repeated]))


def test_undefined_figures_are_none_with_a_reason():
    scores = np.array([0.01, 0.02, 0.03, 0.04])
    got = realized_performance(scores, np.zeros(4, dtype=int), 0.5)
    assert got.metric("roc_auc").value is None and "no positive" in got.metric("roc_auc").reason
    assert got.metric("precision").value is None and "no row scored" in got.metric("precision").reason
    assert got.metric("flag_rate").value == 0.0


def test_nan_scores_are_left_out_and_counted():
    got = realized_performance(np.array([0.9, np.nan, 0.1, 0.2]), np.array([1, 1, 0, 0]), 0.5)
    assert got.rows == 3 and got.details["rows_without_score"] == 1
    assert got.metric("roc_auc").value == 1.0


def test_labels_other_than_0_1_are_refused():
    with pytest.raises(ValueError, match="must be 0/1"):
        realized_performance(np.array([0.1, 0.2]), np.array([0, 2]), 0.5)
    with pytest.raises(ValueError, match="missing"):
        realized_performance(np.array([0.1, 0.2]), np.array([0.0, np.nan]), 0.5)


def test_performance_estimate_round_trips_through_json():
    rng = np.random.default_rng(5)
    scores = rng.random(200)
    est = realized_performance(scores, (rng.random(200) < scores).astype(int), 0.5)
    again = PerformanceEstimate.from_dict(json.loads(json.dumps(est.to_dict(), allow_nan=False)))
    assert again == est


def test_a_nan_figure_is_refused_when_read_back():
    with pytest.raises(ValueError, match="MetricEstimate.value is nan: a figure is a finite number or None"):
        MetricEstimate.from_dict({"value": float("nan")})
    with pytest.raises(ValueError, match="never NaN"):
        PerformanceEstimate("cbpe", 1, {}, details={"domain_auc": float("nan")}).to_dict()


def test_draws_in_blocks_equal_draws_made_at_once():
    """CBPE and importance weighting evaluate their draws a block at a time (to keep temporaries small); a seeded
    generator makes the same draws either way, so the figures are those of one draws x rows matrix."""
    rng = np.random.default_rng(6)
    scores = np.round(rng.random(5000), 3)  # tied scores too
    p = scores[RankedScores.of(scores, 0.5).order]
    ranked = RankedScores.of(scores, 0.5)
    blocks = draw_block_sizes(200, scores.size)
    assert len(blocks) > 1 and sum(blocks) == 200
    at_once = np.random.default_rng(7).random((200, scores.size)) < p
    expected = weighted_metrics(ranked, at_once, ~at_once)
    block_rng = np.random.default_rng(7)

    def draw(n):
        labels = block_rng.random((n, scores.size)) < p
        return labels, ~labels

    got = drawn_metrics(ranked, blocks, draw)
    for name in METRIC_NAMES:
        assert got[name].shape == (200,)
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-12, err_msg=name)


@pytest.mark.parametrize(
    "make",
    [
        lambda rng: rng.random(50_000),  # distinct scores: no tie to put back in order
        lambda rng: np.round(rng.random(50_000), 3),  # every score tied (the probe sees it): the stable sort
        lambda rng: np.concatenate([np.repeat(rng.random(800), 2), rng.random(800)]),  # 2/3 tied, found after
        lambda rng: np.concatenate([rng.random(50_000), np.full(40, 0.25), [0.0, -0.0, 0.0]]),  # a few runs
        lambda rng: np.where(rng.random(5_000) < 0.01, np.nan, rng.random(5_000)),  # NaNs last, in row order
        lambda rng: rng.integers(0, 3, 1_000),
        lambda rng: np.array([0.5]),
        lambda rng: np.array([]),
    ],
    ids=["distinct", "tied", "tied-unprobed", "few-runs", "nan", "ints", "one", "empty"],
)
def test_stable_argsort_is_numpys_stable_argsort(make):
    keys = make(np.random.default_rng(11))
    for k in (keys, -keys, keys[::-1].copy()):
        np.testing.assert_array_equal(stable_argsort(k), np.argsort(k, kind="stable"))


def _curve_areas_with_shifted_copies(ranked, positive, negative):
    """ROC AUC and PR AUC as weighted_metrics computed them before it stopped building shifted copies."""
    tp, fp = np.cumsum(positive, axis=1), np.cumsum(negative, axis=1)
    if ranked.group_ends.size < ranked.scores.size:
        tp, fp = tp[:, ranked.group_ends], fp[:, ranked.group_ends]
    zeros = np.zeros((tp.shape[0], 1))
    tp_prev = np.concatenate([zeros, tp[:, :-1]], axis=1)
    fp_prev = np.concatenate([zeros, fp[:, :-1]], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = np.sum((fp - fp_prev) * (tp + tp_prev), axis=1) / (2.0 * tp[:, -1] * fp[:, -1])
        precision_at = np.where(tp + fp > 0, tp / np.where(tp + fp > 0, tp + fp, 1.0), 0.0)
        pr_auc = np.sum((tp - tp_prev) * precision_at, axis=1) / tp[:, -1]
    return auc, pr_auc


@pytest.mark.parametrize("decimals", [2, None])  # tied scores; distinct scores
def test_curve_areas_are_the_shifted_copy_formulas_to_the_bit(decimals):
    rng = np.random.default_rng(12)
    scores = rng.beta(1, 10, 5000)
    scores = np.round(scores, decimals) if decimals else scores
    ranked = RankedScores.of(scores, 0.1)
    p = scores[ranked.order]
    drawn = (rng.random((40, scores.size)) < p).astype(np.float64)
    for positive, negative in ((np.atleast_2d(p), np.atleast_2d(1.0 - p)), (drawn, 1.0 - drawn)):
        got = weighted_metrics(ranked, positive, negative)
        auc, pr_auc = _curve_areas_with_shifted_copies(ranked, positive, negative)
        np.testing.assert_array_equal(got["roc_auc"], auc)
        np.testing.assert_array_equal(got["pr_auc"], pr_auc)
