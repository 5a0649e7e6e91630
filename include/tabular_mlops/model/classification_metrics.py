"""Classification metrics used by evaluation, candidate selection and the promotion gate."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm


def classification_metrics(y_true: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    y_true = np.asarray(y_true).astype(int)
    scores = np.clip(np.asarray(scores, dtype=float), 1e-7, 1 - 1e-7)
    pred = (scores >= threshold).astype(int)
    both = len(np.unique(y_true)) == 2
    brier = float(skm.brier_score_loss(y_true, scores))
    return {
        "roc_auc": float(skm.roc_auc_score(y_true, scores)) if both else float("nan"),
        "pr_auc": float(skm.average_precision_score(y_true, scores)) if both else float("nan"),
        "precision": float(skm.precision_score(y_true, pred, zero_division=0)),
        "recall": float(skm.recall_score(y_true, pred, zero_division=0)),
        "f1": float(skm.f1_score(y_true, pred, zero_division=0)),
        "brier": brier,
        "brier_skill": brier_skill(brier, y_true),
        "log_loss": float(skm.log_loss(y_true, scores, labels=[0, 1])),
    }


def brier_skill(brier: float, y_true: np.ndarray) -> float:
    """Brier skill score against the base rate of `y_true`: 1 - brier / brier of always predicting that rate.

    1 is perfect, 0 no better than the base rate, below 0 worse. Unlike the Brier score itself it means the same
    at a 3% and at a 25% base rate (a useless constant forecast scores 0 on both). NaN when `y_true` holds one class.
    """
    rate = float(np.mean(y_true)) if len(y_true) else float("nan")
    reference = rate * (1 - rate)
    return 1 - brier / reference if reference > 0 else float("nan")
