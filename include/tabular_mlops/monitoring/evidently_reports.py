"""Step 6 of a night, its reports: Evidently 0.7 reports of the current window (drift, data summary, score drift)
and of the matured-label window (label drift, classification quality), with the decision's own figures.

Key numbers come from the vectorized statistics on the window (drift.py; a reproducible sample of it above
`monitor.max_window_rows`, see prediction_log.read_window); Evidently renders the HTML report on a sample of at
most `monitor.report_sample_rows` rows per side, which keeps 1M-row windows affordable.

The project's drift tests run inside Evidently, so a report shows the decision's numbers, not Evidently's own:
three stattests are registered (`tabular_mlops_ks`, `tabular_mlops_psi`, `tabular_mlops_chi2`), each running
drift.py's test for the column Evidently hands it against the champion's reference profile (the very reference
side of the decision) set with `project_tests`; on the same current rows the figures are the decision's to the
last digit. The drift score shown is the p-value for KS / chi-square (threshold `ks_alpha`) and PSI for PSI
(threshold `psi_significant`; `score_psi_threshold` for the score); the verdict is drift.py's, effect size included.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import html
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tabular_mlops.core.config import MonitorConfig, SchemaConfig
from tabular_mlops.monitoring.drift import column_drift, numeric_psi
from tabular_mlops.monitoring.evidently_figures import one_figure_per_column
from tabular_mlops.monitoring.log_window import Population
from tabular_mlops.monitoring.nights_chart import banner_widget, prepend_widgets
from tabular_mlops.monitoring.reference_profile import (
    SCORE_COLUMN,
    NumericProfile,
    ReferenceProfile,
    column_profile,
)
from tabular_mlops.monitoring.results import Decision, NightSummary

PREFIX = "tabular_mlops_"
TESTS = ("ks", "psi", "chi2")


@dataclass(frozen=True)
class _Context:
    schema: SchemaConfig
    monitor: MonitorConfig
    profile: ReferenceProfile | None
    current: pd.DataFrame | None = None


_CONTEXT: contextvars.ContextVar[_Context | None] = contextvars.ContextVar(
    "tabular_mlops_tests", default=None
)


def stattest_name(test: str) -> str:
    return PREFIX + test


def _run(test: str, reference: pd.Series, current: pd.Series, threshold: float) -> tuple[float, bool]:
    ctx = _CONTEXT.get()
    if ctx is None:
        raise RuntimeError(
            f"{stattest_name(test)} runs only inside project_tests() (it needs params.yaml's monitor)"
        )
    name = str(current.name)
    # Evidently hands a stattest the column without its missing values; the project's PSI counts them as a
    # bin of their own, so the column is taken whole from the frame the report runs on (the same rows).
    if ctx.current is not None and name in ctx.current:
        current = ctx.current[name]
    kinds = {f.name: f.type for f in ctx.schema.features}
    ref = ctx.profile.columns.get(name) if ctx.profile is not None else None
    if name not in kinds:  # the score: PSI on the reference's bins against `threshold`
        profile = ref if isinstance(ref, NumericProfile) else None
        values = pd.to_numeric(current, errors="coerce").to_numpy(float)
        psi = numeric_psi(
            profile if profile is not None else reference.to_numpy(float), values, ctx.monitor.psi_bins
        )
        return psi, psi > threshold
    if ref is None:
        ref = column_profile(reference, kinds[name], ctx.monitor.psi_bins)
    result = column_drift(ref, current.rename(name), kinds[name], test, ctx.monitor)
    score = result.p_value if result.p_value is not None else result.psi
    return float(score), bool(result.drifted)


def register() -> None:
    """Register the project's stattests with Evidently (idempotent)."""
    from evidently.legacy.calculations.stattests.registry import StatTest, register_stattest
    from evidently.legacy.core import ColumnType

    labels = {"ks": "K-S p-value (project)", "psi": "PSI (project)", "chi2": "chi-square p-value (project)"}
    for test in TESTS:

        def func(ref: pd.Series, cur: pd.Series, _type: Any, threshold: float, test: str = test) -> Any:
            return _run(test, ref, cur, threshold)

        kinds = [ColumnType.Numerical] if test == "ks" else [ColumnType.Categorical]
        if test == "psi":
            kinds = [ColumnType.Numerical, ColumnType.Categorical]
        register_stattest(
            StatTest(
                name=stattest_name(test),
                display_name=labels[test],
                allowed_feature_types=kinds,
                default_threshold=0.0,
            ),
            func,
        )


def column_settings(schema: SchemaConfig, monitor: MonitorConfig) -> tuple[dict[str, str], dict[str, float]]:
    """Per feature: the stattest name and the threshold Evidently shows beside it (params.yaml's monitor)."""
    methods, thresholds = {}, {}
    for f in schema.features:
        test = monitor.column_tests.get(f.name) or monitor.default_test.get(f.type, "psi")
        methods[f.name] = stattest_name(test)
        thresholds[f.name] = monitor.psi_significant if test == "psi" else monitor.ks_alpha
    return methods, thresholds


def drift_metrics(schema: SchemaConfig, monitor: MonitorConfig) -> list[Any]:
    """Dataset drift with the project's tests and drift-share threshold, and the score's PSI."""
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    register()
    methods, thresholds = column_settings(schema, monitor)
    # PSI of each key feature as well, whatever its test (the dashboard's per-feature PSI panel).
    psi = stattest_name("psi")
    key_psi = [
        ValueDrift(column=f, method=psi, threshold=monitor.psi_significant)
        for f in monitor.key_features
        # A key feature the schema does not have (a params file reused for another table) has nothing to show.
        if f in schema.feature_names and methods.get(f) != psi
    ]
    return [
        DataDriftPreset(
            columns=schema.feature_names,
            per_column_method=methods,
            per_column_threshold=thresholds,
            drift_share=monitor.drift_share_threshold,
        ),
        ValueDrift(column=SCORE_COLUMN, method=stattest_name("psi"), threshold=monitor.score_psi_threshold),
        # After the dataset table: a key feature's PSI verdict is informative, its test's verdict decides.
        *key_psi,
    ]


@contextlib.contextmanager
def project_tests(
    schema: SchemaConfig,
    monitor: MonitorConfig,
    profile: ReferenceProfile | None,
    current: pd.DataFrame | None = None,
) -> Iterator[None]:
    """While inside, the project's stattests compare `current` (the report's current rows, missing values
    included) against `profile` (the decision's reference side)."""
    register()
    token = _CONTEXT.set(_Context(schema, monitor, profile, current))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def add_banner(path: Path, lines: list[str]) -> None:
    """Put `lines` at the top of a saved Evidently HTML report (what the numbers are, on which rows)."""
    text = path.read_text(encoding="utf-8")
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    banner = (
        '<div id="tabular-mlops-banner" style="font-family:sans-serif;background:#fff8e1;'
        'border-bottom:2px solid #f0b400;padding:8px 16px;font-size:14px"><b>tabular-mlops</b>'
        f"<ul style='margin:4px 0'>{items}</ul></div>"
    )
    marker = "<body>"
    at = text.find(marker)
    text = text[: at + len(marker)] + banner + text[at + len(marker) :] if at >= 0 else banner + text
    path.write_text(text, encoding="utf-8")


def decision_lines(
    summary: NightSummary, decision: Decision, version: str, monitor: MonitorConfig
) -> list[str]:
    """The decision's own figures, as the Evidently report's banner states them."""
    window = summary.window
    lines = [f"decision for {summary.night}: {decision.action or summary.status} (champion v{version})"]
    if window is not None:
        lines.append(
            f"decision's figures ({window.rows} rows): drift share {window.drift_share:.3f} "
            f"(threshold {monitor.drift_share_threshold}), score PSI {window.score_psi:.3f} "
            f"(threshold {monitor.score_psi_threshold}), drifted: {', '.join(window.drifted_columns) or 'none'}"
        )
    if summary.last_night is not None:
        last = summary.last_night
        lines.append(
            f"decision's figures, newest night alone ({last.rows} rows, not in this report): drift share "
            f"{last.drift_share:.3f}, score PSI {last.score_psi:.3f}"
        )
    lines += [f"reason: {r}" for r in decision.reasons]
    return lines


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
        # The matured positive rate (mean of the label, wording.positive_rate) for the dashboard's performance panel.
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
        with project_tests(schema, monitor, profile, c), one_figure_per_column():
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
        # The same banner on the report's page in the Evidently UI, which titles a report by its id alone.
        about = (
            f": champion {labels['champion']}, decision {labels.get('mark', labels['decision'])}"
            if labels
            else ""
        )
        prepend_widgets(snapshot, [banner_widget(f"{night} {kind} report{about}", banner[kind])])
        results[kind] = (path, snapshot)
    return results
