"""Step 5 of a night, its decision. Turn the night's summary into `retrain`, `keep` or `hold`, with reasons
(thresholds from params.yaml), and every alert of the night from its summary and decision (the DAG sends what
`alerts_for` returns)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from tabular_mlops.core.config import GateConfig, MonitorConfig
from tabular_mlops.monitoring.estimate_records import EstimatedHarm
from tabular_mlops.monitoring.results import (
    Action,
    Alert,
    ColumnDrift,
    Decision,
    NightSummary,
    Status,
    WindowDrift,
)
from tabular_mlops.stats.counts import unusual_count


def underperforming(matured_roc_auc: float | None, gate: GateConfig) -> bool:
    """The champion scores below the promotion threshold on matured labels (the decision retrains and the
    performance alert fires on this one rule)."""
    return matured_roc_auc is not None and matured_roc_auc < gate.min_roc_auc


def _figures(c: ColumnDrift) -> str:
    """A drifted column's PSI, and its test's statistic when the test is not PSI itself (once, not
    "PSI 0.517, psi 0.517")."""
    if c.test == "psi":
        return f"PSI {c.psi:.3f}"
    return f"PSI {c.psi:.3f}, {c.test} {c.statistic:.3f}"


def _rules(part: WindowDrift, monitor: MonitorConfig, where: str) -> list[str]:
    reasons = []
    key = [c for c in part.columns if c.column in monitor.key_features and c.drifted]
    if key:
        reasons.append(
            f"{where}: drift in key features " + ", ".join(f"{c.column} ({_figures(c)})" for c in key)
        )
    if part.drift_share > monitor.drift_share_threshold:
        reasons.append(
            f"{where}: share of drifted columns {part.drift_share:.2f} > {monitor.drift_share_threshold}"
        )
    if part.score_psi > monitor.score_psi_threshold:
        reasons.append(f"{where}: score drift PSI {part.score_psi:.3f} > {monitor.score_psi_threshold}")
    return reasons


def drift_reasons(summary: NightSummary, monitor: MonitorConfig) -> list[str]:
    """Rules on the whole current window and on the newest night alone (a fresh shift is diluted in a window).
    A window of the newest night only is judged once: the same rows would repeat every reason word for word."""
    reasons = []
    window, last = summary.window, summary.last_night
    if window is not None:
        reasons += _rules(window, monitor, f"last {monitor.window_days} nights")
    if last is not None and (window is None or last.rows < window.rows):
        reasons += _rules(last, monitor, "last night")
    return reasons


def label_drift_reason(summary: NightSummary, rate_name: str = "positive rate") -> str | None:
    """The label-drift reason, the base rate named as `wording.positive_rate` says."""
    labels = summary.label_drift
    if not labels.drifted:
        return None
    ratio = labels.rate_ratio
    change = f"x{ratio}" if ratio is not None else "none in the reference"
    return (
        f"label drift: matured {rate_name} {labels.matured_rate:.2%} vs {labels.reference_rate:.2%} "
        f"in the champion's training data ({change}, chi-square p {labels.p_value:.1e})"
    )


def decide(
    summary: NightSummary,
    monitor: MonitorConfig,
    gate: GateConfig,
    last_retrain: dt.date | None,
    retrain_in_flight: bool,
    rate_name: str = "positive rate",
    harm: EstimatedHarm | None = None,
) -> Decision:
    """Rules, in order: no decision without enough data; a night failing quality rules is held (no retraining,
    monitor.hold_on_quality); performance on matured labels below the promotion
    threshold retrains; drift retrains unless matured labels show the drifted data still performing, or, before
    labels cover it, unless the estimated ROC AUC (`harm`) lies within monitor.max_estimated_drop of the
    holdout's; label drift is reported (and retrains only if configured); cooldown and single-flight turn a
    retrain into keep (the reasons say so)."""
    night, status = summary.night, summary.status
    if status is not Status.OK:
        why = (
            "no rows in the current window"
            if status is Status.NO_DATA
            else f"{summary.rows} rows < monitor.min_rows {monitor.min_rows}: report only"
        )
        return Decision(night, status, None, (why,))
    drift = drift_reasons(summary, monitor)
    if summary.night_quality and monitor.hold_on_quality:
        # Quality before drift: a broken night looks like drift (a missing feature has a huge PSI), but
        # retraining on it would learn the fault. Its drift is reported, not acted on.
        return Decision(
            night,
            status,
            Action.HOLD,
            (
                *(f"data quality: {p}" for p in summary.night_quality),
                *(f"not acted on (quality hold): {r}" for r in drift),
            ),
            tuple(drift),
        )
    reasons: list[str] = []
    notes: list[str] = []
    label = label_drift_reason(summary, rate_name)
    if label and monitor.retrain_on_label_drift:
        reasons.append(label + "; retraining because monitor.retrain_on_label_drift")
    elif label:
        notes.append(label + " (reported; monitor.retrain_on_label_drift is off)")
    performance, floor = summary.matured_roc_auc, gate.min_roc_auc
    below = underperforming(performance, gate)
    if below:
        reasons.append(f"matured-label ROC AUC {performance:.3f} < promotion threshold {floor}")
    matured_performing = bool(
        drift and performance is not None and not below and summary.labelled_window_drifted
    )
    performing: str | None = None
    if matured_performing:
        performing = f"drifted, performing (matured-label ROC AUC {performance:.3f} >= {floor})"
    elif drift and not below and harm is not None and harm.judged:
        # No matured label speaks to this drift yet: the estimates judge whether it hurts the champion.
        if harm.harmful(monitor.max_estimated_drop):
            reasons += [f"drifted, harmed (estimated): {harm.text}", *drift]
        else:
            performing = f"drifted, performing (estimated): {harm.text}"
    else:
        reasons += drift
    if harm is not None and not (drift and not below and harm.judged and not matured_performing):
        # The estimate is context here (no drift, matured labels decide, or no estimate): said, not acted on.
        notes.append(harm.text)
    if performing is not None:
        if monitor.retrain_when_drifted_but_performing:
            reasons += [
                *drift,
                performing + "; retraining because monitor.retrain_when_drifted_but_performing",
            ]
        elif not reasons:
            return Decision(night, status, Action.KEEP, (performing, *drift, *notes), tuple(drift))
        else:
            # Another rule (label drift, configured to retrain) still stands; the drift is context.
            notes += [performing, *drift]
    if not reasons:
        return Decision(
            night, status, Action.KEEP, ("no drift or performance rule fired", *notes), tuple(drift)
        )
    if retrain_in_flight:
        return Decision(
            night,
            status,
            Action.KEEP,
            ("a retraining is already in flight", *reasons, *notes),
            tuple(drift),
        )
    if last_retrain is not None:
        until = last_retrain + dt.timedelta(days=monitor.cooldown_days)
        if night < until:
            return Decision(
                night,
                status,
                Action.KEEP,
                (f"cooldown after the retraining of {last_retrain} until {until}", *reasons, *notes),
                tuple(drift),
            )
    return Decision(night, status, Action.RETRAIN, (*reasons, *notes), tuple(drift))


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


def with_self_check(decision: Decision, concept_drift: Sequence[str]) -> Decision:
    """The decision with the estimator's concept-drift self-check (night_estimate) second among its reasons, so
    the decision record, `tabular-mlops why` and the run note say it: reported, not acted on (matured labels
    below the promotion threshold are what retrains). The first alerting grade stands for the others."""
    if not concept_drift:
        return decision
    first, *rest = decision.reasons or ("",)
    reasons = (first, concept_drift[0], *rest) if first else (concept_drift[0],)
    return dataclasses.replace(decision, reasons=reasons)


def alerts_for(
    summary: NightSummary,
    decision: Decision,
    monitor: MonitorConfig,
    gate: GateConfig,
    operational: Sequence[str] = (),
    concept_drift: Sequence[str] = (),
) -> tuple[Alert, ...]:
    """Data quality (with `operational` problems of the monitoring itself, e.g. a workspace not updated), a
    retraining decision, label drift that does not retrain, and matured-label performance below the promotion
    threshold (the decision's own rule), and `concept_drift`: the estimator's self-check reasons (night_estimate)."""
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
    if concept_drift:
        # The estimator's self-check (night_estimate): matured labels keep falling outside its intervals.
        alerts.append(Alert("drift", f"concept drift suspected on night {night}", tuple(concept_drift)))
    if underperforming(summary.matured_roc_auc, gate):
        alerts.append(
            Alert("performance", f"matured-label ROC AUC {summary.matured_roc_auc:.3f}", decision.reasons)
        )
    return tuple(alerts)
