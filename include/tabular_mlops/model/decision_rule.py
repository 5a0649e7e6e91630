"""The approve/decline rule, in one place: a score at or above the model's threshold is the high-risk decision
(logged as decision 1), anything below is the low-risk one (0). Batch scoring and the online service both call it,
so a night's logged decisions and the service's answers cannot drift apart."""

from __future__ import annotations

import numpy as np

HIGH_RISK = 1
LOW_RISK = 0


def decision_codes(scores: np.ndarray, threshold: float) -> np.ndarray:
    """1 where `score >= threshold`, else 0. A score that is not a number gets no decision: the rule refuses it
    (NaN compares as below any threshold and would quietly become the low-risk decision)."""
    values = np.asarray(scores, dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} of {values.size} score(s) are not finite numbers (first at position "
            f"{int(np.flatnonzero(bad)[0])}): no decision is made on a missing score"
        )
    return (values >= threshold).astype(int)
