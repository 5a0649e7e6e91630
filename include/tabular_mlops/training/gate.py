"""The promotion gate: model tests, absolute thresholds, and comparison with the champion on the same holdout.

Every check returns a GateResult with a reason; the champion alias moves only if all of them pass.
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd

from tabular_mlops.core.config import LOWER_IS_BETTER, GateConfig
from tabular_mlops.model.model_tests import GateResult


def threshold_rules(g: GateConfig) -> list[tuple[str, str, float]]:
    """(metric, operator, limit) of every absolute threshold; all are relative to the data's base rate or
    independent of it (ROC AUC), so one config fits tables with different base rates."""
    return [
        ("roc_auc", ">=", g.min_roc_auc),
        ("pr_auc", ">=", g.min_pr_auc),
        ("brier_skill", ">=", g.min_brier_skill),
    ]


def threshold_checks(metrics: dict[str, float], g: GateConfig) -> GateResult:
    rules = threshold_rules(g)
    failed: list[str] = []
    passed: list[str] = []
    for name, op, limit in rules:
        value = metrics.get(name, float("nan"))
        if not _is_number(value):
            failed.append(
                f"metric {name} is not a number (undefined on this holdout, or missing): no {op} {limit}"
            )
            continue
        ok = (value >= limit) if op == ">=" else (value <= limit)
        (passed if ok else failed).append(f"{name} {value:.4f} {op if ok else 'violates ' + op} {limit}")
    if failed:
        return GateResult("thresholds", False, "; ".join(failed))
    return GateResult("thresholds", True, "; ".join(passed))


def champion_comparison(
    challenger_metrics: dict[str, float],
    champion_metrics: dict[str, float] | None,
    champion_version: str | None,
    gate: GateConfig,
    rows: str = "the same holdout",
) -> GateResult:
    """Not worse than the champion by more than the margin, both scored on the same rows (`rows` says which)."""
    metric, margin = gate.comparison_metric, gate.champion_margin
    if champion_metrics is None:
        return GateResult("champion_comparison", True, "no current champion: nothing to compare against")
    new, old = challenger_metrics.get(metric, float("nan")), champion_metrics.get(metric, float("nan"))
    undefined = [
        who for who, v in (("challenger", new), (f"champion v{champion_version}", old)) if not _is_number(v)
    ]
    if undefined:  # NaN compares false to everything: say so instead of "worse by nan"
        return GateResult(
            "champion_comparison",
            False,
            f"metric {metric} is not a number for the {' and the '.join(undefined)} on {rows} (e.g. one class "
            "only, or no stored metric): the two cannot be compared, so the challenger is not promoted",
        )
    lower_is_better = metric in LOWER_IS_BETTER
    delta = (old - new) if lower_is_better else (new - old)
    ok = delta >= -margin
    # Worded so the verdict reads the same way as passed/failed: better, worse within the margin, or too worse.
    if delta >= 0:
        how = f"not worse: better by {delta:.4f}" if delta > 0 else "not worse: equal"
    elif ok:
        how = f"worse by {-delta:.4f}, within the allowed margin {margin}"
    else:
        how = f"worse by {-delta:.4f}, more than the allowed margin {margin}"
    verdict = f"{metric} {new:.4f} vs champion v{champion_version} {old:.4f} on {rows}: {how}"
    return GateResult("champion_comparison", ok, verdict)


def _is_number(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def training_end(reference_window: str | None) -> dt.date | None:
    """The last training day in a `reference_window` tag ("start..end"), or None when unknown."""
    try:
        return dt.date.fromisoformat(str(reference_window).split("..")[1])
    except (IndexError, ValueError):
        return None


def unseen_rows(holdout: pd.DataFrame, timestamp_column: str, trained_until: dt.date) -> pd.DataFrame:
    """The holdout rows from days after `trained_until`: the only ones a model was not trained on."""
    days = pd.to_datetime(holdout[timestamp_column]).dt.date
    return holdout[days > trained_until].reset_index(drop=True)
