"""The nightly monitoring report: drift of features, score and label, data quality, matured-label performance.

Key numbers come from vectorized statistics on the window (drift.py; a reproducible sample of it above
`monitor.max_window_rows`, see predictions.read_window); Evidently renders the HTML report
on a sample of at most `monitor.report_sample_rows` rows per side, which keeps 1M-row windows affordable.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tabular_mlops.core.config import MonitorConfig, SchemaConfig
from tabular_mlops.monitoring.drift import dataset_drift, drift_share, label_drift_counts, numeric_psi
from tabular_mlops.monitoring.reference_profile import (
    MISSING_LEVEL,
    SCORE_COLUMN,
    CategoryProfile,
    NumericProfile,
    ReferenceProfile,
    build_profile,
)
from tabular_mlops.monitoring.results import ColumnDrift, NightSummary, Status, WindowDrift
from tabular_mlops.stats.counts import unusual_count


@dataclass(frozen=True)
class Population:
    """Exact row counts behind windows whose statistics run on a sample (predictions.read_window): the volumes
    reported and the row-count rules use these, the statistics the sampled rows."""

    rows: int  # the current window's scored rows
    night_rows: int  # of which on the night being judged
    nights: int  # nights with rows in the current window
    labelled_rows: int  # the matured-label window's rows


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


def summarize(
    schema: SchemaConfig,
    monitor: MonitorConfig,
    reference: pd.DataFrame | ReferenceProfile,
    reference_scores: np.ndarray | None,
    current: pd.DataFrame,
    labelled: pd.DataFrame,
    labelled_drift: list[ColumnDrift] | None,
    night: dt.date,
    population: Population | None = None,
) -> NightSummary:
    """Everything the decision and the dashboards need, as plain numbers (never NaN). `reference` is the
    champion's reference profile, or its rows with `reference_scores` (profiled here). `population` gives the
    exact counts when `current` and `labelled` are samples of their windows."""
    if isinstance(reference, pd.DataFrame):
        reference = build_profile(reference.assign(**{SCORE_COLUMN: reference_scores}), schema, monitor)
    per_night = reference.rows / max(reference.days, 1)
    # Expected from the nights actually logged in the window, not a full window: a fresh stack (or the first
    # nights after a gap) has logged fewer than `window_days` nights. A short or empty night itself is caught by
    # the night's own row-count rule (night_quality).
    last = current[current[schema.timestamp_column].dt.date == night] if len(current) else current
    if population is None:
        logged = current[schema.timestamp_column].dt.normalize().nunique() if len(current) else 0
        population = Population(len(current), len(last), logged, len(labelled))
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
    # Performance and label drift only on enough matured labels (a few dozen defaults are noise).
    matured = population.labelled_rows >= monitor.min_rows and len(labelled) > 0
    return NightSummary(
        status=Status.OK if population.rows >= monitor.min_rows else Status.TOO_FEW_ROWS,
        **counts,
        window=window_drift(reference, current, schema, monitor),
        # The newest night alone as well: a shift that started last night is diluted in a multi-day window.
        last_night=(
            window_drift(reference, last, schema, monitor) if len(last) >= monitor.min_rows else None
        ),
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
        label_drift=label_drift_counts(
            reference.positives,
            reference.labelled,
            labelled["label"].to_numpy(float) if matured else np.array([]),
            monitor.label_rate_max_change,
            monitor.label_alpha,
        ),
        labelled_window_drifted=tuple(c.column for c in (labelled_drift or []) if c.drifted),
        night_quality=tuple(
            night_quality(last, reference, schema, monitor, per_night, population.night_rows)
        ),
    )


def _sample(df: pd.DataFrame, n: int) -> pd.DataFrame:
    return df.sample(n=n, random_state=0) if len(df) > n else df


def evidently_frame(df: pd.DataFrame, schema: SchemaConfig) -> pd.DataFrame:
    """Features, `score` and `label` in the types the reports' DataDefinition declares: every number (int,
    bool, score, label) as float64 with NaN for missing, every category as text with None for missing.

    The two sides arrive in different dtypes (snapshots hold integers as pandas Int64 and flags as bool, the
    prediction log gives float64), and Evidently 0.7 breaks on the originals: its drift step's correlation fails
    with "'float' object has no attribute 'shape'" on an Int64 column without missing values, and its quantiles
    on a bool column with "numpy boolean subtract"."""
    columns: dict[str, object] = {}
    for f in schema.features:
        col = df[f.name]
        if f.is_categorical:
            columns[f.name] = (
                col.astype(object).where(col.notna(), None).map(lambda v: None if v is None else str(v))
            )
        else:
            columns[f.name] = numbers(col)
    for name in ("score", "label"):
        columns[name] = numbers(df[name])
    return pd.DataFrame(columns, index=df.index)


def numbers(col: pd.Series) -> np.ndarray:
    """A numeric, bool or nullable-integer column as float64, missing as NaN."""
    return pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _rows_line(
    total: int, used: int, what: str, n: int, decision: list[str] | None, population: int | None = None
) -> list[str]:
    """The banner line naming the rows behind the report (`total` the rows the decision used, `used` those
    Evidently got, `population` the window's rows when the decision used a sample of them)."""
    if population is not None and population > total:
        return [
            f"{what}: {population} rows; the decision used a reproducible sample of {total} of them "
            f"(monitor.max_window_rows), Evidently's figures below a random sample of {used} of those "
            f"(monitor.report_sample_rows = {n}):",
            *(decision or []),
        ]
    if used == total:
        lines = [
            f"{what}: all {total} rows, the rows the decision used; drift by the project's tests (params.yaml)"
        ]
        return lines + (decision or [])
    return [
        f"{what}: a random sample of {used} of {total} rows (monitor.report_sample_rows = {n}); Evidently's "
        "figures below are on the sample, the decision's on every row:",
        *(decision or []),
    ]


def evidently_reports(
    schema: SchemaConfig,
    monitor: MonitorConfig,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    labelled: pd.DataFrame,
    out_dir: Path,
    night: dt.date,
    performance_reference: pd.DataFrame | None = None,
    profile: ReferenceProfile | None = None,
    labels: dict[str, str] | None = None,
    decision_lines: list[str] | None = None,
    population: Population | None = None,
) -> dict[str, tuple[Path, object]]:
    """Evidently 0.7 Reports on samples (every frame carries features, `score` and `label`): data drift + data
    summary + score drift of the current window against the reference; label drift + classification quality of
    the matured-label window (labels arrive `label_delay_days` late, so it is an older window) against the
    reference, when it holds both classes. The performance reference is `performance_reference` when given: the
    champion's scores on its holdout, out of sample (on its training rows the scores are in-sample and flatter
    every comparison). Saved as HTML (temp file, then rename); returns kind -> (HTML path,
    Evidently snapshot stamped with the night, for the workspace).

    Drift uses the project's tests and thresholds against `profile` (the decision's reference side), so on the
    same rows Evidently shows the decision's figures; each report's banner names its rows and, where a sample
    was drawn, the decision's figures (`decision_lines`) beside. `labels` become the snapshot's tags/metadata;
    `population` the windows' row counts when `current` and `labelled` are samples of them."""
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.metrics import MeanValue, MissingValueCount, ValueDrift
    from evidently.presets import ClassificationPreset, DataSummaryPreset

    from tabular_mlops.monitoring.evidently_tests import add_banner, drift_metrics, project_tests

    n = monitor.report_sample_rows
    cols = [*schema.feature_names, "score", "label"]
    ref = evidently_frame(_sample(reference[cols], n), schema)
    cur = evidently_frame(_sample(current[cols], n), schema)
    base = {
        "numerical_columns": [*schema.numeric_features, "score"],
        "categorical_columns": schema.categorical_features,
    }
    # The data summary's dataset-wide figures and missing values cover every column, its statistics (min, max, mean,
    # quantiles) only the key features and the score: the drift table already plots every column against the
    # reference, and Evidently draws a figure per statistic per column (a third of a night's report time for all).
    summarized = [f for f in schema.feature_names if f in monitor.key_features]
    drift = Report(
        [
            *drift_metrics(schema, monitor),
            DataSummaryPreset(columns=[*summarized, "score"]),
            *(MissingValueCount(column=f) for f in schema.feature_names if f not in summarized),
        ]
    )
    outputs = [("drift", drift, ref, cur, DataDefinition(**base), out_dir / "drift_report.html")]
    # Classification metrics want integer classes next to the probability column.
    perf_ref = (
        ref
        if performance_reference is None
        else evidently_frame(_sample(performance_reference[cols], n), schema)
    )
    lab_ref = perf_ref.dropna(subset=["label"]).astype({"label": int})
    lab_cur = evidently_frame(_sample(labelled[cols].dropna(subset=["label"]), n), schema)
    lab_cur = lab_cur.astype({"label": int})
    # Same bar as the summary's matured ROC AUC and label drift: no performance figures from a handful of labels.
    if len(lab_cur) >= min(monitor.min_rows, n) and lab_cur["label"].nunique() == 2:
        definition = DataDefinition(
            numerical_columns=["score"],
            categorical_columns=["label"],
            classification=[BinaryClassification(target="label", prediction_probas="score")],
        )
        # The matured default rate (mean of the label) for the dashboard's performance panel.
        perf = Report(
            [ValueDrift(column="label", method="psi"), ClassificationPreset(), MeanValue(column="label")]
        )
        outputs.append(
            (
                "performance",
                perf,
                lab_ref[["score", "label"]],
                lab_cur[["score", "label"]],
                definition,
                out_dir / "performance_report.html",
            )
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    banner = {
        "drift": _rows_line(
            len(current),
            len(cur),
            "current window",
            n,
            decision_lines,
            population.rows if population else None,
        ),
        "performance": _rows_line(
            len(labelled),
            len(lab_cur),
            "matured-label window",
            n,
            decision_lines,
            population.labelled_rows if population else None,
        ),
    }
    for kind, report, r, c, definition, path in outputs:
        with project_tests(schema, monitor, profile, c):
            snapshot = report.run(
                current_data=Dataset.from_pandas(c, data_definition=definition),
                reference_data=Dataset.from_pandas(r, data_definition=definition),
                timestamp=dt.datetime.combine(night, dt.time()),
                tags=[*(f"{k}={v}" for k, v in (labels or {}).items()), f"kind={kind}"],
                metadata=dict(labels or {}),
            )
        tmp = path.with_name(f".{path.name}.tmp")
        snapshot.save_html(str(tmp))
        add_banner(tmp, banner[kind])
        tmp.replace(path)
        results[kind] = (path, snapshot)
    return results
