"""The mixture SPRT in seeded simulations, looked at every night: power on a better challenger, false winners
between identical models (and what a t-test read every night would do), non-inferiority, and the stateful
nightly `update` agreeing with the vectorised paths."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats
from tabular_mlops.stats.sequential import (
    VERDICTS,
    Look,
    SequentialDesign,
    SequentialResult,
    Verdict,
    paired_look,
    plan_max_samples,
    run_paths,
    two_sample_look,
    update,
)

RUNS = 1000
ROWS_PER_NIGHT = 50


def brier_improvements(rng, runs, rows, challenger_noise, champion_noise=1.0):
    """Per-row champion Brier - challenger Brier on the same simulated applications (about 10% defaults)."""
    logit = rng.normal(-2.6, 1.0, (runs, rows))
    y = rng.random((runs, rows)) < 1 / (1 + np.exp(-logit))
    champion = 1 / (1 + np.exp(-(logit + rng.normal(0, champion_noise, (runs, rows)))))
    challenger = 1 / (1 + np.exp(-(logit + rng.normal(0, challenger_noise, (runs, rows)))))
    return (champion - y) ** 2 - (challenger - y) ** 2


def nightly_paths(values, rows_per_night):
    """Cumulative (samples, mean, variance of the mean) at the end of every night, for every run."""
    n = np.arange(rows_per_night, values.shape[1] + 1, rows_per_night)
    total = np.cumsum(values, axis=1)[:, n - 1]
    squares = np.cumsum(values**2, axis=1)[:, n - 1]
    mean = total / n
    variance = (squares - n * mean**2) / (n - 1) / n
    return n, mean, variance


def share(codes, verdict):
    return float(np.mean(codes == VERDICTS.index(verdict)))


@pytest.fixture(scope="module")
def better_design():
    """Sized with plan_max_samples from a pilot run of the better challenger (its own seed)."""
    pilot = brier_improvements(np.random.default_rng(1), 1, 200_000, challenger_noise=0.6)
    effect, sd = float(pilot.mean()), float(pilot.std())
    planned = plan_max_samples(effect, sd, alpha=0.05, mixture_sd=effect)
    nights = math.ceil(planned / ROWS_PER_NIGHT)
    return SequentialDesign(
        max_samples=nights * ROWS_PER_NIGHT, mixture_sd=effect, alpha=0.05, min_samples=200
    )


def test_a_truly_better_challenger_is_declared_within_the_planned_sample(better_design):
    values = brier_improvements(
        np.random.default_rng(2), RUNS, better_design.max_samples, challenger_noise=0.6
    )
    n, mean, variance = nightly_paths(values, ROWS_PER_NIGHT)
    codes, stop = run_paths(n, mean, variance, better_design)
    assert share(codes, Verdict.CHALLENGER_BETTER) >= 0.80
    assert share(codes, Verdict.CHALLENGER_WORSE) <= 0.01
    # Every run ends with a verdict at the planned sample at the latest.
    assert share(codes, Verdict.CONTINUE) == 0


def test_identical_models_declare_a_winner_in_at_most_5_percent_of_runs_looked_at_every_night(better_design):
    values = brier_improvements(
        np.random.default_rng(3), RUNS, better_design.max_samples, challenger_noise=1.0
    )
    n, mean, variance = nightly_paths(values, ROWS_PER_NIGHT)
    codes, _ = run_paths(n, mean, variance, better_design)
    winners = share(codes, Verdict.CHALLENGER_BETTER) + share(codes, Verdict.CHALLENGER_WORSE)
    assert winners <= 0.05
    assert len(n) >= 30  # looked at every night for at least a month
    # The same runs read with a fixed-sample t-test every night: peeking makes false winners common.
    t_rejects = (2 * stats.norm.sf(np.abs(mean) / np.sqrt(variance)) < 0.05).any(axis=1)
    assert t_rejects.mean() > 2 * 0.05


def test_two_sample_ab_split_on_a_binary_outcome_has_power_and_few_false_winners():
    design = SequentialDesign(
        max_samples=plan_max_samples(0.03, math.sqrt(2 * 0.1), alpha=0.05, mixture_sd=0.03),
        mixture_sd=0.03,
        min_samples=200,
    )
    rng = np.random.default_rng(4)
    rows = design.max_samples
    champion = rng.random((RUNS, rows)) < 0.12
    better = rng.random((RUNS, rows)) < 0.09  # fewer defaults: lower is better
    same = rng.random((RUNS, rows)) < 0.12
    for challenger, want in ((better, Verdict.CHALLENGER_BETTER), (same, None)):
        n, mean_a, var_a = nightly_paths(champion.astype(float), 200)
        _, mean_b, var_b = nightly_paths(challenger.astype(float), 200)
        codes, _ = run_paths(n, mean_a - mean_b, var_a + var_b, design)  # improvement: fewer defaults
        for run in range(5):  # the nightly API on the same rows reaches the same verdict
            result = None
            for end in n:
                look = two_sample_look(champion[run, :end], challenger[run, :end], higher_is_better=False)
                result = update(design, result, look)
            assert result.verdict is VERDICTS[codes[run]]
        if want is None:
            assert share(codes, Verdict.CHALLENGER_BETTER) + share(codes, Verdict.CHALLENGER_WORSE) <= 0.05
        else:
            assert share(codes, want) >= 0.80


def test_non_inferiority_declares_a_slightly_worse_challenger_and_rarely_one_worse_by_the_margin():
    rng = np.random.default_rng(5)
    margin, sd, rows = 0.02, 0.3, 6000
    design = SequentialDesign(max_samples=rows, mixture_sd=margin, margin=margin, min_samples=200)
    slightly = rng.normal(-0.005, sd, (RUNS, rows))
    at_margin = rng.normal(-margin, sd, (RUNS, rows))
    codes, _ = run_paths(*nightly_paths(slightly, ROWS_PER_NIGHT), design)
    assert share(codes, Verdict.CHALLENGER_NON_INFERIOR) >= 0.80
    codes, _ = run_paths(*nightly_paths(at_margin, ROWS_PER_NIGHT), design)
    assert share(codes, Verdict.CHALLENGER_NON_INFERIOR) + share(codes, Verdict.CHALLENGER_BETTER) <= 0.05


def test_the_nightly_update_agrees_with_the_vectorised_paths(better_design):
    rng = np.random.default_rng(6)
    design = SequentialDesign(max_samples=3000, mixture_sd=better_design.mixture_sd, min_samples=200)
    values = brier_improvements(rng, 40, design.max_samples, challenger_noise=0.6)
    codes, stop = run_paths(*nightly_paths(values, ROWS_PER_NIGHT), design)
    for run in range(40):
        result, stopped_at = None, -1
        for night, end in enumerate(range(ROWS_PER_NIGHT, design.max_samples + 1, ROWS_PER_NIGHT)):
            result = update(design, result, paired_look(values[run, :end]))
            if result.stopped and stopped_at < 0:
                stopped_at = night
        assert result.verdict is VERDICTS[codes[run]] and stopped_at == stop[run]
    assert {VERDICTS[c] for c in codes} >= {Verdict.CHALLENGER_BETTER, Verdict.STOPPED_NO_WINNER}


def test_a_stopped_test_stays_stopped_and_the_result_round_trips_as_json():
    design = SequentialDesign(max_samples=10_000, mixture_sd=0.1, min_samples=50)
    rng = np.random.default_rng(7)
    values = rng.normal(0.3, 1.0, 2000)
    result = update(design, None, paired_look(values[:1000]))
    assert result.verdict is Verdict.CHALLENGER_BETTER and result.ci_low > 0 and result.p_value < 0.05
    assert "challenger is better" in result.reasons[0]
    later = update(design, result, paired_look(-values))
    assert later.verdict is Verdict.CHALLENGER_BETTER and later.samples == 1000
    text = json.dumps(result.to_dict(), allow_nan=False)
    assert SequentialResult.from_dict(json.loads(text)) == result
    assert SequentialDesign.from_dict(design.to_dict()) == design


def test_burn_in_and_degenerate_looks_give_none_and_a_reason_never_nan():
    design = SequentialDesign(max_samples=1000, mixture_sd=0.1, min_samples=100)
    early = update(design, None, paired_look(np.random.default_rng(8).normal(5, 1, 20)))
    assert early.verdict is Verdict.CONTINUE and early.ci_low is None and early.p_value is None
    assert "burn-in of 100" in early.reasons[0]
    identical = update(design, None, paired_look(np.zeros(500)))
    assert (
        identical.estimate == 0
        and identical.ci_low is None
        and "every paired difference" in identical.reasons[0]
    )
    at_max = update(design, None, paired_look(np.zeros(1000)))
    assert at_max.verdict is Verdict.STOPPED_NO_WINNER
    json.dumps(identical.to_dict(), allow_nan=False)
    assert two_sample_look([1.0], [1.0, 2.0], higher_is_better=True).reason.startswith("arms of 1 and 2")


def test_bad_input_is_refused_with_the_key_named():
    with pytest.raises(ValueError, match="alpha must be in"):
        SequentialDesign(max_samples=100, mixture_sd=0.1, alpha=1.5)
    with pytest.raises(ValueError, match="min_samples"):
        SequentialDesign(max_samples=50, mixture_sd=0.1, min_samples=100)
    with pytest.raises(ValueError, match="improvements: 1 values are NaN"):
        paired_look([0.1, float("nan"), 0.2])
    with pytest.raises(ValueError, match="never NaN"):
        Look(10, float("nan"), 1.0).to_dict()
