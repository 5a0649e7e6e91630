"""Classification metrics used by evaluation, candidate selection and the promotion gate."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm


def classification_metrics(y_true: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    y_true = np.asarray(y_true).astype(int)
    scores = np.clip(np.asarray(scores, dtype=float), 1e-7, 1 - 1e-7)
    pred = (scores >= threshold).astype(int)
    both = len(np.unique(y_true)) == 2
    return {
        "roc_auc": float(skm.roc_auc_score(y_true, scores)) if both else float("nan"),
        "pr_auc": float(skm.average_precision_score(y_true, scores)) if both else float("nan"),
        "precision": float(skm.precision_score(y_true, pred, zero_division=0)),
        "recall": float(skm.recall_score(y_true, pred, zero_division=0)),
        "f1": float(skm.f1_score(y_true, pred, zero_division=0)),
        "brier": float(skm.brier_score_loss(y_true, scores)),
        "log_loss": float(skm.log_loss(y_true, scores, labels=[0, 1])),
    }
