import dataclasses
import datetime as dt
import time

import numpy as np
import pytest
from tabular_mlops.data.simulate import generate_day
from tabular_mlops.training.gate import champion_comparison, model_tests, threshold_checks

GOOD = {"roc_auc": 0.80, "pr_auc": 0.12, "brier": 0.03}


@pytest.fixture()
def holdout():
    return generate_day(dt.date(2026, 1, 1), 300, 9)


def test_thresholds_pass_and_fail_with_reasons(repo_params):
    assert threshold_checks(GOOD, repo_params.gate).passed
    bad = threshold_checks({**GOOD, "roc_auc": 0.55, "brier": 0.2}, repo_params.gate)
    assert not bad.passed
    assert "roc_auc 0.5500 violates >=" in bad.reason and "brier" in bad.reason


def test_champion_comparison_respects_the_margin(repo_params):
    margin = repo_params.gate.champion_margin
    assert champion_comparison(GOOD, None, None, repo_params.gate).passed
    slightly_worse = {**GOOD, "roc_auc": GOOD["roc_auc"] - margin / 2}
    assert champion_comparison(slightly_worse, GOOD, "3", repo_params.gate).passed
    much_worse = {**GOOD, "roc_auc": GOOD["roc_auc"] - 3 * margin}
    result = champion_comparison(much_worse, GOOD, "3", repo_params.gate)
    assert not result.passed and "champion v3" in result.reason
    assert "worse by 0.0300, more than the allowed margin" in result.reason


def test_a_passing_comparison_reads_as_a_pass(repo_params):
    """No "delta ... margin ... passed" puzzles: the verdict says better, or worse within the margin."""
    margin = repo_params.gate.champion_margin
    better = champion_comparison({**GOOD, "roc_auc": GOOD["roc_auc"] + 0.0006}, GOOD, "1", repo_params.gate)
    assert better.passed and "not worse: better by 0.0006" in better.reason
    within = champion_comparison(
        {**GOOD, "roc_auc": GOOD["roc_auc"] - margin / 2}, GOOD, "1", repo_params.gate
    )
    assert within.passed and f"within the allowed margin {margin}" in within.reason


def test_model_tests_accept_a_sane_model(repo_params, holdout):
    result = model_tests(lambda x: np.full(len(x), 0.03), holdout, repo_params.schema, repo_params.gate)
    assert result.passed, result.reason


def test_model_tests_reject_scores_outside_unit_interval(repo_params, holdout):
    result = model_tests(lambda x: np.full(len(x), 1.7), holdout, repo_params.schema, repo_params.gate)
    assert not result.passed and "[0, 1]" in result.reason


def test_model_tests_reject_models_that_break_on_missing_values(repo_params, holdout):
    def fragile(x):
        if x["income"].isna().any():
            raise ValueError("NaN in income")
        return np.full(len(x), 0.03)

    result = model_tests(fragile, holdout, repo_params.schema, repo_params.gate)
    assert not result.passed and "income" in result.reason


def test_model_tests_enforce_the_latency_budget(repo_params, holdout):
    budget = repo_params.gate.latency_p95_ms

    def slow(x):
        time.sleep(budget * 1.5 / 1000)
        return np.full(len(x), 0.03)

    gate = dataclasses.replace(repo_params.gate, latency_samples=5)
    result = model_tests(slow, holdout.head(5), repo_params.schema, gate)
    assert not result.passed and "latency" in result.reason
