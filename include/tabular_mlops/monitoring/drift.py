"""Vectorized drift statistics per column (PSI on reference quantiles, KS, chi-square on a 2-sample table).

Used for the retraining decision on the full window; Evidently renders the human report on a sample. Edge
inputs (all-missing or constant columns, unseen categories) are flagged with a reason and never yield NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from tabular_mlops.config import MonitorConfig, SchemaConfig
from tabular_mlops.monitoring.results import ColumnDrift, LabelDrift

EPS = 1e-4


def _psi(ref_share: np.ndarray, cur_share: np.ndarray) -> float:
    ref = np.clip(ref_share, EPS, None)
    cur = np.clip(cur_share, EPS, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def numeric_psi(ref: np.ndarray, cur: np.ndarray, bins: int) -> float:
    """PSI on the reference's quantile bins (10 by default); missing values form their own bin."""
    ref_ok, cur_ok = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    edges = np.unique(np.quantile(ref_ok, np.linspace(0, 1, bins + 1)[1:-1])) if len(ref_ok) else np.array([])
    ref_counts = np.append(
        np.bincount(np.searchsorted(edges, ref_ok, side="right"), minlength=len(edges) + 1),
        len(ref) - len(ref_ok),
    )
    cur_counts = np.append(
        np.bincount(np.searchsorted(edges, cur_ok, side="right"), minlength=len(edges) + 1),
        len(cur) - len(cur_ok),
    )
    return _psi(ref_counts / max(len(ref), 1), cur_counts / max(len(cur), 1))


def category_shares(ref: pd.Series, cur: pd.Series) -> tuple[np.ndarray, np.ndarray, list[str]]:
    ref_s = ref.astype(object).where(ref.notna(), "<missing>").astype(str)
    cur_s = cur.astype(object).where(cur.notna(), "<missing>").astype(str)
    levels = sorted(set(ref_s.unique()) | set(cur_s.unique()))
    ref_c = ref_s.value_counts().reindex(levels, fill_value=0).to_numpy()
    cur_c = cur_s.value_counts().reindex(levels, fill_value=0).to_numpy()
    return ref_c, cur_c, levels


def band(psi: float, moderate: float, significant: float) -> str:
    return "significant" if psi > significant else "moderate" if psi > moderate else "stable"


def column_drift(ref: pd.Series, cur: pd.Series, kind: str, test: str, cfg: MonitorConfig) -> ColumnDrift:
    """Drift of one column with the configured test; flags explain edge inputs instead of producing NaN."""
    flags: list[str] = []
    name = str(cur.name)
    if cur.isna().all():
        flags.append("all values missing in the current window")
    if kind == "category":
        ref_c, cur_c, levels = category_shares(ref, cur)
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

    r = pd.to_numeric(ref, errors="coerce").to_numpy(dtype=float)
    c = pd.to_numeric(cur, errors="coerce").to_numpy(dtype=float)
    psi = numeric_psi(r, c, cfg.psi_bins)
    r_ok, c_ok = r[~np.isnan(r)], c[~np.isnan(c)]
    if len(c_ok) and np.nanmin(c_ok) == np.nanmax(c_ok):
        flags.append(f"constant in the current window ({c_ok[0]:g})")
    if test == "ks":
        if len(r_ok) == 0 or len(c_ok) == 0:
            statistic, p_value = (
                1.0 if len(r_ok) != len(c_ok) else 0.0,
                0.0 if len(r_ok) != len(c_ok) else 1.0,
            )
        else:
            res = stats.ks_2samp(r_ok, c_ok)
            statistic, p_value = float(res.statistic), float(res.pvalue)
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
    reference: pd.DataFrame, current: pd.DataFrame, schema: SchemaConfig, cfg: MonitorConfig
) -> list[ColumnDrift]:
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
        results.append(column_drift(reference[f.name], current[f.name].rename(f.name), f.type, test, cfg))
    return results


def drift_share(results: list[ColumnDrift]) -> float:
    """Share of drifted columns; 0.0 (never NaN) when there is nothing to compare."""
    return float(sum(r.drifted for r in results) / len(results)) if results else 0.0


def label_drift(
    ref_labels: np.ndarray, cur_labels: np.ndarray, max_change: float, alpha: float
) -> LabelDrift:
    """Base-rate drift of a binary label: two-sample chi-square on the 2x2 table (both sides are samples) and
    the relative change of the positive rate; drifted only when both say so (at 1M rows any p-value is tiny)."""
    ref = np.asarray(ref_labels, float)
    cur = np.asarray(cur_labels, float)
    ref, cur = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    if len(ref) == 0 or len(cur) == 0:
        return LabelDrift()
    ref_pos, cur_pos = int(ref.sum()), int(cur.sum())
    ref_rate, cur_rate = ref_pos / len(ref), cur_pos / len(cur)
    table = np.array([[ref_pos, len(ref) - ref_pos], [cur_pos, len(cur) - cur_pos]])
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
