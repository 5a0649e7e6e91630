"""One night of monitoring, top to bottom, one module per step: the log's windows (log_window), the champion's
reference and its profile (champion_reference), drift (drift), the summary (night_summary), the comparison with a
challenger in shadow (shadow_analysis), the estimated performance (night_estimate), the decision and its alerts
(decision), the reports (evidently_reports,
workspace), the record (night_record) and the run's note (run_notes). Returns the night's typed result."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import sqlalchemy as sa

from tabular_mlops.core.config import Params
from tabular_mlops.model.gate_promotion import not_promoted_reason
from tabular_mlops.model.scoring import load_champion
from tabular_mlops.monitoring import low_volume
from tabular_mlops.monitoring.champion_reference import champion_reference
from tabular_mlops.monitoring.decision import alerts_for, decide, with_self_check
from tabular_mlops.monitoring.drift import night_drift
from tabular_mlops.monitoring.evidently_reports import decision_lines, evidently_reports
from tabular_mlops.monitoring.log_window import read_night_log
from tabular_mlops.monitoring.night_estimate import (
    NightHistory,
    estimate_night,
    estimate_point,
    harm_limit,
    realized_points,
)
from tabular_mlops.monitoring.night_record import monitoring_run, record_night
from tabular_mlops.monitoring.night_summary import summarize
from tabular_mlops.monitoring.nights_chart import NightPoint, night_mark
from tabular_mlops.monitoring.results import NightResult, Status
from tabular_mlops.monitoring.shadow_analysis import compare_shadow
from tabular_mlops.monitoring.workspace import Published, publish_reports


def monitor_night(
    params: Params, root: Path, log_engine: sa.Engine, night: dt.date, retrain_in_flight: bool
) -> NightResult:
    """Build the night's summary, decision, reports and alerts, record them, and return what the DAG needs."""
    schema, paths = params.schema, params.paths
    # Fewer than monitor.min_rows rows in window_days nights: the windows widen (low_volume), the record says so.
    window_choice = low_volume.choose_window(log_engine, schema, params.monitor, night)
    monitor = low_volume.widened(params.monitor, window_choice)
    champion = load_champion(params.registry.model_name)
    # A champion the gate did not promote (the alias moved by hand) is still judged, and the night says so.
    not_promoted = not_promoted_reason(
        log_engine, params.registry.model_name, champion.version, champion.tags
    )
    # 1. The log's windows.
    window = read_night_log(log_engine, schema, monitor, champion, night)
    current, labelled, counts = window.current, window.labelled, window.population
    # 2. The champion's reference and its profile.
    reference = champion_reference(schema, monitor, paths, root, champion)
    # 3. Drift per column, of the score and of the label.
    drift = night_drift(reference.profile, current, labelled, counts, night, schema, monitor)
    # 4. The summary.
    summary = summarize(schema, monitor, reference.profile, drift, current, labelled, night, counts)
    summary = dataclasses.replace(summary, online=window.online)
    # 4b. The paired comparison with a challenger in shadow, when one scored beside the champion.
    shadow = compare_shadow(
        log_engine, schema, monitor, params.deploy, params.evaluate.decision_threshold, champion, night
    )
    # 4c. The champion's performance estimated before the labels arrive, graded as they mature.
    estimate = estimate_night(
        reference,
        current,
        labelled,
        features=schema.feature_names,
        monitor=monitor,
        threshold=champion.threshold(params.evaluate.decision_threshold),
        business_value=params.business_value,
        history=NightHistory(champion.version, night, window.label_night, root, paths),
    )
    # 5. The decision.
    rate_name = params.wording.rate_text(schema.target_column)
    decision = decide(
        summary, monitor, params.gate, window.last_retrain, retrain_in_flight, rate_name, estimate.harm
    )
    decision = low_volume.noted(
        with_self_check(decision, estimate.concept_drift), window_choice, monitor.min_rows
    )
    # 6. The reports, and their snapshots in the Evidently workspace.
    night_dir = root / paths.reports_dir / night.isoformat()
    labels = {
        "night": night.isoformat(),
        "champion": f"v{champion.version}",
        "decision": str(decision.action or summary.status),
        # keep / retrain / cooldown / in flight / hold: the dashboard colours each night's bar by it
        "mark": night_mark(decision),
    }
    point = NightPoint(
        night.isoformat(),
        labels["champion"],
        labels["mark"],
        summary.drift_share,
        summary.score_psi,
        summary.rows,
        summary.labelled_rows,
        *estimate_point(estimate),
        harm_limit=harm_limit(estimate.harm, monitor.max_estimated_drop),
        harm=estimate.harm.text,
        self_check=next(iter(estimate.concept_drift), ""),
    )
    made = {}
    if summary.status is Status.NO_DATA or not monitor.evidently_reports:
        if night_dir.exists():
            shutil.rmtree(night_dir)  # a re-run night without data or reports keeps none of the earlier run's
    else:
        made = evidently_reports(
            schema,
            monitor,
            reference.sample,
            current,
            labelled,
            night_dir,
            night,
            reference.holdout,
            profile=reference.profile,
            labels=labels,
            decision_lines=decision_lines(summary, decision, champion.version, monitor),
            population=counts,
        )
    published = Published()
    if monitor.evidently_reports:
        published = publish_reports(
            root / paths.evidently_workspace,
            f"{champion.name} monitoring",
            night,
            made,
            monitor,
            labels,
            point,
            schema.label_delay_days,
            rate_name,
            realized_points(estimate),
        )
    problems = list(published.problems)
    if not_promoted:
        problems.append(f"champion v{champion.version} is {not_promoted}; the scoring service refuses it")
    # 7. The record: the result file, MLflow, the decision log.
    result = NightResult(
        summary=summary,
        decision=decision,
        alerts=alerts_for(summary, decision, monitor, params.gate, problems, estimate.concept_drift),
        champion_version=champion.version,
        monitoring_run_id=monitoring_run(
            root / paths.mlflow_dir, monitor.experiment_name, champion.name, night
        ),
        reports=tuple(str(path) for path, _ in made.values()),
        training_window_end=window.label_night,
        evidently=published.snapshots,
        shadow=shadow,
        estimate=estimate,
    )
    record_night(result, root, paths, log_engine, window.trained_until)
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
