"""Paired shadow analysis: champion and challenger scored the same rows, compared row by row.

Without labels: how alike the two are (score correlation, decision agreement at each model's own threshold, PSI
of the challenger's scores against the champion's). With matured labels (NaN where a label is not known yet):
the paired difference of per-row Brier and log loss with a t interval, and of ROC AUC with the paired DeLong
interval (DeLong, DeLong and Clarke-Pearson, Biometrics 44, 1988; the fast algorithm of Sun and Xu, IEEE Signal
Processing Letters 21, 2014). Every difference is challenger - champion; `favours` says who wins when the
interval excludes zero. These are fixed-sample intervals for the nightly report; the decision to stop uses the
always-valid test of `sequential` on `loss_improvements`.

Why shadow is the default proof for credit-like data: the decision decides who gets a label (a declined
applicant never shows whether they would have repaid). In a live split each arm labels only the rows it
accepted, so the arms are judged on different populations and the comparison is biased; in shadow the champion
still decides for everyone, and both models are judged on the same labelled rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from tabular_mlops.stats.psi import score_psi
from tabular_mlops.stats.records import JsonRecord

LossKind = Literal["brier", "log_loss"]
# Log loss of a score of exactly 0 or 1 on the wrong label is infinite; sklearn clips likewise.
_LOG_LOSS_CLIP = 1e-15


@dataclass(frozen=True)
class PairedDifference(JsonRecord):
    """One metric for both models on the same labelled rows, challenger - champion, with its interval."""

    metric: str
    lower_is_better: bool
    champion: float | None
    challenger: float | None
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    favours: str | None
    reason: str


@dataclass(frozen=True)
class PairedShadowReport(JsonRecord):
    """The night's paired comparison. Figures that cannot be computed are None, with a line in `reasons`."""

    rows: int
    labelled_rows: int
    score_correlation: float | None
    rank_correlation: float | None
    decision_agreement: float | None
    flagged_by_champion_only: int
    flagged_by_challenger_only: int
    score_psi: float | None
    differences: tuple[PairedDifference, ...]
    reasons: tuple[str, ...]


def per_row_loss(labels: ArrayLike, scores: ArrayLike, kind: LossKind) -> NDArray:
    """Per-row Brier ((score - label)^2) or log loss (-log of the probability given to the true label)."""
    y, p = np.asarray(labels, float), np.asarray(scores, float)
    if kind == "brier":
        return (p - y) ** 2
    if kind == "log_loss":
        p = np.clip(p, _LOG_LOSS_CLIP, 1 - _LOG_LOSS_CLIP)
        return -(y * np.log(p) + (1 - y) * np.log1p(-p))
    raise ValueError(f"loss kind must be 'brier' or 'log_loss', got {kind!r}")


def loss_improvements(
    labels: ArrayLike, champion_scores: ArrayLike, challenger_scores: ArrayLike, kind: LossKind
) -> NDArray:
    """Champion loss - challenger loss per labelled row (positive = the challenger did better): the input of
    `sequential.paired_look`."""
    return per_row_loss(labels, champion_scores, kind) - per_row_loss(labels, challenger_scores, kind)


def compare_paired(
    champion_scores: ArrayLike,
    challenger_scores: ArrayLike,
    *,
    champion_threshold: float,
    challenger_threshold: float,
    labels: ArrayLike | None = None,
    confidence: float = 0.95,
    psi_bins: int = 10,
) -> PairedShadowReport:
    """Compare two models' scores on the same rows; `labels` (0/1, NaN = not matured) adds the loss and AUC
    differences on the labelled rows."""
    champion, challenger = (
        _scores(champion_scores, "champion_scores"),
        _scores(challenger_scores, "challenger_scores"),
    )
    if champion.shape != challenger.shape:
        raise ValueError(
            f"paired scores differ in length: champion {champion.size}, challenger {challenger.size}"
        )
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    reasons: list[str] = []
    n = champion.size
    pearson = spearman = agreement = psi = None
    a_flags, b_flags = champion >= champion_threshold, challenger >= challenger_threshold
    if n < 2:
        reasons.append(f"{n} paired rows: nothing to compare")
    else:
        pearson, spearman = _correlations(champion, challenger, reasons)
        agreement = float(np.mean(a_flags == b_flags))
        psi = score_psi(champion, challenger, psi_bins)
    y = _labels(labels, n)
    known = ~np.isnan(y)
    differences: tuple[PairedDifference, ...] = ()
    if labels is not None:
        yk, ak, bk = y[known], champion[known], challenger[known]
        differences = (
            _loss_difference("brier", yk, ak, bk, confidence),
            _loss_difference("log_loss", yk, ak, bk, confidence),
            auc_difference(yk, ak, bk, confidence),
        )
    return PairedShadowReport(
        rows=n,
        labelled_rows=int(known.sum()),
        score_correlation=pearson,
        rank_correlation=spearman,
        decision_agreement=agreement,
        flagged_by_champion_only=int(np.sum(a_flags & ~b_flags)),
        flagged_by_challenger_only=int(np.sum(b_flags & ~a_flags)),
        score_psi=psi,
        differences=differences,
        reasons=tuple(reasons),
    )


def auc_difference(
    labels: ArrayLike, champion: ArrayLike, challenger: ArrayLike, confidence: float = 0.95
) -> PairedDifference:
    """ROC AUC challenger - champion on the same rows, with the paired DeLong interval."""
    y = np.asarray(labels, float)
    positives, negatives = int(np.sum(y == 1)), int(np.sum(y == 0))
    if positives < 2 or negatives < 2:
        why = f"{positives} positive and {negatives} negative labels: the AUC needs at least 2 of each"
        return PairedDifference("roc_auc", False, None, None, None, None, None, None, why)
    order = np.argsort(-y, kind="stable")  # positives first
    scores = np.vstack([np.asarray(champion, float)[order], np.asarray(challenger, float)[order]])
    aucs, cov = _delong(scores, positives)
    variance = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    return _difference("roc_auc", False, aucs[0], aucs[1], variance, stats.norm.ppf(0.5 + confidence / 2))


def _delong(scores: NDArray, positives: int) -> tuple[NDArray, NDArray]:
    """AUCs and their covariance for models (rows of `scores`) whose first `positives` columns are positives."""
    m = positives
    n = scores.shape[1] - m
    tx = np.apply_along_axis(stats.rankdata, 1, scores[:, :m])
    ty = np.apply_along_axis(stats.rankdata, 1, scores[:, m:])
    tz = np.apply_along_axis(stats.rankdata, 1, scores)
    aucs = (tz[:, :m].sum(axis=1) / m - (m + 1) / 2) / n
    v01 = (tz[:, :m] - tx) / n
    v10 = 1 - (tz[:, m:] - ty) / m
    return aucs, np.cov(v01) / m + np.cov(v10) / n


def _loss_difference(
    kind: LossKind, y: NDArray, champion: NDArray, challenger: NDArray, confidence: float
) -> PairedDifference:
    n = y.size
    if n < 2:
        return PairedDifference(kind, True, None, None, None, None, None, None, f"{n} labelled rows: need 2")
    a, b = per_row_loss(y, champion, kind), per_row_loss(y, challenger, kind)
    variance = float(np.var(b - a, ddof=1)) / n
    return _difference(
        kind, True, float(a.mean()), float(b.mean()), variance, stats.t.ppf(0.5 + confidence / 2, n - 1)
    )


def _difference(
    metric: str, lower_is_better: bool, champion: float, challenger: float, variance: float, z: float
) -> PairedDifference:
    champion, challenger, variance, z = float(champion), float(challenger), float(variance), float(z)
    diff = challenger - champion
    if not (math.isfinite(variance) and variance > 0):
        why = "the two models' per-row figures never differ: no interval"
        return PairedDifference(metric, lower_is_better, champion, challenger, diff, None, None, None, why)
    low, high = diff - z * math.sqrt(variance), diff + z * math.sqrt(variance)
    favours = None
    if low > 0 or high < 0:
        challenger_wins = (high < 0) == lower_is_better
        favours = "challenger" if challenger_wins else "champion"
    what = f"favours the {favours}" if favours else "includes 0: no difference shown"
    reason = f"{metric} challenger - champion {diff:+.4g}, interval [{low:.4g}, {high:.4g}] {what}"
    return PairedDifference(metric, lower_is_better, champion, challenger, diff, low, high, favours, reason)


def _correlations(a: NDArray, b: NDArray, reasons: list[str]) -> tuple[float | None, float | None]:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        reasons.append("a model gave one score to every row: correlation undefined")
        return None, None
    return float(stats.pearsonr(a, b).statistic), float(stats.spearmanr(a, b).statistic)


def _scores(values: ArrayLike, name: str) -> NDArray:
    array = np.asarray(values, float).ravel()
    if not np.isfinite(array).all() or (array.size and (array.min() < 0 or array.max() > 1)):
        raise ValueError(f"{name}: scores must be finite probabilities in [0, 1]")
    return array


def _labels(values: ArrayLike | None, n: int) -> NDArray:
    if values is None:
        return np.full(n, np.nan)
    y = np.asarray(values, float).ravel()
    if y.size != n:
        raise ValueError(f"labels: {y.size} values for {n} paired rows")
    if not np.isin(y[~np.isnan(y)], (0.0, 1.0)).all():
        raise ValueError("labels: values must be 0, 1 or NaN (not matured yet)")
    return y
