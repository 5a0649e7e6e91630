"""Step 4 of a night: its summary, the numbers the decision, the alerts and the dashboards read (never NaN): the
drift figures, data quality of the window and of the newest night, volumes, and matured-label performance.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from tabular_mlops.core.config import MonitorConfig, SchemaConfig
from tabular_mlops.monitoring.drift import NightDrift
from tabular_mlops.monitoring.log_window import Population
from tabular_mlops.monitoring.reference_profile import (
    MISSING_LEVEL,
    CategoryProfile,
    NumericProfile,
    ReferenceProfile,
)
from tabular_mlops.monitoring.results import NightSummary, Status
from tabular_mlops.stats.counts import unusual_count


def missing_rates(df: pd.DataFrame, columns: list[str]) -> dict[str, float]:
    return {c: (float(df[c].isna().mean()) if c in df and len(df) else 0.0) for c in columns}


def outlier_share(df: pd.DataFrame, schema: SchemaConfig) -> float:
    """Share of rows with a value outside the schema's range or category set."""
    if df.empty:
        return 0.0
    bad = np.zeros(len(df), dtype=bool)
    for f in schema.features:
        if f.name not in df:
            continue
        col = df[f.name]
        if f.is_categorical:
            bad |= col.notna().to_numpy() & ~col.isin(f.categories).to_numpy()
        else:
            values = pd.to_numeric(col, errors="coerce")
            if f.min is not None:
                bad |= (values < f.min).fillna(False).to_numpy()
            if f.max is not None:
                bad |= (values > f.max).fillna(False).to_numpy()
    return float(bad.mean())


def night_quality(
    night: pd.DataFrame,
    reference: ReferenceProfile,
    schema: SchemaConfig,
    monitor: MonitorConfig,
    expected: float,
    night_rows: int | None = None,
) -> list[str]:
    """Quality rules the newest night fails: its row count far from the usual (`expected` per night), a feature
    missing above `max_missing_rate`, a key feature constant where the reference varies, categories unseen in the
    reference on more than `max_unseen_share` of its rows. `night_rows` is the night's row count when `night` is a
    sample of it."""
    problems = []
    rows = len(night) if night_rows is None else night_rows
    if unusual_count(rows, expected, monitor.row_count_tolerance):
        problems.append(f"{rows} rows on the night where about {expected:.0f} are normal")
    if night.empty:
        return problems
    for f in schema.features:
        col = night[f.name] if f.name in night else pd.Series(np.nan, index=night.index)
        missing = float(col.isna().mean())
        if missing > monitor.max_missing_rate:
            problems.append(
                f"'{f.name}' missing on {missing:.1%} of the night's rows (> {monitor.max_missing_rate:.0%})"
            )
            continue
        ref = reference.columns.get(f.name)
        if f.is_categorical:
            seen = set(ref.levels) - {MISSING_LEVEL} if isinstance(ref, CategoryProfile) else set()
            values = col.dropna().astype(str)
            unseen = values[~values.isin(seen)]
            share = len(unseen) / len(night)
            if share > monitor.max_unseen_share:
                examples = sorted(unseen.unique())[:3]
                problems.append(
                    f"'{f.name}': {share:.1%} of the night's rows hold categories unseen in the reference "
                    f"{examples} (> {monitor.max_unseen_share:.0%})"
                )
        elif (
            f.name in monitor.key_features
            and col.nunique() == 1
            and isinstance(ref, NumericProfile)
            and len(ref.points) > 1
        ):
            problems.append(f"key feature '{f.name}' is constant ({col.dropna().iloc[0]:g}) on the night")
    return problems


def matured_performance(labelled: pd.DataFrame) -> float | None:
    from sklearn.metrics import roc_auc_score

    if labelled.empty or labelled["label"].nunique() < 2:
        return None
    return float(roc_auc_score(labelled["label"].astype(int), labelled["score"]))


def summarize(
    schema: SchemaConfig,
    monitor: MonitorConfig,
    reference: ReferenceProfile,
    drift: NightDrift,
    current: pd.DataFrame,
    labelled: pd.DataFrame,
    night: dt.date,
    population: Population,
) -> NightSummary:
    """Everything the decision and the dashboards need, as plain numbers (never NaN). `population` gives the
    exact counts when `current` and `labelled` are samples of their windows."""
    per_night = reference.rows / max(reference.days, 1)
    # Expected from the nights actually logged in the window, not a full window: a fresh stack (or the first
    # nights after a gap) has logged fewer than `window_days` nights. A short or empty night itself is caught by
    # the night's own row-count rule (night_quality).
    expected_rows = per_night * min(max(population.nights, 1), monitor.window_days)
    counts: dict[str, Any] = {
        "night": night,
        "rows": population.rows,
        "night_rows": population.night_rows,
        "reference_rows": reference.rows,
        "expected_rows": round(expected_rows, 1),
        "labelled_rows": population.labelled_rows,
    }
    if current.empty:
        return NightSummary(status=Status.NO_DATA, **counts)
    matured = population.matured(labelled, monitor)
    last = current[current[schema.timestamp_column].dt.date == night]
    return NightSummary(
        status=Status.OK if population.rows >= monitor.min_rows else Status.TOO_FEW_ROWS,
        **counts,
        window=drift.window,
        last_night=drift.last_night,
        missing_rate=missing_rates(current, schema.feature_names),
        outlier_share=outlier_share(current, schema),
        row_count_ratio=round(population.rows / expected_rows, 4) if expected_rows else 0.0,
        matured_roc_auc=matured_performance(labelled) if matured else None,
        # The same labels against the scores as logged (by the champion of that night), for comparison.
        matured_roc_auc_logged=(
            matured_performance(labelled.assign(score=labelled["logged_score"]))
            if matured and "logged_score" in labelled
            else None
        ),
        label_drift=drift.label,
        labelled_window_drifted=drift.labelled_window_drifted,
        night_quality=tuple(
            night_quality(last, reference, schema, monitor, per_night, population.night_rows)
        ),
    )
