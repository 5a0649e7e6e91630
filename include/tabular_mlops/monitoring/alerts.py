"""Every alert of a monitored night, from its summary and decision: the DAG sends what `alerts_for` returns."""

from __future__ import annotations

from collections.abc import Sequence

from tabular_mlops.core.config import GateConfig, MonitorConfig
from tabular_mlops.monitoring.decision import underperforming
from tabular_mlops.monitoring.results import Action, Alert, Decision, NightSummary, Status
from tabular_mlops.stats.counts import unusual_count


def quality_problems(summary: NightSummary, monitor: MonitorConfig) -> list[str]:
    """Data-quality problems of the current window (missing values, out-of-range rows, row count, flagged
    columns), or that it has no rows at all."""
    if summary.status is Status.NO_DATA or summary.window is None:
        return [f"no data in the current window ending {summary.night}"]
    problems = [
        f"missing rate of '{c}' is {r:.1%} (> {monitor.max_missing_rate:.0%})"
        for c, r in summary.missing_rate.items()
        if r > monitor.max_missing_rate
    ]
    if summary.outlier_share is not None and summary.outlier_share > monitor.max_outlier_share:
        problems.append(f"{summary.outlier_share:.1%} of rows hold out-of-range values or unseen categories")
    expected = summary.expected_rows or 0.0
    if summary.row_count_ratio is not None and unusual_count(
        summary.rows, expected, monitor.row_count_tolerance
    ):
        problems.append(f"{summary.rows} rows where about {summary.expected_rows:.0f} are normal")
    problems += [f"column '{c}': {'; '.join(f)}" for c, f in summary.window.flags.items()]
    return problems


def alerts_for(
    summary: NightSummary,
    decision: Decision,
    monitor: MonitorConfig,
    gate: GateConfig,
    operational: Sequence[str] = (),
) -> tuple[Alert, ...]:
    """Data quality (with `operational` problems of the monitoring itself, e.g. a workspace not updated), a
    retraining decision, label drift that does not retrain, and matured-label performance below the promotion
    threshold (the decision's own rule)."""
    night = summary.night.isoformat()
    alerts = []
    problems = [*quality_problems(summary, monitor), *operational]
    if problems:
        alerts.append(Alert("quality", f"data quality on night {night}", tuple(problems)))
    if decision.action is Action.HOLD:
        alerts.append(
            Alert("quality", f"night {night} held for data quality: no retraining", decision.reasons)
        )
    if decision.action is Action.RETRAIN:
        alerts.append(Alert("retraining", f"retraining needed on night {night}", decision.reasons))
    elif summary.label_drift.drifted:
        alerts.append(Alert("drift", f"label drift on night {night}", decision.reasons))
    if underperforming(summary.matured_roc_auc, gate):
        alerts.append(
            Alert("performance", f"matured-label ROC AUC {summary.matured_roc_auc:.3f}", decision.reasons)
        )
    return tuple(alerts)
