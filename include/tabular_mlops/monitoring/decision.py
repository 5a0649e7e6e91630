"""Turn a monitoring summary into `retrain` or `keep`, with reasons (thresholds from params.yaml)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

from tabular_mlops.config import Params


@dataclass(frozen=True)
class Decision:
    night: str
    status: str  # ok | no_data | too_few_rows
    action: str | None  # retrain | keep | None (no decision)
    reasons: list[str] = field(default_factory=list)
    drift_reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _rules(part: dict, params: Params, where: str) -> list[str]:
    cfg = params.monitor
    reasons = []
    key = [c for c in part["columns"] if c["column"] in cfg.key_features and c["drifted"]]
    if key:
        reasons.append(
            f"{where}: drift in key features "
            + ", ".join(f"{c['column']} (PSI {c['psi']:.3f}, {c['test']} {c['statistic']:.3f})" for c in key)
        )
    if part["drift_share"] > cfg.drift_share_threshold:
        reasons.append(
            f"{where}: share of drifted columns {part['drift_share']:.2f} > {cfg.drift_share_threshold}"
        )
    if part["score_psi"] > cfg.score_psi_threshold:
        reasons.append(f"{where}: score drift PSI {part['score_psi']:.3f} > {cfg.score_psi_threshold}")
    return reasons


def drift_reasons(summary: dict, params: Params) -> list[str]:
    """Rules on the whole current window and on the newest night alone (a fresh shift is diluted in a window)."""
    reasons = _rules(summary, params, f"last {params.monitor.window_days} nights")
    if "last_night" in summary:
        reasons += _rules(summary["last_night"], params, "last night")
    return reasons


def label_drift_reason(summary: dict, params: Params) -> str | None:
    labels = summary.get("label_drift") or {}
    if not labels.get("drifted"):
        return None
    ratio = labels["rate_ratio"]
    change = f"x{ratio}" if ratio is not None else "none in the reference"
    return (
        f"label drift: matured default rate {labels['matured_rate']:.2%} vs {labels['reference_rate']:.2%} "
        f"in the champion's training data ({change}, chi-square p {labels['p_value']:.1e})"
    )


def decide(summary: dict, params: Params, last_retrain: dt.date | None, retrain_in_flight: bool) -> Decision:
    """Rules, in order: no decision without enough data; performance on matured labels below the promotion
    threshold retrains; drift retrains unless matured labels show the drifted data still performing; label drift
    is reported (and retrains only if configured); cooldown and single-flight turn a retrain into keep (the
    reasons say so)."""
    night, status = summary["night"], summary["status"]
    if status != "ok":
        why = (
            "no rows in the current window"
            if status == "no_data"
            else (f"{summary['rows']} rows < monitor.min_rows {params.monitor.min_rows}: report only")
        )
        return Decision(night, status, None, [why])
    reasons, notes, drift = [], [], drift_reasons(summary, params)
    label = label_drift_reason(summary, params)
    if label and params.monitor.retrain_on_label_drift:
        reasons.append(label + "; retraining because monitor.retrain_on_label_drift")
    elif label:
        notes.append(label + " (reported; monitor.retrain_on_label_drift is off)")
    performance = summary.get("matured_roc_auc")
    floor = params.gate.min_roc_auc
    underperforming = performance is not None and performance < floor
    if underperforming:
        reasons.append(f"matured-label ROC AUC {performance:.3f} < promotion threshold {floor}")
    drifted_but_performing = bool(
        drift and performance is not None and not underperforming and summary.get("labelled_window_drifted")
    )
    if drift and not drifted_but_performing:
        reasons += drift
    elif drifted_but_performing:
        note = f"drifted, performing (matured-label ROC AUC {performance:.3f} >= {floor})"
        if params.monitor.retrain_when_drifted_but_performing:
            reasons += [*drift, note + "; retraining because monitor.retrain_when_drifted_but_performing"]
        elif not reasons:
            return Decision(night, status, "keep", [note, *drift, *notes], drift)
        else:
            # Another rule (label drift, configured to retrain) still stands; the drift is context.
            notes += [note, *drift]
    if not reasons:
        return Decision(night, status, "keep", ["no drift or performance rule fired", *notes], drift)
    if retrain_in_flight:
        return Decision(night, status, "keep", ["a retraining is already in flight", *reasons, *notes], drift)
    if last_retrain is not None:
        until = last_retrain + dt.timedelta(days=params.monitor.cooldown_days)
        if dt.date.fromisoformat(night) < until:
            return Decision(
                night,
                status,
                "keep",
                [f"cooldown after the retraining of {last_retrain} until {until}", *reasons, *notes],
                drift,
            )
    return Decision(night, status, "retrain", [*reasons, *notes], drift)
