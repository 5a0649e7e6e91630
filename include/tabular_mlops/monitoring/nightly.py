"""One night of monitoring: reference vs current window, report, alerts, decision, MLflow logging."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from tabular_mlops.artifacts import Tag
from tabular_mlops.config import Params
from tabular_mlops.io import atomic_write_json
from tabular_mlops.monitoring import decisions_log, predictions
from tabular_mlops.monitoring.decision import decide
from tabular_mlops.monitoring.drift import dataset_drift
from tabular_mlops.monitoring.reference import load_reference
from tabular_mlops.monitoring.summary import evidently_reports, quality_alerts, summarize
from tabular_mlops.monitoring.workspace import publish_night
from tabular_mlops.scoring import LoadedModel, load_champion
from tabular_mlops.training.tracking import ensure_experiment

EPOCH = dt.date(1970, 1, 1)
log = logging.getLogger(__name__)


def _window(night: dt.date, days: int) -> tuple[dt.datetime, dt.datetime]:
    end = dt.datetime.combine(night + dt.timedelta(days=1), dt.time())
    return end - dt.timedelta(days=days), end


def champion_reference(params: Params, root: Path) -> tuple[LoadedModel, pd.DataFrame]:
    """The current champion and its own training data with its `score` and `label` columns."""
    champion = load_champion(params.registry.model_name)
    reference = load_reference(
        params, root, champion.tags.get(Tag.DVC_DATA_HASH, ""), champion.tags.get(Tag.REFERENCE_WINDOW, "")
    )
    reference = reference.assign(
        score=champion.score(reference, params.schema), label=reference[params.schema.target_column]
    )
    return champion, reference


def _monitoring_run(params: Params, root: Path, version: str) -> str:
    """One MLflow run per champion version collects every night's metrics (step = night), so the MLflow UI
    plots them over time; it is tagged with the model version it watches."""
    from mlflow import MlflowClient

    experiment_id = ensure_experiment(root, params.monitor.experiment_name)
    client = MlflowClient()
    runs = client.search_runs([experiment_id], f"tags.{Tag.MONITORED_VERSION} = '{version}'", max_results=1)
    if runs:
        return runs[0].info.run_id
    run = client.create_run(
        experiment_id,
        run_name=f"monitor {params.registry.model_name} v{version}",
        tags={Tag.MONITORED_MODEL: params.registry.model_name, Tag.MONITORED_VERSION: version},
    )
    return run.info.run_id


def log_to_mlflow(
    params: Params,
    root: Path,
    version: str,
    night: dt.date,
    summary: dict,
    decision: dict,
    reports: list[Path],
) -> str:
    import mlflow
    from mlflow import MlflowClient

    run_id = _monitoring_run(params, root, version)
    client, step = MlflowClient(), (night - EPOCH).days
    stamp = int(dt.datetime.combine(night, dt.time(), tzinfo=dt.UTC).timestamp() * 1000)
    metrics = {"rows": summary["rows"]}
    if summary.get("status") != "no_data":
        metrics.update(
            {
                "drift_share": summary["drift_share"],
                "score_psi": summary["score_psi"],
                "outlier_share": summary["outlier_share"],
                "row_count_ratio": summary["row_count_ratio"],
                **{f"psi.{c}": v for c, v in summary["psi"].items()},
                **{f"missing_rate.{c}": v for c, v in summary["missing_rate"].items()},
            }
        )
        for key in ("matured_roc_auc", "matured_roc_auc_logged"):
            if summary.get(key) is not None:
                metrics[key] = summary[key]
        labels = summary["label_drift"]
        if labels["matured_rate"] is not None:
            metrics["matured_default_rate"] = labels["matured_rate"]
            metrics["label_drift"] = float(labels["drifted"])
    for key, value in metrics.items():
        client.log_metric(run_id, key, float(value), timestamp=stamp, step=step)
    with mlflow.start_run(run_id=run_id):
        mlflow.log_dict({"summary": summary, "decision": decision}, f"nights/{night}/summary.json")
        for path in reports:
            mlflow.log_artifact(str(path), artifact_path=f"nights/{night}")
    client.set_tag(run_id, Tag.LAST_NIGHT, night.isoformat())
    client.set_tag(
        run_id,
        f"{Tag.DECISION_PREFIX}{night}",
        f"{decision['action']}: {'; '.join(decision['reasons'])}"[:4900],
    )
    return run_id


def monitor_night(
    params: Params, root: Path, log_engine: sa.Engine, night: dt.date, retrain_in_flight: bool
) -> dict:
    """Build the night's report and decision, record them, and return what the DAG needs to act."""
    cfg, schema = params.monitor, params.schema
    champion, reference = champion_reference(params, root)
    version = champion.version
    current = predictions.read_log(log_engine, schema, *_window(night, cfg.window_days))
    label_night = night - dt.timedelta(days=schema.label_delay_days)
    labelled = predictions.read_log(log_engine, schema, *_window(label_night, cfg.window_days))
    labelled = labelled[labelled["label"].notna()].reset_index(drop=True)
    if len(labelled):
        # Judge the current champion, not whichever model logged these scores a label delay ago (after a
        # promotion the old scores would keep condemning a model that may already handle the change).
        labelled = labelled.assign(logged_score=labelled["score"], score=champion.score(labelled, schema))
    labelled_drift = (
        dataset_drift(reference, labelled, schema, cfg) if len(labelled) >= cfg.min_rows else None
    )
    summary = summarize(
        params, reference, reference["score"].to_numpy(), current, labelled, labelled_drift, night
    )
    last = decisions_log.last_retrain(log_engine, night.isoformat())
    decision = decide(summary, params, last, retrain_in_flight).as_dict()
    alerts = quality_alerts(summary, params)
    reports, made = [], {}
    night_dir = root / params.paths.reports_dir / night.isoformat()
    if summary["status"] == "no_data" and night_dir.exists():
        shutil.rmtree(night_dir)  # a re-run night that now has no data keeps no report of the earlier run
    if summary["status"] != "no_data":
        made = evidently_reports(
            params, reference, current, labelled, root / params.paths.reports_dir / night.isoformat(), night
        )
        reports = [path for path, _ in made.values()]
        atomic_write_json(
            root / params.paths.reports_dir / night.isoformat() / "summary.json",
            {"summary": summary, "decision": decision},
        )
    run_id = log_to_mlflow(params, root, version, night, summary, decision, reports)
    decisions_log.record(
        log_engine,
        night.isoformat(),
        decision["status"],
        decision["action"],
        decision["reasons"],
        version,
        summary.get("drift_share"),
    )
    if reports or (root / params.paths.evidently_workspace).exists():
        # The workspace is a second view of the same reports: a failure there is alerted, not fatal. A re-run
        # night without data still clears the snapshots an earlier run of it left.
        try:
            publish_night(
                root / params.paths.evidently_workspace,
                f"{params.registry.model_name} monitoring",
                night,
                {kind: snapshot for kind, (_, snapshot) in made.items()},
            )
        except Exception as exc:  # noqa: BLE001 - any workspace error becomes an alert with its reason
            log.warning("Evidently workspace not updated for %s: %s", night, exc)
            alerts.append(f"Evidently workspace {params.paths.evidently_workspace} not updated: {exc}")
    top = sorted(summary.get("columns", []), key=lambda c: -c["psi"])[:3]
    return {
        "night": night.isoformat(),
        "status": summary["status"],
        "rows": summary["rows"],
        "drift_share": summary.get("drift_share"),
        "drifted_columns": summary.get("drifted_columns", []),
        "top_psi": {c["column"]: round(c["psi"], 3) for c in top},
        "score_psi": summary.get("score_psi"),
        "matured_roc_auc": summary.get("matured_roc_auc"),
        "label_drift": summary.get("label_drift"),
        "action": decision["action"],
        "reasons": decision["reasons"],
        "alerts": alerts,
        "champion_version": version,
        "monitoring_run_id": run_id,
        "reports": [str(p) for p in reports],
        "training_window_end": (label_night).isoformat(),
    }
