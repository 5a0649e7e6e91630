"""Importance weighting: a night's performance from the labelled reference rows, re-weighted to look like the
night. A domain classifier (cross-fitted gradient boosting on the feature frame) tells reference rows from the
night's; each reference row's weight is its density ratio p(night | x) / p(reference | x), clipped. The interval
is the spread of the figures over nights of the same size resampled from the weighted reference, widened by the
effective sample size (what the weights leave of the reference)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from tabular_mlops.stats.cbpe import EstimationSettings
from tabular_mlops.stats.metrics import (
    ConfusionCells,
    PerformanceEstimate,
    RankedScores,
    cells_at_threshold,
    check_labels,
    draw_block_sizes,
    drawn_metrics,
    metric_estimates,
    weighted_metrics,
    withheld,
)

METHOD = "importance_weighting"
# HistGradientBoosting takes at most 255 bins; the rest of a high-cardinality column's categories share one.
MAX_CATEGORIES = 250


@dataclass(frozen=True)
class ImportanceSettings:
    """The domain classifier's budget and the limits on the weights it yields. `max_fit_rows` rows a side are
    weighted and scored; each of the `folds` fits learns from at most `train_rows` rows a side of the other folds,
    with `trees` boosting rounds (benchmarks/MONITORING_RESULTS.md: 2 folds x 4,000 rows x 40 trees estimate as
    3 x 13,333 x 100 did on the accuracy drills, at a fraction of the cost)."""

    folds: int = 2
    max_fit_rows: int = 20_000
    train_rows: int = 4_000
    trees: int = 40
    learning_rate: float = 0.2
    max_weight: float = 20.0
    min_effective_rows: int = 300
    max_domain_auc: float = 0.99
    max_unsupported_share: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise ValueError(f"importance folds must be at least 2, got {self.folds}")
        if self.max_fit_rows < 100:
            raise ValueError(f"importance max_fit_rows must be at least 100, got {self.max_fit_rows}")
        if self.train_rows < 100:
            raise ValueError(f"importance train_rows must be at least 100, got {self.train_rows}")
        if self.trees < 1:
            raise ValueError(f"importance trees must be at least 1, got {self.trees}")
        if not 0.0 < self.learning_rate <= 1.0:
            raise ValueError(f"importance learning_rate must be in (0, 1], got {self.learning_rate}")
        if self.max_weight <= 1.0:
            raise ValueError(f"importance max_weight must exceed 1, got {self.max_weight}")
        if not 0.5 < self.max_domain_auc <= 1.0:
            raise ValueError(f"importance max_domain_auc must be in (0.5, 1], got {self.max_domain_auc}")
        if not 0.0 <= self.max_unsupported_share <= 1.0:
            raise ValueError(
                f"importance max_unsupported_share must be in [0, 1], got {self.max_unsupported_share}"
            )


@dataclass(frozen=True)
class DomainWeights:
    """Density-ratio weights for reference rows (mean 1), how well the classifier told the frames apart, what
    the weights leave of the reference, and the share of tonight's rows beyond max_weight: rows no reference row
    stands for (a model extrapolating there is graded by no one, CBPE included)."""

    weights: np.ndarray
    domain_auc: float
    effective_rows: float
    clipped_share: float
    unsupported_share: float
    ignored_columns: tuple[str, ...]


def domain_weights(
    reference: pd.DataFrame, current: pd.DataFrame, features: Sequence[str], settings: ImportanceSettings
) -> DomainWeights:
    """Weights for every row of `reference` from a classifier cross-fitted on both frames (at most
    `max_fit_rows` of the night's rows). Every row gets an out-of-fold prediction, so a row's weight never comes
    from a model that saw it; each fold's model learns from at most `train_rows` rows a side of the other folds
    (the weights need a smooth density ratio, not every row: the fit is most of the cost)."""
    for name, frame in (("reference", reference), ("current", current)):
        lacking = [c for c in features if c not in frame.columns]
        if lacking:
            raise KeyError(f"the {name} frame lacks feature column(s) {lacking}")
    rng = np.random.default_rng(settings.seed)
    cur = (
        current.iloc[np.sort(rng.choice(len(current), settings.max_fit_rows, replace=False))]
        if len(current) > settings.max_fit_rows
        else current
    )
    x, categorical, ignored = _design(reference, cur, features)
    is_current = np.r_[np.zeros(len(reference), dtype=np.int8), np.ones(len(cur), dtype=np.int8)]
    if x.shape[1] == 0:
        # Nothing to tell the frames apart by: every reference row counts the same.
        return DomainWeights(np.ones(len(reference)), 0.5, float(len(reference)), 0.0, 0.0, ignored)
    proba = np.empty(len(is_current))
    folds = StratifiedKFold(settings.folds, shuffle=True, random_state=settings.seed)
    for train, test in folds.split(x, is_current):
        train = _budget(train, is_current, settings.train_rows, rng)
        model = HistGradientBoostingClassifier(
            max_iter=settings.trees,
            learning_rate=settings.learning_rate,
            max_leaf_nodes=15,
            min_samples_leaf=40,
            categorical_features=categorical if categorical.any() else None,
            early_stopping=False,
            random_state=settings.seed,
        )
        model.fit(x[train], is_current[train])
        proba[test] = model.predict_proba(x[test])[:, 1]
    domain_auc = float(roc_auc_score(is_current, proba))
    # Clipped away from 0 and 1: a perfectly separated row has a huge, not an infinite, ratio (then clipped).
    q = np.clip(proba, 1e-6, 1 - 1e-6)
    odds = q / (1.0 - q)
    scale = odds[: len(reference)].mean()
    ratio = odds[: len(reference)] / scale
    unsupported = float(np.mean(odds[len(reference) :] / scale > settings.max_weight))
    clipped = ratio > settings.max_weight
    weights = np.minimum(ratio, settings.max_weight)
    weights /= weights.mean()
    effective = float(weights.sum() ** 2 / np.sum(weights**2))
    return DomainWeights(weights, domain_auc, effective, float(clipped.mean()), unsupported, ignored)


def _budget(rows: np.ndarray, side: np.ndarray, per_side: int, rng: np.random.Generator) -> np.ndarray:
    """At most `per_side` of `rows` from each side (reference 0, current 1), drawn at random, in order."""
    kept = []
    for value in (0, 1):
        mine = rows[side[rows] == value]
        kept.append(mine if mine.size <= per_side else rng.choice(mine, per_side, replace=False))
    return np.sort(np.concatenate(kept))


def _category_codes(values: pd.Series) -> np.ndarray:
    """A category's codes in order of first appearance (NaN = missing), the rarest beyond MAX_CATEGORIES - 1
    sharing one code. Hashing the values as they are (no text conversion) is what keeps the encoding cheap."""
    code, uniques = pd.factorize(values)
    if len(uniques) > MAX_CATEGORIES:
        counts = np.bincount(code[code >= 0], minlength=len(uniques))
        kept = np.argsort(-counts, kind="stable")[: MAX_CATEGORIES - 1]
        to = np.full(len(uniques), MAX_CATEGORIES - 1)
        to[kept] = np.arange(kept.size)
        code = np.where(code >= 0, to[np.maximum(code, 0)], -1)
    out = code.astype(np.float64)
    out[code < 0] = np.nan
    return out


def _design(
    reference: pd.DataFrame, current: pd.DataFrame, features: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Both frames stacked as the classifier's input, one float matrix: anything not numeric as the codes of a
    category over both frames' values (`_category_codes`), then the numbers (NaN = missing), with the mask of the
    categorical columns. That is the matrix HistGradientBoosting builds itself from a frame of pandas categories
    (categories first), made here once instead of by its encoder in every fold. A column with no value in either
    frame carries nothing: left out."""
    codes: list[np.ndarray] = []
    numbers: list[np.ndarray] = []
    ignored: list[str] = []
    for name in features:
        both = pd.concat([reference[name], current[name]], ignore_index=True)
        if both.notna().sum() == 0:
            ignored.append(name)
        elif pd.api.types.is_numeric_dtype(both) and not pd.api.types.is_bool_dtype(both):
            numbers.append(pd.to_numeric(both, errors="coerce").to_numpy(np.float64))
        else:
            codes.append(_category_codes(both))
    rows = len(reference) + len(current)
    x = np.column_stack([*codes, *numbers]) if codes or numbers else np.empty((rows, 0))
    categorical = np.r_[np.ones(len(codes), dtype=bool), np.zeros(len(numbers), dtype=bool)]
    return x, categorical, tuple(ignored)


def estimate_importance_weighted(
    reference: pd.DataFrame,
    reference_scores: np.ndarray,
    reference_labels: np.ndarray,
    current: pd.DataFrame,
    features: Sequence[str],
    threshold: float,
    settings: EstimationSettings | None = None,
    importance: ImportanceSettings | None = None,
) -> PerformanceEstimate:
    """The night's figures as the labelled reference rows (the model's out-of-sample holdout: its scores and
    labels) weighted to resemble `current`. Withheld when the frames do not overlap or the weights leave fewer
    than `min_effective_rows`."""
    settings = settings or EstimationSettings()
    importance = importance or ImportanceSettings()
    s = np.asarray(reference_scores, dtype=np.float64)
    y = check_labels(reference_labels, "reference labels")
    if not (len(reference) == s.size == y.size):
        raise ValueError(f"reference rows ({len(reference)}), scores ({s.size}) and labels ({y.size}) differ")
    if not np.isfinite(s).all():
        raise ValueError(f"reference scores hold {int((~np.isfinite(s)).sum())} missing value(s)")
    rows = len(current)
    if rows < settings.min_rows:
        return withheld(METHOD, rows, f"{rows} rows tonight, fewer than min_rows={settings.min_rows}")
    if y.sum() in (0, y.size):
        return withheld(METHOD, rows, f"reference labels have a single class ({y.size} rows)")
    if len(reference) > importance.max_fit_rows:
        keep = np.sort(
            np.random.default_rng(importance.seed).choice(
                len(reference), importance.max_fit_rows, replace=False
            )
        )
        reference, s, y = reference.iloc[keep], s[keep], y[keep]
    dw = domain_weights(reference.reset_index(drop=True), current, features, importance)
    details: dict[str, float | int | str | None] = {
        "domain_auc": dw.domain_auc,
        "effective_rows": dw.effective_rows,
        "clipped_share": dw.clipped_share,
        "unsupported_share": dw.unsupported_share,
        "reference_rows": int(y.size),
        "ignored_columns": ", ".join(dw.ignored_columns) or None,
    }
    if dw.domain_auc >= importance.max_domain_auc:
        reason = (
            f"no overlap: a classifier tells tonight's rows from the reference's (domain ROC AUC "
            f"{dw.domain_auc:.3f} >= {importance.max_domain_auc}), so no reference row stands for them"
        )
        return withheld(METHOD, rows, reason, **details)
    if dw.unsupported_share > importance.max_unsupported_share:
        reason = (
            f"no overlap for {dw.unsupported_share:.0%} of tonight's rows (density ratio above max_weight="
            f"{importance.max_weight:g}; at most max_unsupported_share={importance.max_unsupported_share:g}): "
            "the reference holds nothing like them"
        )
        return withheld(METHOD, rows, reason, **details)
    if dw.effective_rows < importance.min_effective_rows:
        reason = (
            f"effective sample size {dw.effective_rows:.0f} of {y.size} reference rows, below "
            f"min_effective_rows={importance.min_effective_rows}"
        )
        return withheld(METHOD, rows, reason, **details)
    return _weighted_estimate(s, y, dw, threshold, rows, settings, details)


def _weighted_estimate(
    scores: np.ndarray,
    labels: np.ndarray,
    dw: DomainWeights,
    threshold: float,
    rows: int,
    settings: EstimationSettings,
    details: dict[str, float | int | str | None],
) -> PerformanceEstimate:
    ranked = RankedScores.of(scores, threshold)
    w = dw.weights[ranked.order]
    y = labels[ranked.order].astype(np.float64)
    point = weighted_metrics(ranked, w * y, w * (1.0 - y))
    # Nights of min(rows, draw_rows) rows resampled from the weighted reference (Poisson counts), their spread
    # scaled to var/rows + var/ESS: the night's own label noise plus what the weighted reference leaves.
    sample_rows = min(rows, settings.draw_rows)
    rng = np.random.default_rng(settings.seed)
    rates = sample_rows * w / w.sum()

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        counts = rng.poisson(rates, size=(n, w.size))
        return counts * y, counts * (1.0 - y)

    draws = drawn_metrics(ranked, draw_block_sizes(settings.draws, w.size), draw)
    scale = float(np.sqrt(sample_rows * (1.0 / rows + 1.0 / dw.effective_rows)))
    metrics = metric_estimates(
        point,
        draws,
        scale=scale,
        confidence=settings.confidence,
        positives=float((w * y).sum()),
        negatives=float((w * (1 - y)).sum()),
        flagged=ranked.flagged,
    )
    share = cells_at_threshold(ranked, w * y / w.sum(), w * (1.0 - y) / w.sum())
    cells = ConfusionCells(
        share.true_positive * rows,
        share.false_positive * rows,
        share.false_negative * rows,
        share.true_negative * rows,
    )
    return PerformanceEstimate(METHOD, rows, metrics, None, cells, details)
