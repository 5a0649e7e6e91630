"""Canary rollback rules on simulated windows: each rule trips on its own fault with the figures in its reason,
too few requests wait, a healthy canary passes, old answers slide out of the window."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tabular_mlops.stats.canary_guard import (
    ArmWindow,
    CanaryWindow,
    GuardAction,
    GuardRules,
    GuardVerdict,
    judge_canary,
)

RULES = GuardRules(
    window_seconds=600,
    max_error_rate=0.02,
    min_requests=200,
    max_p99_latency_ms=250,
    min_latencies=200,
    max_score_psi=0.2,
    min_scores=300,
)


def arm(rng, n, error_rate=0.005, latency_median_ms=40.0, score_shift=0.0):
    ok = rng.random(n) >= error_rate
    latency = rng.lognormal(np.log(latency_median_ms), 0.5, n)
    scores = 1 / (1 + np.exp(-(rng.normal(-2.0, 1.0, int(ok.sum())) + score_shift)))
    return ArmWindow.of(ok, latency, scores)


def test_a_healthy_canary_passes_every_rule():
    rng = np.random.default_rng(21)
    verdict = judge_canary(arm(rng, 1000), arm(rng, 9000), RULES)
    assert verdict.action is GuardAction.HEALTHY
    assert [c.breached for c in verdict.checks] == [False, False, False]
    # A pass names its figures against their thresholds, as a rollback does.
    error, p99, psi = verdict.reasons
    assert error.startswith("canary error rate ") and "of 1000" in error and error.endswith("<= 0.02")
    assert f"canary error rate {verdict.checks[0].value:.2%}" in error
    assert f"{verdict.checks[1].value:.1f} ms over 1000 requests" in p99 and p99.endswith("<= 250")
    assert f"score PSI {verdict.checks[2].value:.3f}" in psi and psi.endswith("<= 0.2")


@pytest.mark.parametrize(
    ("fault", "rule", "words"),
    [
        ({"error_rate": 0.08}, "error_rate", "canary error rate"),
        ({"latency_median_ms": 200.0}, "p99_latency_ms", "canary p99 latency"),
        ({"score_shift": 1.5}, "score_psi", "score PSI"),
    ],
)
def test_each_rule_rolls_back_on_its_own_fault_and_names_the_figures(fault, rule, words):
    rng = np.random.default_rng(22)
    verdict = judge_canary(arm(rng, 1000, **fault), arm(rng, 9000), RULES)
    assert verdict.action is GuardAction.ROLLBACK
    breached = [c for c in verdict.checks if c.breached]
    assert [c.rule for c in breached] == [rule]
    check = breached[0]
    assert check.value > check.threshold and check.count >= check.min_count
    assert (
        verdict.reasons == (check.reason,)
        and check.reason.startswith(words)
        and f"> {check.threshold:g}" in check.reason
    )


def test_an_error_rate_reason_counts_the_errors_and_shows_the_champion():
    ok = np.r_[np.zeros(30, bool), np.ones(270, bool)]
    canary = ArmWindow.of(ok, np.full(300, 20.0), np.full(270, 0.1))
    champion = ArmWindow.of(np.ones(1000, bool), np.full(1000, 20.0), np.full(1000, 0.1))
    check = judge_canary(canary, champion, RULES).checks[0]
    assert check.reason == "canary error rate 10.00% (30 of 300; champion 0.00%), > 0.02"


def test_too_few_requests_wait_instead_of_judging():
    bad = ArmWindow.of([False, True, True], [900.0, 900.0, 900.0], [0.9, 0.9])
    verdict = judge_canary(bad, arm(np.random.default_rng(23), 5000), RULES)
    assert verdict.action is GuardAction.WAIT
    assert all(c.breached is None and c.value is None for c in verdict.checks)
    assert "error_rate: 3 of the 200 needed" in verdict.reasons
    json.dumps(verdict.to_dict(), allow_nan=False)


def test_the_sliding_window_forgets_an_old_burst_of_errors():
    rng = np.random.default_rng(24)
    window = CanaryWindow(RULES, canary="v4", champion="v3")
    for t in range(400):  # a burst of canary errors in the first 400 s
        window.record(float(t), "v4", ok=False, latency_ms=30.0, score=None)
    for t in range(400, 2000):
        for name in ("v4", "v3", "v3"):
            score = float(1 / (1 + np.exp(-rng.normal(-2, 1))))
            window.record(
                float(t), name, ok=True, latency_ms=float(rng.lognormal(np.log(40), 0.5)), score=score
            )
    early = window.verdict(now=700.0)
    assert early.action is GuardAction.ROLLBACK and early.reasons[0].startswith("canary error rate")
    late = window.verdict(now=2000.0)
    assert late.action is GuardAction.HEALTHY, late.reasons
    assert GuardVerdict.from_dict(json.loads(json.dumps(late.to_dict()))) == late


def test_bad_rules_and_arms_are_refused_by_name():
    with pytest.raises(ValueError, match="max_error_rate=1.5"):
        GuardRules(max_error_rate=1.5)
    with pytest.raises(ValueError, match="3 success flags but 2 latencies"):
        ArmWindow.of([True, True, False], [1.0, 2.0], [])
    with pytest.raises(ValueError, match="arm 'v9' is neither"):
        CanaryWindow(RULES, canary="v4", champion="v3").record(0.0, "v9", ok=True, latency_ms=1.0, score=0.1)
