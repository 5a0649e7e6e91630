"""One night of monitoring: reference vs current window, summary, decision, reports, alerts, MLflow logging, and
the record of the decision; returns the night's typed result."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import shutil
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from tabular_mlops.core.atomic_files import atomic_write_json
from tabular_mlops.core.config import MonitorConfig, Params, PathsConfig, SchemaConfig
from tabular_mlops.core.contracts import NIGHT_RESULT_FILE, ONLINE_SOURCE, Tag
from tabular_mlops.model.gate_promotion import not_promoted_reason
from tabular_mlops.model.scoring import LoadedModel, load_champion
from tabular_mlops.model.tracking import ensure_experiment
from tabular_mlops.monitoring import decisions_log, low_volume
from tabular_mlops.monitoring.alerts import alerts_for
from tabular_mlops.monitoring.decision import decide
from tabular_mlops.monitoring.drift import dataset_drift
from tabular_mlops.monitoring.night_report import Population, evidently_reports, summarize
from tabular_mlops.monitoring.online import online_metrics, online_night
from tabular_mlops.monitoring.reference import parse_window
from tabular_mlops.monitoring.reference_cache import champion_reference
from tabular_mlops.monitoring.results import Decision, NightResult, NightSummary, Status
from tabular_mlops.monitoring.workspace import DashboardSettings, night_reports, publish_night
from tabular_mlops.store import prediction_log

log = logging.getLogger(__name__)


def _window(night: dt.date, days: int) -> tuple[dt.datetime, dt.datetime]:
    end = dt.datetime.combine(night + dt.timedelta(days=1), dt.time())
    return end - dt.timedelta(days=days), end


def unseen_by(champion: LoadedModel, rows: pd.DataFrame, schema: SchemaConfig) -> pd.DataFrame:
    """`rows` from days after the champion's training window: it is never judged on what it trained on."""
    try:
        _, trained_until = parse_window(champion.tags.get(Tag.REFERENCE_WINDOW, ""))
    except ValueError:
        return rows
    if rows.empty:
        return rows
    return rows[rows[schema.timestamp_column].dt.date > trained_until].reset_index(drop=True)


def _trained_until(champion: LoadedModel) -> dt.date | None:
    try:
        return parse_window(champion.tags.get(Tag.REFERENCE_WINDOW, ""))[1]
    except ValueError:
        return None


def _monitoring_run(mlflow_dir: Path, experiment_name: str, model_name: str, version: str) -> str:
    """One MLflow run per champion version collects every night's metrics (step = night), so the MLflow UI
    plots them over time; it is tagged with the model version it watches."""
    from mlflow import MlflowClient

    experiment_id = ensure_experiment(mlflow_dir, experiment_name)
    client = MlflowClient()
    runs = client.search_runs([experiment_id], f"tags.{Tag.MONITORED_VERSION} = '{version}'", max_results=1)
    if runs:
        return runs[0].info.run_id
    run = client.create_run(
        experiment_id,
        run_name=f"monitor {model_name} v{version}",
        tags={Tag.MONITORED_MODEL: model_name, Tag.MONITORED_VERSION: version},
    )
    return run.info.run_id


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
        metrics["performance/matured_default_rate"] = labels.matured_rate
        metrics["drift/label"] = float(labels.drifted)
    return metrics


def metric_step(night: dt.date, trained_until: dt.date | None) -> int:
    """The step of a night's metrics: the champion's age in days (nights since its training data ends), so the
    step axis reads as nights in service; the wall-time axis is the night itself."""
    return max((night - trained_until).days, 0) if trained_until else 0


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


def log_to_mlflow(run_id: str, result: NightResult, trained_until: dt.date | None = None) -> None:
    """Metrics stamped with the night (step: `metric_step`), the night's result as `nights/<night>/summary.json`, its reports, and the
    decision as a tag."""
    import mlflow
    from mlflow import MlflowClient

    night = result.summary.night
    client, step = MlflowClient(), metric_step(night, trained_until)
    stamp = int(dt.datetime.combine(night, dt.time(), tzinfo=dt.UTC).timestamp() * 1000)
    for key, value in night_metrics(result.summary).items():
        client.log_metric(run_id, key, value, timestamp=stamp, step=step)
    with mlflow.start_run(run_id=run_id):
        mlflow.log_dict(result.to_dict(), f"nights/{night}/{NIGHT_RESULT_FILE}")
        for path in result.reports:
            mlflow.log_artifact(path, artifact_path=f"nights/{night}")
    client.set_tag(run_id, Tag.LAST_NIGHT, night.isoformat())
    client.set_tag(
        run_id,
        f"{Tag.DECISION_PREFIX}{night}",
        f"{result.action}: {result.reason}"[:4900],
    )


def result_path(root: Path, paths: PathsConfig, night: dt.date) -> Path:
    """Where a night's result (`NightResult` as JSON) is written beside its reports."""
    return root / paths.reports_dir / night.isoformat() / NIGHT_RESULT_FILE


def read_result(root: Path, paths: PathsConfig, night: dt.date) -> NightResult | None:
    """A night's result as written by `monitor_night`, or None (not monitored, or no data that night)."""
    path = result_path(root, paths, night)
    return NightResult.from_dict(json.loads(path.read_text())) if path.exists() else None


def _publish(params: Params, root: Path, night: dt.date, made: dict, labels: dict[str, str]) -> list[str]:
    """The workspace is a second view of the same reports: a failure there is a problem to alert, not fatal."""
    workspace = root / params.paths.evidently_workspace
    if not made and not workspace.exists():
        return []
    try:
        # A re-run night without data still clears the snapshots an earlier run of it left.
        publish_night(
            workspace,
            f"{params.registry.model_name} monitoring",
            night,
            {kind: snapshot for kind, (_, snapshot) in made.items()},
            DashboardSettings(
                params.monitor.drift_share_threshold,
                params.monitor.score_psi_threshold,
                params.monitor.psi_significant,
                tuple(params.monitor.key_features),
                params.wording.rate_text(params.schema.target_column),
            ),
            labels,
        )
    except Exception as exc:  # noqa: BLE001 - any workspace error becomes an alert with its reason
        log.warning("Evidently workspace not updated for %s: %s", night, exc)
        return [f"Evidently workspace {params.paths.evidently_workspace} not updated: {exc}"]
    return []


def _without_held(schema: SchemaConfig, held: set[dt.date], rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` without those of earlier nights held for data quality (a broken night must not read as drift, or
    as performance, for the nights after it). `held` never holds the night being judged."""
    if rows.empty or not held:
        return rows
    return rows[~rows[schema.timestamp_column].dt.date.isin(held)].reset_index(drop=True)


def _kept_days(counts: pd.DataFrame, held: set[dt.date], after: dt.date | None = None) -> pd.DataFrame:
    """The day counts (prediction_log.LogWindow.day_counts) of the days the statistics keep: not held, and, for
    the matured-label window, after the champion's training window."""
    keep = ~counts["day"].isin(held)
    if after is not None:
        keep &= counts["day"] > after
    return counts[keep]


def population(
    current: prediction_log.LogWindow,
    matured: prediction_log.LogWindow,
    held: set[dt.date],
    night: dt.date,
    trained_until: dt.date | None,
) -> Population:
    """The exact counts behind the night's (possibly sampled) windows, with the same filters as their rows:
    scored rows of days not held; of the matured window, scored and labelled ones after the training window."""
    days = _kept_days(current.day_counts, held)
    return Population(
        rows=int(days["scored"].sum()),
        night_rows=int(days.loc[days["day"] == night, "scored"].sum()),
        nights=int((days["scored"] > 0).sum()),
        labelled_rows=int(_kept_days(matured.day_counts, held, trained_until)["labelled"].sum()),
    )


def _scored_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows the model scored (a fallback answer is logged without a score)."""
    if rows.empty or rows["score"].notna().all():
        return rows
    return rows[rows["score"].notna()].reset_index(drop=True)


def monitor_night(
    params: Params, root: Path, log_engine: sa.Engine, night: dt.date, retrain_in_flight: bool
) -> NightResult:
    """Build the night's summary, decision, reports and alerts, record them, and return what the DAG needs."""
    schema = params.schema
    # Fewer than monitor.min_rows rows in window_days nights: the windows widen (low_volume), the record says so.
    window = low_volume.choose_window(log_engine, schema, params.monitor, night)
    cfg = low_volume.widened(params.monitor, window)
    champion = load_champion(params.registry.model_name)
    # A champion the gate did not promote (the alias moved by hand) is still judged, and the night says so.
    not_promoted = not_promoted_reason(
        log_engine, params.registry.model_name, champion.version, champion.tags
    )
    reference = champion_reference(params, root, champion)
    label_night = night - dt.timedelta(days=schema.label_delay_days)
    current_window = prediction_log.read_window(
        log_engine, schema, *_window(night, cfg.window_days), cfg.max_window_rows
    )
    matured_window = prediction_log.read_window(
        log_engine, schema, *_window(label_night, cfg.window_days), cfg.max_window_rows
    )
    online = online_night(
        prediction_log.read_source(log_engine, schema, *_window(night, 1), ONLINE_SOURCE), schema, night
    )
    held = decisions_log.held_nights(
        log_engine, _window(min(night, label_night), cfg.window_days)[0].date(), night
    )
    # Fallback answers have no score: counted in `online`, left out of score and feature drift.
    current = _without_held(schema, held, _scored_rows(current_window.rows))
    labelled = _without_held(schema, held, _scored_rows(matured_window.rows))
    labelled = unseen_by(champion, labelled[labelled["label"].notna()].reset_index(drop=True), schema)
    counts = population(current_window, matured_window, held, night, _trained_until(champion))
    if len(labelled):
        # Judge the current champion, not whichever model logged these scores a label delay ago (after a
        # promotion the old scores would keep condemning a model that may already handle the change).
        labelled = labelled.assign(logged_score=labelled["score"], score=champion.score(labelled, schema))
    labelled_drift = (
        dataset_drift(reference.profile, labelled, schema, cfg) if len(labelled) >= cfg.min_rows else None
    )
    summary = summarize(
        schema, cfg, reference.profile, None, current, labelled, labelled_drift, night, counts
    )
    summary = dataclasses.replace(summary, online=online)
    last = decisions_log.last_retrain(log_engine, night)
    rate_name = params.wording.rate_text(schema.target_column)
    decision = decide(summary, cfg, params.gate, last, retrain_in_flight, rate_name)
    decision = low_volume.noted(decision, window, cfg.min_rows)
    night_dir = root / params.paths.reports_dir / night.isoformat()
    labels = {
        "night": night.isoformat(),
        "champion": f"v{champion.version}",
        "decision": str(decision.action or summary.status),
    }
    made = {}
    if summary.status is Status.NO_DATA:
        if night_dir.exists():
            shutil.rmtree(night_dir)  # a re-run night that now has no data keeps no report of the earlier run
    else:
        made = evidently_reports(
            schema,
            cfg,
            reference.sample,
            current,
            labelled,
            night_dir,
            night,
            reference.holdout,
            profile=reference.profile,
            labels=labels,
            decision_lines=decision_lines(summary, decision, champion.version, cfg),
            population=counts,
        )
    problems = _publish(params, root, night, made, labels)
    if not_promoted:
        problems.append(f"champion v{champion.version} is {not_promoted}; the scoring service refuses it")
    run_id = _monitoring_run(
        root / params.paths.mlflow_dir, cfg.experiment_name, params.registry.model_name, champion.version
    )
    result = NightResult(
        summary=summary,
        decision=decision,
        alerts=alerts_for(summary, decision, cfg, params.gate, problems),
        champion_version=champion.version,
        monitoring_run_id=run_id,
        reports=tuple(str(path) for path, _ in made.values()),
        training_window_end=label_night,
        evidently=night_reports(root / params.paths.evidently_workspace, night) if made else {},
    )
    if summary.status is not Status.NO_DATA:
        atomic_write_json(result_path(root, params.paths, night), result.to_dict())
    log_to_mlflow(run_id, result, _trained_until(champion))
    decisions_log.record(log_engine, decision, champion.version, summary.drift_share)
    return result


def judge_night(
    params: Params, root: Path, log_engine: sa.Engine, night: dt.date, retrain_in_flight: bool
) -> tuple[NightResult, str]:
    """The monitoring DAG's report_and_decide (and the nightly benchmark's): `monitor_night`, and the run's note
    that Airflow shows beside it (links to the night's reports, MLflow run and Evidently snapshots)."""
    from tabular_mlops.monitoring.run_notes import Links, experiment_of, night_note

    result = monitor_night(params, root, log_engine, night, retrain_in_flight)
    note = night_note(
        result,
        params.registry.model_name,
        Links.from_env(),
        experiment_of(result.monitoring_run_id),
        result.evidently,
        params.monitor.drift_share_threshold,
    )
    return result, note
