"""Step 7 of a night, its record: the night's result (`NightResult`) as JSON beside its reports, in MLflow (one
series per registered model: a metric per figure, one integer step per night, the champion that judged the night
logged beside it), and in the decision record (`decisions_log`) that cooldown, `tabular-mlops why` and the audit read.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from pathlib import Path

import sqlalchemy as sa

from tabular_mlops.core.atomic_files import atomic_write_json
from tabular_mlops.core.config import PathsConfig
from tabular_mlops.core.contracts import NIGHT_RESULT_FILE, Tag
from tabular_mlops.model.tracking import ensure_experiment
from tabular_mlops.monitoring import decisions_log
from tabular_mlops.monitoring.estimate_records import estimate_metrics
from tabular_mlops.monitoring.results import (
    NightResult,
    NightSummary,
    OnlineServing,
    ShadowComparison,
    Status,
)
from tabular_mlops.monitoring.shadow_analysis import record_comparison

# MLflow metric names of the night's online figures (logged next to drift, step = night).
ONLINE_ANSWERS = "online.answers"
ONLINE_FALLBACKS = "online.fallbacks"
ONLINE_FALLBACK_RATE = "online.fallback_rate"
ONLINE_LATENCY_MS = {50: "online.latency_p50_ms", 95: "online.latency_p95_ms", 99: "online.latency_p99_ms"}


# Logged beside every night's figures, so a chart over nights shows which champion judged each one and how long
# it had been in service (a promotion does not start a new series: the line runs on across champions).
CHAMPION_VERSION = "champion/version"
CHAMPION_AGE_DAYS = "champion/age_days"


def monitoring_run(mlflow_dir: Path, experiment_name: str, model_name: str, night: dt.date) -> str:
    """The registered model's monitoring series: one MLflow run collects every night's metrics whatever the
    champion (a metric chart is then one line across champions). Created on the first night recorded, which
    becomes its step 0 (`Tag.SERIES_START`)."""
    from mlflow import MlflowClient

    experiment_id = ensure_experiment(mlflow_dir, experiment_name)
    client = MlflowClient()
    # Quotes would end the filter string; a registered model name is checked on load, this guards the filter.
    if "'" in model_name:
        raise ValueError(
            f"registry.model_name {model_name!r} contains a quote: MLflow filters cannot hold it"
        )
    runs = client.search_runs(
        [experiment_id],
        f"tags.{Tag.MONITORING_SERIES} = '{model_name}'",
        max_results=1,
        order_by=["attributes.start_time ASC"],
    )
    if runs:
        return runs[0].info.run_id
    run = client.create_run(
        experiment_id,
        run_name=f"monitor {model_name}",
        tags={
            Tag.MONITORING_SERIES: model_name,
            Tag.MONITORED_MODEL: model_name,
            Tag.SERIES_START: night.isoformat(),
        },
    )
    return run.info.run_id


def night_step(night: dt.date, series_start: dt.date) -> int:
    """A night's step in its series: days since the series' first night (an earlier night backfilled later gets a
    negative step), so every night has its own integer step and a re-run night lands on the same one."""
    return (night - series_start).days


def log_night_metrics(run_id: str, night: dt.date, metrics: Mapping[str, float]) -> None:
    """Log figures of `night` to the monitoring series `run_id` (from `monitoring_run`): step = `night_step`,
    wall time = the night at 00:00 UTC. Idempotent for identical figures: MLflow stores a (key, step, time,
    value) row once, so re-running a night with the same figures adds nothing; a figure that changed since
    (labels matured meanwhile) is appended at the same step and time, and MLflow shows the larger as latest."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient()
    start = client.get_run(run_id).data.tags.get(Tag.SERIES_START)
    step = night_step(night, dt.date.fromisoformat(start) if start else night)
    stamp = int(dt.datetime.combine(night, dt.time(), tzinfo=dt.UTC).timestamp() * 1000)
    rows = [Metric(key, float(value), stamp, step) for key, value in metrics.items() if math.isfinite(value)]
    if rows:
        client.log_batch(run_id, metrics=rows)


def champion_metrics(
    champion_version: str, trained_until: dt.date | None, night: dt.date
) -> dict[str, float]:
    """Which champion judged the night (its registry version as a number) and its age in days since its
    training data ends (left out when unknown)."""
    metrics = {CHAMPION_VERSION: float(champion_version)} if champion_version.isdigit() else {}
    if trained_until is not None:
        metrics[CHAMPION_AGE_DAYS] = float(max((night - trained_until).days, 0))
    return metrics


def night_metrics(summary: NightSummary) -> dict[str, float]:
    """The night's numbers as MLflow metrics (plotted over nights), grouped by a prefix the MLflow UI makes into
    sections in this order: drift/, performance/, quality/, volume/; the online service's night next to them."""
    metrics = {
        "volume/rows": float(summary.rows),
        "volume/night_rows": float(summary.night_rows),
        **online_metrics(summary.online),
    }
    window = summary.window
    if window is None:  # no rows in the window
        return metrics
    metrics.update(
        {
            "drift/share": window.drift_share,
            "drift/score_psi": window.score_psi,
            **{f"drift/psi.{c}": v for c, v in window.psi.items()},
            # The newest night alone (the decision also judges it: a fresh shift is diluted in the window).
            **(
                {
                    "drift/last_night_share": summary.last_night.drift_share,
                    "drift/last_night_score_psi": summary.last_night.score_psi,
                }
                if summary.last_night is not None
                else {}
            ),
            "quality/outlier_share": summary.outlier_share or 0.0,
            "quality/row_count_ratio": summary.row_count_ratio or 0.0,
            **{f"quality/missing_rate.{c}": v for c, v in summary.missing_rate.items()},
        }
    )
    if summary.matured_roc_auc is not None:
        metrics["performance/matured_roc_auc"] = summary.matured_roc_auc
    if summary.matured_roc_auc_logged is not None:
        metrics["performance/matured_roc_auc_logged"] = summary.matured_roc_auc_logged
    labels = summary.label_drift
    if labels.matured_rate is not None:
        metrics["performance/matured_positive_rate"] = labels.matured_rate
        metrics["drift/label"] = float(labels.drifted)
    return metrics


def online_metrics(online: OnlineServing | None) -> dict[str, float]:
    """The night's online figures as MLflow metrics (none on a night without online answers)."""
    if online is None:
        return {}
    metrics = {
        ONLINE_ANSWERS: float(online.answers),
        ONLINE_FALLBACKS: float(online.fallbacks),
        ONLINE_FALLBACK_RATE: online.fallback_rate,
    }
    for q, value in ((50, online.latency_p50_ms), (95, online.latency_p95_ms), (99, online.latency_p99_ms)):
        if value is not None:
            metrics[ONLINE_LATENCY_MS[q]] = value
    return metrics


def shadow_metrics(shadow: ShadowComparison | None) -> dict[str, float]:
    """The paired shadow comparison as MLflow metrics under `shadow/` (figures that could not be computed are
    left out, never NaN): how alike on the window, the matured differences with intervals, the test."""
    if shadow is None:
        return {}
    metrics: dict[str, float | None] = {}
    if shadow.recent is not None:
        recent = shadow.recent
        metrics |= {
            "shadow/pairs": recent.rows,
            "shadow/score_correlation": recent.score_correlation,
            "shadow/rank_correlation": recent.rank_correlation,
            "shadow/decision_agreement": recent.decision_agreement,
            "shadow/score_psi": recent.score_psi,
        }
    if shadow.matured is not None:
        metrics["shadow/labelled_pairs"] = shadow.matured.labelled_rows
        for d in shadow.matured.differences:
            metrics |= {
                f"shadow/{d.metric}.difference": d.difference,
                f"shadow/{d.metric}.ci_low": d.ci_low,
                f"shadow/{d.metric}.ci_high": d.ci_high,
            }
    if shadow.test is not None:
        test = shadow.test
        metrics |= {
            "shadow/test.samples": test.samples,
            "shadow/test.estimate": test.estimate,
            "shadow/test.ci_low": test.ci_low,
            "shadow/test.ci_high": test.ci_high,
            "shadow/test.p_value": test.p_value,
        }
    return {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)}


def log_to_mlflow(run_id: str, result: NightResult, trained_until: dt.date | None = None) -> None:
    """The night's figures and its champion on the series (`log_night_metrics`), the night's result as
    `nights/<night>/summary.json`, its reports, and the decision as a tag."""
    import mlflow
    from mlflow import MlflowClient

    night = result.summary.night
    log_night_metrics(
        run_id,
        night,
        {
            **night_metrics(result.summary),
            **shadow_metrics(result.shadow),
            **champion_metrics(result.champion_version, trained_until, night),
            **estimate_metrics(result.estimate),
        },
    )
    with mlflow.start_run(run_id=run_id):
        mlflow.log_dict(result.to_dict(), f"nights/{night}/{NIGHT_RESULT_FILE}")
        for path in result.reports:
            mlflow.log_artifact(path, artifact_path=f"nights/{night}")
    client = MlflowClient()
    client.set_tag(run_id, Tag.LAST_NIGHT, night.isoformat())
    client.set_tag(run_id, Tag.MONITORED_VERSION, result.champion_version)  # the champion of the latest night
    client.set_tag(
        run_id,
        f"{Tag.DECISION_PREFIX}{night}",
        f"v{result.champion_version} {result.action}: {result.reason}"[:4900],
    )


def result_path(root: Path, paths: PathsConfig, night: dt.date) -> Path:
    """Where a night's result (`NightResult` as JSON) is written beside its reports."""
    return root / paths.reports_dir / night.isoformat() / NIGHT_RESULT_FILE


def read_result(root: Path, paths: PathsConfig, night: dt.date) -> NightResult | None:
    """A night's result as written by `monitor_night`, or None (not monitored, or no data that night)."""
    path = result_path(root, paths, night)
    return NightResult.from_dict(json.loads(path.read_text())) if path.exists() else None


def record_night(
    result: NightResult,
    root: Path,
    paths: PathsConfig,
    log_engine: sa.Engine,
    trained_until: dt.date | None,
) -> None:
    """Write the night's result file (not for a night without data), log it to its MLflow run, and record the
    decision and the shadow comparison (the next night's sequential test starts from it)."""
    if result.summary.status is not Status.NO_DATA:
        atomic_write_json(result_path(root, paths, result.night), result.to_dict())
    log_to_mlflow(result.monitoring_run_id, result, trained_until)
    decisions_log.record(log_engine, result.decision, result.champion_version, result.summary.drift_share)
    if result.shadow is not None:
        record_comparison(log_engine, result.night, result.shadow)
