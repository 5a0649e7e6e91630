"""The decision threshold chosen on the validation split by the configured rule (`evaluate.decision_threshold`).

Scores at or above the threshold get decision 1 (`serving.high_risk_decision`). A fixed number fits one base rate
only (0.1 flags 7% of the example's rows and nearly every row of a table with a 25% base rate), so the rule can
instead ask for a share of rows flagged or for the cheapest threshold at given error costs, on out-of-sample
scores; the value is recorded on the registered version and used by batch scoring and serving.
"""

from __future__ import annotations

import numpy as np

from tabular_mlops.core.config import ThresholdRule

# Thresholds stay inside (0, 1): a threshold of 0 or 1 would flag every row or none whatever the model says.
_LOW, _HIGH = 1e-6, 1 - 1e-6


def choose_threshold(y_true: np.ndarray, scores: np.ndarray, rule: ThresholdRule) -> float:
    """The threshold the rule gives on these validation labels and scores."""
    if rule.rule == "fixed":
        assert rule.value is not None  # the config validator requires it
        return float(rule.value)
    scores = np.asarray(scores, dtype=float)
    if len(scores) == 0:
        raise ValueError(f"no validation rows to choose the decision threshold on ({rule.describe()})")
    if rule.rule == "target_flag_rate":
        assert rule.rate is not None
        # The score above which `rate` of the rows lie: rows >= it are flagged.
        return float(np.clip(np.quantile(scores, 1 - rule.rate), _LOW, _HIGH))
    assert rule.false_negative_cost is not None and rule.false_positive_cost is not None
    return _cheapest(
        np.asarray(y_true).astype(int), scores, rule.false_negative_cost, rule.false_positive_cost
    )


def _cheapest(y: np.ndarray, scores: np.ndarray, fn_cost: float, fp_cost: float) -> float:
    """The candidate threshold (each distinct score, or above them all) with the lowest total cost."""
    values, inverse = np.unique(scores, return_inverse=True)
    positives = np.bincount(inverse, weights=y, minlength=len(values))
    negatives = np.bincount(inverse, weights=1 - y, minlength=len(values))
    # Threshold values[i] flags every row with a score >= values[i]: suffix sums; the last entry flags none.
    tp = np.append(np.cumsum(positives[::-1])[::-1], 0.0)
    fp = np.append(np.cumsum(negatives[::-1])[::-1], 0.0)
    cost = fn_cost * (y.sum() - tp) + fp_cost * fp
    best = int(np.argmin(cost))  # the first minimum: the lowest threshold among equally cheap ones
    threshold = values[best] if best < len(values) else np.nextafter(values[-1], 1.0)
    return float(np.clip(threshold, _LOW, _HIGH))
