"""Binary-classification metrics at a decision threshold from per-row positive and negative weights, and the
results they go into. One code path serves realized figures (weights 0/1 from labels), CBPE's expectation
(p and 1 - p), its label draws, and importance-weighted reference rows, so all of them agree by construction.

A score is the probability of the positive (bad) class; a row is flagged when its score >= the threshold."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from tabular_mlops.stats.records import JsonRecord

METRIC_NAMES = ("roc_auc", "pr_auc", "precision", "recall", "flag_rate", "brier")


CELL_NAMES = ("true_positive", "false_positive", "false_negative", "true_negative")


def require_finite(record: object, *names: str) -> None:
    """Refuse a NaN or infinite figure (None is allowed: a missing figure), naming the field."""
    for name in names:
        value = getattr(record, name)
        if value is not None and not math.isfinite(value):
            raise ValueError(
                f"{type(record).__name__}.{name} is {value}: a figure is a finite number or None with a reason"
            )


@dataclass(frozen=True)
class CellFigures(JsonRecord):
    """A finite number for each cell of the confusion matrix at the decision threshold (positive = the bad
    class, flagged = score >= threshold)."""

    true_positive: float
    false_positive: float
    false_negative: float
    true_negative: float

    def __post_init__(self) -> None:
        require_finite(self, *CELL_NAMES)


@dataclass(frozen=True)
class ConfusionCells(CellFigures):
    """Counts (expected or realized) in each cell."""

    @property
    def rows(self) -> float:
        return self.true_positive + self.false_positive + self.false_negative + self.true_negative


@dataclass(frozen=True)
class MetricEstimate(JsonRecord):
    """One figure with its interval; a missing figure is None with the reason."""

    value: float | None
    lower: float | None = None
    upper: float | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        require_finite(self, "value", "lower", "upper")

    def covers(self, realized: float) -> bool | None:
        """Whether `realized` lies in the interval (None when there is no interval)."""
        if self.lower is None or self.upper is None:
            return None
        return self.lower <= realized <= self.upper


@dataclass(frozen=True)
class PerformanceEstimate(JsonRecord):
    """A night's figures by one method ("cbpe", "importance_weighting" or "realized"). `reason` is set when the
    whole estimate is withheld; `details` holds the method's diagnostics (calibrator, effective sample size)."""

    method: str
    rows: int
    metrics: dict[str, MetricEstimate]
    reason: str | None = None
    cells: ConfusionCells | None = None
    details: dict[str, float | int | str | None] = field(default_factory=dict)

    @property
    def withheld(self) -> bool:
        return self.reason is not None

    def metric(self, name: str) -> MetricEstimate:
        if name not in METRIC_NAMES:
            raise KeyError(f"unknown metric {name!r}; choose one of {', '.join(METRIC_NAMES)}")
        return self.metrics.get(name, MetricEstimate(None, reason=self.reason or "not estimated"))


def withheld(method: str, rows: int, reason: str, **details: float | int | str | None) -> PerformanceEstimate:
    """An estimate withheld as a whole: every metric None with the reason."""
    return PerformanceEstimate(
        method, rows, {m: MetricEstimate(None, reason=reason) for m in METRIC_NAMES}, reason, None, details
    )


# Above this share of tied values, np.argsort's own stable sort is faster than putting the ties in order.
MAX_TIED_SHARE = 1 / 4
# Keys probed for a repeat before sorting: one among them means ties everywhere (e.g. fewer than ~500k distinct
# scores in a million), so the stable sort is taken at once rather than after an unstable sort thrown away.
TIE_PROBE = 1024


def stable_argsort(keys: np.ndarray) -> np.ndarray:
    """`np.argsort(keys, kind="stable")`, the same permutation, from numpy's unstable sort (vectorised, about 3x
    faster on a million scores) with each run of tied keys put back in row order, which is all stability adds.
    Where ties are many, np.argsort's stable sort itself."""
    if keys.size >= 4 * TIE_PROBE:
        probe = keys[:: keys.size // TIE_PROBE]
        if np.unique(probe).size < probe.size:
            return np.argsort(keys, kind="stable")
    order = np.argsort(keys)
    if keys.size < 2:
        return order
    ranked = keys[order]
    tied = ranked[1:] == ranked[:-1]
    if keys.dtype.kind in "fc":
        tied |= np.isnan(ranked[1:]) & np.isnan(ranked[:-1])  # NaNs sort last and are kept in row order
    if not tied.any():
        return order
    in_run = np.zeros(keys.size, dtype=bool)
    in_run[1:] = tied
    in_run[:-1] |= tied
    at = np.flatnonzero(in_run)
    if at.size > MAX_TIED_SHARE * keys.size:
        return np.argsort(keys, kind="stable")
    run = np.cumsum(np.concatenate(([True], ~tied)))[at]
    order[at] = order[at][np.lexsort((order[at], run))]
    return order


@dataclass(frozen=True)
class RankedScores:
    """Scores sorted descending, the end of each run of tied scores, and how many are flagged."""

    scores: np.ndarray
    order: np.ndarray
    group_ends: np.ndarray
    flagged: int

    @classmethod
    def of(cls, scores: np.ndarray, threshold: float) -> RankedScores:
        order = stable_argsort(-scores)
        ranked = scores[order]
        ends = np.flatnonzero(np.diff(ranked)) if ranked.size else np.empty(0, dtype=np.intp)
        group_ends = np.append(ends, ranked.size - 1) if ranked.size else ends
        return cls(ranked, order, group_ends, int(np.count_nonzero(ranked >= threshold)))


# Elements of one block of draws (draws x rows): a block's temporaries (a few MB) are reused from the heap, where
# one draws x rows array per step (300 x 20,000 doubles = 48 MB each) costs fresh pages every call: that paging
# was most of a cold process's CBPE time (benchmarks/bench_cold_night.py).
BLOCK_ELEMENTS = 1 << 18


def draw_block_sizes(draws: int, rows: int) -> list[int]:
    """Sizes of the blocks `draws` draws over `rows` rows are evaluated in (their sum is `draws`)."""
    block = max(1, BLOCK_ELEMENTS // max(rows, 1))
    return [min(block, draws - start) for start in range(0, draws, block)]


def drawn_metrics(
    ranked: RankedScores, blocks: list[int], draw: Callable[[int], tuple[np.ndarray, np.ndarray]]
) -> dict[str, np.ndarray]:
    """weighted_metrics over draws made a block at a time: `draw(n)` returns the next n draws' positive and
    negative weights (n x rows, ranked order). Draws are made in order, so a seeded generator gives the same
    draws as one call for all of them."""
    parts = [weighted_metrics(ranked, *draw(size)) for size in blocks]
    return {name: np.concatenate([part[name] for part in parts]) for name in METRIC_NAMES}


def weighted_metrics(
    ranked: RankedScores, positive: np.ndarray, negative: np.ndarray
) -> dict[str, np.ndarray]:
    """Every metric of METRIC_NAMES for each row of `positive`/`negative` (draws x rows, in ranked order, or one
    vector): a row's weight as a positive and as a negative. Undefined figures are NaN (no positive, nothing
    flagged); callers turn them into None with a reason."""
    pos = np.atleast_2d(positive)
    neg = np.atleast_2d(negative)
    blocks = draw_block_sizes(pos.shape[0], pos.shape[1])
    if len(blocks) <= 1:
        return _block_metrics(ranked, pos, neg)
    starts = np.cumsum([0, *blocks])
    parts = [_block_metrics(ranked, pos[a:b], neg[a:b]) for a, b in zip(starts[:-1], starts[1:], strict=True)]
    return {name: np.concatenate([part[name] for part in parts]) for name in METRIC_NAMES}


def _block_metrics(ranked: RankedScores, positive: np.ndarray, negative: np.ndarray) -> dict[str, np.ndarray]:
    pos = positive.astype(np.float64, copy=False)
    neg = negative.astype(np.float64, copy=False)
    draws = pos.shape[0]
    cum_pos = np.cumsum(pos, axis=1)
    cum_neg = np.cumsum(neg, axis=1)
    if ranked.group_ends.size == ranked.scores.size:
        tp, fp = cum_pos, cum_neg  # no tied scores: every row ends its own group
    else:
        tp = cum_pos[:, ranked.group_ends]
        fp = cum_neg[:, ranked.group_ends]
    total_pos, total_neg = tp[:, -1], fp[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        # Trapezoids between successive thresholds (ties form one step), as sklearn's roc_auc_score.
        auc = np.sum(_steps(fp, np.subtract) * _steps(tp, np.add), axis=1) / (2.0 * total_pos * total_neg)
        flagged = tp + fp
        precision_at = np.divide(tp, flagged, out=np.zeros_like(tp), where=flagged > 0)
        # Step-wise recall increments times precision, as sklearn's average_precision_score.
        pr_auc = np.sum(_steps(tp, np.subtract) * precision_at, axis=1) / total_pos
        k = ranked.flagged
        tp_t = cum_pos[:, k - 1] if k else np.zeros(draws)
        fp_t = cum_neg[:, k - 1] if k else np.zeros(draws)
        precision = tp_t / (tp_t + fp_t)
        recall = tp_t / total_pos
        flag_rate = (tp_t + fp_t) / (total_pos + total_neg)
        brier = (pos @ (1.0 - ranked.scores) ** 2 + neg @ ranked.scores**2) / (total_pos + total_neg)
    return {
        "roc_auc": auc,
        "pr_auc": pr_auc,
        "precision": precision,
        "recall": recall,
        "flag_rate": flag_rate,
        "brier": brier,
    }


def _steps(cumulative: np.ndarray, op: np.ufunc) -> np.ndarray:
    """op(c, c_prev) per draw, c_prev being c shifted one threshold right with 0 in front: the same values as
    op(c, np.concatenate([zeros, c[:, :-1]], axis=1)) without building that shifted copy."""
    out = np.empty_like(cumulative)
    op(cumulative[:, :1], 0.0, out=out[:, :1])
    op(cumulative[:, 1:], cumulative[:, :-1], out=out[:, 1:])
    return out


def cells_at_threshold(ranked: RankedScores, positive: np.ndarray, negative: np.ndarray) -> ConfusionCells:
    """The confusion cells for one weight vector (ranked order)."""
    k = ranked.flagged
    return ConfusionCells(
        float(positive[:k].sum()),
        float(negative[:k].sum()),
        float(positive[k:].sum()),
        float(negative[k:].sum()),
    )


def undefined_reason(name: str, positives: float, negatives: float, flagged: int) -> str:
    """Why metric `name` has no value on these rows."""
    if name == "precision" and flagged == 0:
        return "no row scored at or above the decision threshold"
    if positives <= 0:
        return "no positive row (expected or observed): the metric is undefined"
    if negatives <= 0 and name == "roc_auc":
        return "no negative row (expected or observed): ROC AUC is undefined"
    return "undefined on these rows"


def metric_estimates(
    point: Mapping[str, np.ndarray],
    draws: Mapping[str, np.ndarray] | None,
    *,
    scale: float,
    confidence: float,
    positives: float,
    negatives: float,
    flagged: int,
) -> dict[str, MetricEstimate]:
    """Point figures with intervals from the draws' spread around their mean, times `scale` (the ratio of the
    draws' standard error to the night's: sqrt(draw rows / night rows) when the draws used a sample)."""
    out: dict[str, MetricEstimate] = {}
    alpha = 1.0 - confidence
    for name in METRIC_NAMES:
        value = float(point[name][0])
        if not math.isfinite(value):
            out[name] = MetricEstimate(None, reason=undefined_reason(name, positives, negatives, flagged))
            continue
        if draws is None:
            out[name] = MetricEstimate(value)
            continue
        sample = draws[name][np.isfinite(draws[name])]
        if sample.size < max(10, draws[name].size // 2):
            reason = "interval withheld: the metric was undefined in most label draws (too few positives)"
            out[name] = MetricEstimate(value, reason=reason)
            continue
        low, high = np.quantile(sample, [alpha / 2, 1 - alpha / 2])
        centre = float(sample.mean())
        lower = min(max(value + (float(low) - centre) * scale, 0.0), value)
        upper = max(min(value + (float(high) - centre) * scale, 1.0), value)
        out[name] = MetricEstimate(value, lower, upper)
    return out


def realized_performance(scores: np.ndarray, labels: np.ndarray, threshold: float) -> PerformanceEstimate:
    """The night's figures from its matured labels (no interval), by the same code as the estimates."""
    s = np.asarray(scores, dtype=np.float64)
    y = check_labels(labels, "labels")
    if s.shape != y.shape:
        raise ValueError(f"scores ({s.size}) and labels ({y.size}) differ in length")
    present = np.isfinite(s)
    s, y = s[present], y[present]
    if s.size == 0:
        return withheld("realized", 0, "no row with both a score and a label")
    ranked = RankedScores.of(s, threshold)
    pos = y[ranked.order].astype(np.float64)
    point = weighted_metrics(ranked, pos, 1.0 - pos)
    metrics = metric_estimates(
        point,
        None,
        scale=1.0,
        confidence=0.95,
        positives=float(pos.sum()),
        negatives=float(s.size - pos.sum()),
        flagged=ranked.flagged,
    )
    cells = cells_at_threshold(ranked, pos, 1.0 - pos)
    return PerformanceEstimate(
        "realized", int(s.size), metrics, None, cells, {"rows_without_score": int((~present).sum())}
    )


def check_labels(labels: np.ndarray, what: str) -> np.ndarray:
    """Labels as an int array of 0/1; anything else is a clear error."""
    y = np.asarray(labels)
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise ValueError(f"{what} hold {int(np.isnan(y).sum())} missing value(s): pass matured labels only")
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:
        raise ValueError(f"{what} must be 0/1 (1 = the positive class), got values {sorted(values)[:5]}")
    return y.astype(np.int8)
