"""Evaluation figures (ROC, PR, calibration, confusion matrix, feature importance) as PNG files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tabular_mlops.core.contracts import PlotFile


def _figure() -> tuple[Any, Any, Any]:  # (pyplot, Figure, Axes)
    import matplotlib

    matplotlib.use("Agg")  # headless: tasks and CI have no display
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(figsize=(5, 4), dpi=90)


def save_all(
    y: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    importance: pd.Series,
    out: Path,
    rate_name: str = "positive rate",
) -> list[Path]:
    """The evaluation figures; `rate_name` names the observed positive rate (`wording.positive_rate`)."""
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import (
        average_precision_score,
        confusion_matrix,
        precision_recall_curve,
        roc_auc_score,
        roc_curve,
    )

    out.mkdir(parents=True, exist_ok=True)
    paths = []

    plt, fig, ax = _figure()
    fpr, tpr, _ = roc_curve(y, scores)
    ax.plot(fpr, tpr, label=f"ROC AUC {roc_auc_score(y, scores):.3f}")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="chance (0.5)")
    ax.legend(loc="lower right")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (holdout)")
    paths.append(_save(plt, fig, out / PlotFile.ROC))

    plt, fig, ax = _figure()
    precision, recall, _ = precision_recall_curve(y, scores)
    ax.plot(recall, precision, label=f"PR AUC {average_precision_score(y, scores):.3f}")
    # A model without skill scores the base rate at every recall: the line to beat.
    base = float(np.mean(y))
    ax.axhline(base, ls="--", color="grey", label=f"base rate {base:.3f}")
    ax.legend(loc="best")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (holdout)")
    paths.append(_save(plt, fig, out / PlotFile.PR))

    plt, fig, ax = _figure()
    frac_pos, mean_pred = calibration_curve(y, scores, n_bins=10, strategy="quantile")
    ax.plot(mean_pred, frac_pos, marker="o")
    lim = max(float(mean_pred.max()), float(frac_pos.max()), 0.01)
    ax.plot([0, lim], [0, lim], "--", color="grey")
    ax.set(xlabel="mean predicted probability", ylabel=f"observed {rate_name}", title="Calibration (holdout)")
    paths.append(_save(plt, fig, out / PlotFile.CALIBRATION))

    plt, fig, ax = _figure()
    cm = confusion_matrix(y, (scores >= threshold).astype(int), labels=[0, 1])
    image = ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        # White on dark cells, black on light ones (by the cell's luminance), so every count stays readable.
        r, g, b, _ = image.cmap(image.norm(v))
        colour = "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black"
        ax.text(j, i, f"{v:,}", ha="center", va="center", color=colour, fontsize=12)
    ax.set(
        xticks=[0, 1],
        yticks=[0, 1],
        xlabel="predicted",
        ylabel="actual",
        title=f"Confusion matrix @ {threshold}",
    )
    paths.append(_save(plt, fig, out / PlotFile.CONFUSION))

    plt, fig, ax = _figure()
    imp = importance.sort_values()
    ax.barh(imp.index, imp.to_numpy())
    ax.set(xlabel="ROC AUC drop when permuted", title="Permutation feature importance")
    paths.append(_save(plt, fig, out / PlotFile.IMPORTANCE))
    return paths


def _save(plt: Any, fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
