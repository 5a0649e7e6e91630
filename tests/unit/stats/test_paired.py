"""Paired shadow analysis on simulated applications scored by two models: the sign and interval on a better
challenger, interval coverage on equal ones, DeLong against sklearn and a bootstrap, and the unlabelled figures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from tabular_mlops.stats.paired import (
    PairedShadowReport,
    auc_difference,
    compare_paired,
    loss_improvements,
)
from tabular_mlops.stats.psi import score_psi


def scored_rows(rng, rows, champion_noise=1.0, challenger_noise=1.0):
    """Labels from a true default probability; each model sees the log-odds with its own noise."""
    logit = rng.normal(-2.0, 1.2, rows)
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(float)
    champion = 1 / (1 + np.exp(-(logit + rng.normal(0, champion_noise, rows))))
    challenger = 1 / (1 + np.exp(-(logit + rng.normal(0, challenger_noise, rows))))
    return y, champion, challenger


def test_a_better_challenger_has_the_right_sign_and_intervals_excluding_zero():
    y, champion, challenger = scored_rows(np.random.default_rng(11), 5000, challenger_noise=0.4)
    report = compare_paired(champion, challenger, champion_threshold=0.2, challenger_threshold=0.2, labels=y)
    by_metric = {d.metric: d for d in report.differences}
    for metric in ("brier", "log_loss"):
        d = by_metric[metric]
        assert d.difference < 0 and d.ci_high < 0 and d.favours == "challenger", d.reason
    auc = by_metric["roc_auc"]
    assert auc.difference > 0 and auc.ci_low > 0 and auc.favours == "challenger", auc.reason
    assert {type(v) for v in (auc.champion, auc.difference, auc.ci_low)} == {float}  # not numpy scalars
    # The figures are the usual ones, computed on the same rows.
    assert by_metric["brier"].champion == pytest.approx(brier_score_loss(y, champion))
    assert by_metric["log_loss"].challenger == pytest.approx(log_loss(y, challenger))
    assert auc.champion == pytest.approx(roc_auc_score(y, champion))
    assert auc.challenger == pytest.approx(roc_auc_score(y, challenger))
    assert loss_improvements(y, champion, challenger, "brier").mean() == pytest.approx(
        -by_metric["brier"].difference
    )


def test_the_delong_interval_matches_a_bootstrap_of_the_paired_auc_difference():
    rng = np.random.default_rng(12)
    y, champion, challenger = scored_rows(rng, 3000, challenger_noise=0.7)
    d = auc_difference(y, champion, challenger)
    boot = []
    for _ in range(300):
        i = rng.integers(0, y.size, y.size)
        boot.append(roc_auc_score(y[i], challenger[i]) - roc_auc_score(y[i], champion[i]))
    delong_se = (d.ci_high - d.ci_low) / (2 * 1.959964)
    assert delong_se == pytest.approx(np.std(boot), rel=0.2)


def test_intervals_cover_zero_about_95_percent_of_the_time_between_equal_models():
    rng = np.random.default_rng(13)
    covered = {"brier": 0, "roc_auc": 0}
    reps = 200
    for _ in range(reps):
        y, champion, challenger = scored_rows(rng, 600)
        report = compare_paired(
            champion, challenger, champion_threshold=0.2, challenger_threshold=0.2, labels=y
        )
        for d in report.differences:
            if d.metric in covered:
                covered[d.metric] += d.ci_low <= 0 <= d.ci_high
    for metric, count in covered.items():
        assert 0.90 <= count / reps <= 0.99, (metric, count)


def test_unlabelled_figures_say_how_alike_the_two_models_are():
    y, champion, challenger = scored_rows(np.random.default_rng(14), 4000, challenger_noise=0.4)
    same = compare_paired(champion, champion, champion_threshold=0.2, challenger_threshold=0.2)
    assert same.score_correlation == pytest.approx(1) and same.decision_agreement == 1 and same.score_psi == 0
    assert same.differences == () and same.labelled_rows == 0
    alike = compare_paired(champion, challenger, champion_threshold=0.2, challenger_threshold=0.2)
    assert 0.5 < alike.score_correlation < 1 and 0.7 < alike.decision_agreement < 1
    flips = alike.flagged_by_champion_only + alike.flagged_by_challenger_only
    assert flips == round((1 - alike.decision_agreement) * 4000)
    # A stricter threshold on the same scores flags fewer rows: only the champion flags the rows in between.
    stricter = compare_paired(champion, champion, champion_threshold=0.2, challenger_threshold=0.5)
    between = int(np.sum((champion >= 0.2) & (champion < 0.5)))
    assert stricter.flagged_by_champion_only == between and stricter.flagged_by_challenger_only == 0
    assert score_psi(champion, np.clip(champion * 2, 0, 1)) > 0.25


def test_labels_not_matured_yet_are_left_out_and_the_report_round_trips():
    y, champion, challenger = scored_rows(np.random.default_rng(15), 2000, challenger_noise=0.5)
    partial = y.copy()
    partial[1000:] = np.nan
    report = compare_paired(
        champion, challenger, champion_threshold=0.3, challenger_threshold=0.3, labels=partial
    )
    assert report.rows == 2000 and report.labelled_rows == 1000
    brier = report.differences[0]
    assert brier.champion == pytest.approx(brier_score_loss(y[:1000], champion[:1000]))
    assert PairedShadowReport.from_dict(json.loads(json.dumps(report.to_dict(), allow_nan=False))) == report


def test_degenerate_inputs_give_none_and_reasons():
    few = compare_paired(
        [0.1, 0.9, 0.2],
        [0.2, 0.8, 0.1],
        champion_threshold=0.5,
        challenger_threshold=0.5,
        labels=[0, 1, np.nan],
    )
    auc = few.differences[2]
    assert auc.difference is None and "1 positive and 1 negative" in auc.reason
    flat = compare_paired(
        [0.3] * 10, [0.3] * 10, champion_threshold=0.5, challenger_threshold=0.5, labels=[0, 1] * 5
    )
    assert flat.score_correlation is None and "one score to every row" in flat.reasons[0]
    assert flat.differences[0].ci_low is None and "never differ" in flat.differences[0].reason
    json.dumps(flat.to_dict(), allow_nan=False)


def test_bad_input_is_refused_by_name():
    with pytest.raises(ValueError, match="champion_scores: scores must be finite"):
        compare_paired([0.1, np.nan], [0.1, 0.2], champion_threshold=0.5, challenger_threshold=0.5)
    with pytest.raises(ValueError, match="differ in length"):
        compare_paired([0.1, 0.2], [0.1], champion_threshold=0.5, challenger_threshold=0.5)
    with pytest.raises(ValueError, match="labels: values must be 0, 1 or NaN"):
        compare_paired(
            [0.1, 0.2], [0.1, 0.3], champion_threshold=0.5, challenger_threshold=0.5, labels=[0, 2]
        )
