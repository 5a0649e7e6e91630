"""Issue 22 item 11: a metric that is not a number (ROC AUC on a holdout with one class, a champion whose stored
metric is missing) rejects the challenger with that reason, never "worse by nan" or "nan violates >=" (never
NaN in a decision)."""

from __future__ import annotations

import numpy as np
from tabular_mlops.model.classification_metrics import classification_metrics
from tabular_mlops.training.gate import champion_comparison, threshold_checks

GOOD = {"roc_auc": 0.80, "pr_auc": 0.12, "brier": 0.03, "brier_skill": 0.07}


def _one_class_metrics() -> dict[str, float]:
    """Real metrics of a holdout whose rows all have label 0: ROC AUC and PR AUC are not defined."""
    rng = np.random.default_rng(3)
    return classification_metrics(np.zeros(200), rng.uniform(size=200), 0.5)


def test_a_challenger_metric_that_is_not_a_number_is_rejected_with_that_reason(repo_params):
    metrics = _one_class_metrics()
    result = champion_comparison(metrics, GOOD, "3", repo_params.gate)
    assert not result.passed
    metric = repo_params.gate.comparison_metric
    assert f"metric {metric} is not a number" in result.reason and "challenger" in result.reason
    assert "worse by" not in result.reason and "nan" not in result.reason.lower().replace("not a number", "")


def test_a_champion_metric_that_is_not_a_number_is_rejected_with_that_reason(repo_params):
    metric = repo_params.gate.comparison_metric
    result = champion_comparison(GOOD, {**GOOD, metric: float("nan")}, "3", repo_params.gate)
    assert not result.passed
    assert f"metric {metric} is not a number" in result.reason and "champion v3" in result.reason
    assert "worse by" not in result.reason


def test_a_threshold_metric_that_is_not_a_number_says_so(repo_params):
    result = threshold_checks(_one_class_metrics(), repo_params.gate)
    assert not result.passed
    assert (
        "metric roc_auc is not a number" in result.reason and "metric pr_auc is not a number" in result.reason
    )
    assert "nan violates" not in result.reason
    missing = threshold_checks({k: v for k, v in GOOD.items() if k != "brier_skill"}, repo_params.gate)
    assert not missing.passed and "metric brier_skill is not a number" in missing.reason
