"""What the estimates say of harm, in the words the decision gives: each method's estimated ROC AUC against the
champion's holdout, which estimator decided, and why. Importance weighting's overlap check can overrule CBPE: on
a window no holdout row stands for, the model extrapolates and CBPE, which trusts the scores, cannot see it
(benchmarks/RESULTS-estimation.md); the reason then says that CBPE's figure was within the limit *but* was not
trusted, never only "drop <= limit"."""

from __future__ import annotations

from tabular_mlops.monitoring.estimate_records import METHOD_NAMES, EstimatedHarm, interval_text
from tabular_mlops.stats.importance import ImportanceSettings
from tabular_mlops.stats.metrics import PerformanceEstimate


def estimated_harm(
    holdout: PerformanceEstimate,
    cbpe: PerformanceEstimate,
    importance: PerformanceEstimate,
    max_drop: float,
) -> EstimatedHarm:
    """The estimated ROC AUC of each method against the holdout's: the larger drop (and the method it is), and
    whether importance weighting finds the window beyond the holdout. `text` names the figures and, when the
    overlap check overrules a drop within the limit, says so."""
    baseline = holdout.metric("roc_auc").value
    estimated = [e for e in (cbpe, importance) if e.metric("roc_auc").value is not None]
    unsupported = _no_overlap(importance)
    overlap = None if unsupported is None else overlap_text(importance)
    if not estimated:
        missing = [e for e in (cbpe, importance) if unsupported is None or e is not importance]
        why = "; ".join(f"{METHOD_NAMES[e.method]}: {e.metric('roc_auc').reason}" for e in missing)
        text = f"no estimated ROC AUC ({why})"
        if overlap is not None:
            text += f", but {overlap}: the model extrapolates"
        return EstimatedHarm(None, None, None, baseline, text, unsupported)
    headline = estimated[0]
    said = ", ".join(f"{interval_text(e.metric('roc_auc'), 3)} ({METHOD_NAMES[e.method]})" for e in estimated)
    said = f"estimated ROC AUC {said}"
    if baseline is None:
        missing_reason = holdout.metric("roc_auc").reason
        text = f"{said}, no holdout ROC AUC to compare with ({missing_reason})"
        if overlap is not None:
            text += f", and {overlap}: the model extrapolates, the estimate not trusted"
        return EstimatedHarm(None, headline.method, headline.metric("roc_auc"), None, text, unsupported)
    drops = {e.method: baseline - float(e.metric("roc_auc").value or 0.0) for e in estimated}
    decider = max(drops, key=lambda m: drops[m])
    drop = drops[decider]
    name = METHOD_NAMES[decider]
    which = f"largest drop {drop:.3f} ({name})" if len(drops) > 1 else f"{name} drop {drop:.3f}"
    rule = f"{'>' if drop > max_drop else '<='} monitor.max_estimated_drop {max_drop}"
    text = f"{said} vs {baseline:.3f} on the holdout: {which} {rule}"
    if overlap is not None and drop > max_drop:
        text += f", and {overlap}: the model extrapolates"
    elif overlap is not None:
        # The overlap check overrules a drop within the limit: say so, or the reason reads as "not harmed". Kept
        # short: the run note has 1,000 characters for the decision, its reasons and the report links.
        text += f", but {overlap}: the model extrapolates, {name} not trusted"
    return EstimatedHarm(drop, headline.method, headline.metric("roc_auc"), baseline, text, unsupported)


def _no_overlap(importance: PerformanceEstimate) -> str | None:
    """Importance weighting's reason when it was withheld because the window lies beyond the reference (not
    for too few rows or a small effective sample)."""
    limits = ImportanceSettings()
    details = importance.details
    auc, share = details.get("domain_auc"), details.get("unsupported_share")
    beyond = (isinstance(auc, float) and auc >= limits.max_domain_auc) or (
        isinstance(share, float) and share > limits.max_unsupported_share
    )
    return importance.reason if importance.withheld and beyond else None


def overlap_text(importance: PerformanceEstimate) -> str:
    """Importance weighting's no-overlap verdict in a clause that names its figure and its limit (the domain
    classifier's ROC AUC, or the share of tonight's rows no holdout row stands for)."""
    limits = ImportanceSettings()
    auc, share = importance.details.get("domain_auc"), importance.details.get("unsupported_share")
    if isinstance(auc, float) and auc >= limits.max_domain_auc:
        return (
            f"no overlap with the holdout (importance weighting's domain ROC AUC {auc:.3f} >= "
            f"{limits.max_domain_auc})"
        )
    if isinstance(share, float):
        return (
            f"no holdout row like {share:.0%} of tonight's rows (importance weighting's max_unsupported_share "
            f"{limits.max_unsupported_share:.0%})"
        )
    return f"importance weighting: {importance.reason}"
