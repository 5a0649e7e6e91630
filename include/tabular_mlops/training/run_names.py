"""Names of training parent runs in MLflow: the data window's end and why the training ran, then the version
once it is registered (`train v3 2026-03-17 drift`), so two trainings never share a name in the run list."""

from __future__ import annotations

import re

# How Airflow names a run that came without a reason (dag_run.run_type), kept as they are.
_RUN_TYPES = ("scheduled", "manual", "backfill", "asset_triggered")
_MAX_WORDS = 4


def reason_label(reason: str) -> str:
    """A word or two for the trigger reason: the monitoring decision's full text reduced to its kind."""
    text = reason.strip().lower()
    if not text:
        return "scheduled"
    if text in _RUN_TYPES:
        return text
    if text.startswith("initial training"):
        return "initial"
    if "label drift" in text:
        return "label drift"
    if "roc auc" in text:
        return "performance"
    if "drift" in text:
        return "drift"
    words = re.findall(r"[\w.-]+", text)[:_MAX_WORDS]
    return " ".join(words) or "scheduled"


def training_run_name(window_end: str, reason: str) -> str:
    """The parent run's name at start, before a version exists."""
    return f"train {window_end} {reason_label(reason)}"


def versioned_run_name(run_name: str, version: str) -> str:
    """The run's name once its model is version `version` (idempotent; another name is returned unchanged
    but for the version in front)."""
    prefix = f"train v{version} "
    if run_name.startswith(prefix):
        return run_name
    return prefix + run_name.removeprefix("train ")
