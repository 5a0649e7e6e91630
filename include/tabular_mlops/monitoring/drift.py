"""Step 3 of a night: drift per column (PSI on reference quantiles, KS, chi-square on a 2-sample table), of the
score, and of the label's base rate, each against the champion's reference profile.

The reference side comes from a profile (reference_profile.py), built once per champion; a night only passes over
its own rows.
Used for the retraining decision on the window (on a reproducible sample of it above `monitor.max_window_rows`,
see predictions.read_window); Evidently renders the human report on a smaller sample. Edge inputs (all-missing
or constant columns, unseen categories) are flagged with a reason and never yield NaN.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from tabular_mlops.core.config import MonitorConfig, SchemaConfig
from tabular_mlops.monitoring.log_window import Population
from tabular_mlops.monitoring.reference_profile import (
    SCORE_COLUMN,
    SKETCH_POINTS,
    CategoryProfile,
    ColumnProfile,
    NumericProfile,
    ReferenceProfile,
    build_profile,
    category_profile,
    column_profile,
    level_counts_and_missing,
    numeric_profile,
    sorted_present,
)
from tabular_mlops.monitoring.results import ColumnDrift, LabelDrift, WindowDrift

EPS = 1e-4
ALL_MISSING = "all values missing in the current window"


def _psi(ref_share: np.ndarray, cur_share: np.ndarray) -> float:
    ref = np.clip(ref_share, EPS, None)
    cur = np.clip(cur_share, EPS, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


@dataclass(frozen=True)
class Present:
    """A numeric column's present values, sorted once, and how many were missing. Every count the tests need
    is then a binary search of a few reference points into it, instead of one per current value."""

    sorted: np.ndarray
    missing: int

    @classmethod
    def of(cls, values: np.ndarray | Present) -> Present:
        if isinstance(values, Present):
            return values
        values = np.asarray(values, dtype=float)
        return cls(*sorted_present(values))

    @property
    def rows(self) -> int:
        return len(self.sorted) + self.missing


def numeric_psi(ref: np.ndarray | NumericProfile, cur: np.ndarray | Present, bins: int) -> float:
    """PSI on the reference's quantile bins (10 by default); missing values form their own bin."""
    profile = ref if isinstance(ref, NumericProfile) else numeric_profile(ref, bins)
    present = Present.of(cur)
    # Bins [edge_i-1, edge_i), as the reference's counts (reference_profile.numeric_profile): values below each edge.
    upto = np.searchsorted(present.sorted, profile.psi_edges, side="left")
    cur_counts = np.append(np.diff(upto, prepend=0, append=len(present.sorted)), present.missing)
    return _psi(profile.psi_counts / max(profile.rows, 1), cur_counts / max(present.rows, 1))


def ks_test(profile: NumericProfile, cur: np.ndarray | Present) -> tuple[float, float]:
    """Two-sample KS of the reference (as profiled) against `cur`'s present values: (statistic, p-value).

    Both empirical CDFs are compared at every sketch point, from above and from below, which is the exact
    statistic when the sketch holds every distinct reference value; up to 10,000 values a side it is scipy's own
    test on the rebuilt reference values (exact p-value), beyond that Smirnov's asymptotic p-value as scipy uses.
    """
    present = Present.of(cur)
    n, m = profile.present, len(present.sorted)
    if n == 0 or m == 0:
        return (1.0, 0.0) if n != m else (0.0, 1.0)
    if max(n, m) <= SKETCH_POINTS and profile.exact:
        res = stats.ks_2samp(profile.values(), present.sorted)
        return float(res.statistic), float(res.pvalue)
    # Current values <= / < each sketch point.
    at_or_below = np.searchsorted(present.sorted, profile.points, side="right")
    below = np.searchsorted(present.sorted, profile.points, side="left")
    statistic = max(
        float(np.max(np.abs(profile.at_or_below / n - at_or_below / m))),
        float(np.max(np.abs(profile.below / n - below / m))),
    )
    big, small = max(n, m), min(n, m)
    p_value = float(np.clip(stats.kstwo.sf(statistic, np.round(big * small / (big + small))), 0, 1))
    return statistic, p_value


def category_shares(
    ref: pd.Series | CategoryProfile, cur: pd.Series
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Counts per level (as text; missing is a level) of reference and current on the union of their levels."""
    ref_c, cur_c, levels, _ = _category_counts(ref, cur)
    return ref_c, cur_c, levels


def _category_counts(
    ref: pd.Series | CategoryProfile, cur: pd.Series
) -> tuple[np.ndarray, np.ndarray, list[str], int]:
    """`category_shares` and the number of missing current values."""
    profile = ref if isinstance(ref, CategoryProfile) else category_profile(ref)
    cur_levels, cur_counts, cur_missing = level_counts_and_missing(cur)
    levels = sorted(set(profile.levels) | set(cur_levels))
    ref_by = dict(zip(profile.levels, profile.counts.tolist(), strict=True))
    cur_by = dict(zip(cur_levels, cur_counts.tolist(), strict=True))
    ref_c = np.array([ref_by.get(level, 0) for level in levels], dtype=np.int64)
    cur_c = np.array([cur_by.get(level, 0) for level in levels], dtype=np.int64)
    return ref_c, cur_c, levels, cur_missing


def band(psi: float, moderate: float, significant: float) -> str:
    return "significant" if psi > significant else "moderate" if psi > moderate else "stable"


def column_drift(
    ref: pd.Series | ColumnProfile, cur: pd.Series, kind: str, test: str, cfg: MonitorConfig
) -> ColumnDrift:
    """Drift of one column with the configured test; flags explain edge inputs instead of producing NaN.
    `ref` is the reference column or its profile (the same result, without the reference-side work)."""
    if isinstance(ref, pd.Series):
        ref = column_profile(ref, kind, cfg.psi_bins)
    flags: list[str] = []
    name = str(cur.name)
    if isinstance(ref, CategoryProfile):
        # The missing count comes with the level counts: a separate isna pass over text values cost as much.
        ref_c, cur_c, levels, cur_missing = _category_counts(ref, cur)
        if cur_missing == len(cur):
            flags.append(ALL_MISSING)
        psi = _psi(ref_c / max(ref_c.sum(), 1), cur_c / max(cur_c.sum(), 1))
        unseen = [lvl for lvl, r, c in zip(levels, ref_c, cur_c, strict=True) if r == 0 and c > 0]
        share = 0.0
        if unseen:
            share = cur_c[[levels.index(u) for u in unseen]].sum() / max(cur_c.sum(), 1)
            flags.append(f"unseen categories {unseen[:5]} ({share:.1%} of rows)")
        if test == "chi2":
            table = np.vstack([ref_c, cur_c])
            table = table[:, table.sum(axis=0) > 0]
            if table.shape[1] < 2:
                statistic, p_value = 0.0, 1.0
                flags.append("a single category in both windows")
            else:
                statistic, p_value, _, _ = stats.chi2_contingency(table)
            drifted = (p_value < cfg.ks_alpha and psi > cfg.psi_moderate) or share > cfg.max_unseen_share
            return ColumnDrift(
                name,
                test,
                float(statistic),
                float(p_value),
                psi,
                drifted,
                band(psi, cfg.psi_moderate, cfg.psi_significant),
                tuple(flags),
            )
        return ColumnDrift(
            name,
            "psi",
            psi,
            None,
            psi,
            # A new category on a few percent of rows is drift even while PSI stays moderate.
            psi > cfg.psi_significant or share > cfg.max_unseen_share,
            band(psi, cfg.psi_moderate, cfg.psi_significant),
            tuple(flags),
        )

    if cur.isna().all():
        flags.append(ALL_MISSING)
    present = Present.of(pd.to_numeric(cur, errors="coerce").to_numpy(dtype=float))
    psi = numeric_psi(ref, present, cfg.psi_bins)
    if len(present.sorted) and present.sorted[0] == present.sorted[-1]:
        flags.append(f"constant in the current window ({present.sorted[0]:g})")
    if test == "ks":
        statistic, p_value = ks_test(ref, present)
        # A spread-only change keeps KS small but moves PSI: either effect size counts, the p-value is required.
        drifted = p_value < cfg.ks_alpha and (statistic > cfg.ks_min_statistic or psi > cfg.psi_moderate)
        return ColumnDrift(
            name,
            "ks",
            statistic,
            p_value,
            psi,
            drifted,
            band(psi, cfg.psi_moderate, cfg.psi_significant),
            tuple(flags),
        )
    return ColumnDrift(
        name,
        "psi",
        psi,
        None,
        psi,
        psi > cfg.psi_significant,
        band(psi, cfg.psi_moderate, cfg.psi_significant),
        tuple(flags),
    )


def dataset_drift(
    reference: pd.DataFrame | ReferenceProfile,
    current: pd.DataFrame,
    schema: SchemaConfig,
    cfg: MonitorConfig,
) -> list[ColumnDrift]:
    """Drift of every schema feature; pass the reference's profile to reuse its reference-side work."""
    if isinstance(reference, pd.DataFrame):
        reference = build_profile(reference, schema, cfg)
    results = []
    for f in schema.features:
        if f.name not in current.columns:
            results.append(
                ColumnDrift(
                    f.name,
                    "missing",
                    1.0,
                    None,
                    0.0,
                    True,
                    "significant",
                    ("column missing from the current window",),
                )
            )
            continue
        test = cfg.column_tests.get(f.name) or cfg.default_test.get(f.type, "psi")
        results.append(
            column_drift(reference.columns[f.name], current[f.name].rename(f.name), f.type, test, cfg)
        )
    return results


def drift_share(results: list[ColumnDrift]) -> float:
    """Share of drifted columns; 0.0 (never NaN) when there is nothing to compare."""
    return float(sum(r.drifted for r in results) / len(results)) if results else 0.0


def label_drift(
    ref_labels: np.ndarray, cur_labels: np.ndarray, max_change: float, alpha: float
) -> LabelDrift:
    """Base-rate drift of a binary label (see `label_drift_counts`)."""
    ref = np.asarray(ref_labels, float)
    ref = ref[~np.isnan(ref)]
    return label_drift_counts(int(ref.sum()), len(ref), cur_labels, max_change, alpha)


def label_drift_counts(
    ref_pos: int, ref_n: int, cur_labels: np.ndarray, max_change: float, alpha: float
) -> LabelDrift:
    """Base-rate drift of a binary label, the reference given by its positives and labelled rows: two-sample
    chi-square on the 2x2 table (both sides are samples) and the relative change of the positive rate; drifted
    only when both say so (at 1M rows any p-value is tiny)."""
    cur = np.asarray(cur_labels, float)
    cur = cur[~np.isnan(cur)]
    if ref_n == 0 or len(cur) == 0:
        return LabelDrift()
    cur_pos = int(cur.sum())
    ref_rate, cur_rate = ref_pos / ref_n, cur_pos / len(cur)
    table = np.array([[ref_pos, ref_n - ref_pos], [cur_pos, len(cur) - cur_pos]])
    p_value = 1.0
    if (table.sum(axis=0) > 0).all():
        p_value = float(stats.chi2_contingency(table)[1])
    ratio = cur_rate / ref_rate if ref_rate > 0 else (1.0 if cur_rate == 0 else float("inf"))
    changed = ratio > 1 + max_change or ratio < 1 / (1 + max_change)
    return LabelDrift(
        reference_rate=round(ref_rate, 6),
        matured_rate=round(cur_rate, 6),
        rate_ratio=round(ratio, 4) if np.isfinite(ratio) else None,
        p_value=p_value,
        drifted=bool(changed and p_value < alpha),
    )


def window_drift(
    reference: ReferenceProfile, rows: pd.DataFrame, schema: SchemaConfig, monitor: MonitorConfig
) -> WindowDrift:
    """Feature drift per column and score PSI of `rows` against the reference's profile."""
    columns = dataset_drift(reference, rows, schema, monitor)
    scores = reference.columns[SCORE_COLUMN]
    if not isinstance(scores, NumericProfile):
        raise TypeError(f"the reference profile's '{SCORE_COLUMN}' column is not numeric")
    return WindowDrift(
        rows=len(rows),
        columns=tuple(columns),
        drift_share=drift_share(columns),
        score_psi=numeric_psi(scores, rows["score"].to_numpy(float), monitor.psi_bins),
    )


@dataclass(frozen=True)
class NightDrift:
    """Every drift figure of a night against the reference (all empty when the window has no rows)."""

    window: WindowDrift | None = None
    # The newest night alone (only with at least monitor.min_rows rows): a fresh shift is diluted in a window.
    last_night: WindowDrift | None = None
    labelled_window_drifted: tuple[str, ...] = ()
    label: LabelDrift = LabelDrift()


def night_drift(
    reference: ReferenceProfile,
    current: pd.DataFrame,
    labelled: pd.DataFrame,
    population: Population,
    night: dt.date,
    schema: SchemaConfig,
    monitor: MonitorConfig,
) -> NightDrift:
    """The current window's drift, the newest night's alone, the matured-label window's drifted columns (when it
    has `min_rows`), and label drift on enough matured labels."""
    if current.empty:
        return NightDrift()
    last = current[current[schema.timestamp_column].dt.date == night]
    matured = population.matured(labelled, monitor)
    labelled_drift = (
        dataset_drift(reference, labelled, schema, monitor) if len(labelled) >= monitor.min_rows else []
    )
    return NightDrift(
        window=window_drift(reference, current, schema, monitor),
        last_night=window_drift(reference, last, schema, monitor) if len(last) >= monitor.min_rows else None,
        labelled_window_drifted=tuple(c.column for c in labelled_drift if c.drifted),
        label=label_drift_counts(
            reference.positives,
            reference.labelled,
            labelled["label"].to_numpy(float) if matured else np.array([]),
            monitor.label_rate_max_change,
            monitor.label_alpha,
        ),
    )
