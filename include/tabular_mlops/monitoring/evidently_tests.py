"""The project's drift tests inside Evidently, so a report shows the decision's numbers, not Evidently's own.

Three stattests are registered with Evidently (`tabular_mlops_ks`, `tabular_mlops_psi`, `tabular_mlops_chi2`). Each
runs drift.py's test for the column Evidently hands it, against the champion's reference profile (the very
reference side of the decision) when one is set with `project_tests`; on the same current rows the figures are the
decision's to the last digit. The drift score shown is the p-value for KS / chi-square (threshold `ks_alpha`) and
PSI for PSI (threshold `psi_significant`; `score_psi_threshold` for the score); the verdict is drift.py's, effect
size included.
"""

from __future__ import annotations

import contextlib
import contextvars
import html
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tabular_mlops.core.config import MonitorConfig, SchemaConfig
from tabular_mlops.monitoring.drift import column_drift, numeric_psi
from tabular_mlops.monitoring.reference_profile import (
    SCORE_COLUMN,
    NumericProfile,
    ReferenceProfile,
    column_profile,
)

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
