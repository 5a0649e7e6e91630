"""Why did the model change that night? The night's decision and reasons (monitoring_decisions) joined with the
retraining it triggered and that retraining's gate outcome (MLflow run tags and registry version tags)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import sqlalchemy as sa

from tabular_mlops.core.config import RegistryConfig
from tabular_mlops.core.contracts import GATE_PENDING, RunStage, Tag
from tabular_mlops.monitoring import decisions_log
from tabular_mlops.monitoring.results import NightRecord, RetrainingOutcome
from tabular_mlops.monitoring.shadow_analysis import recorded_comparisons


def retraining_outcome(registry: RegistryConfig, airflow_run_id: str) -> RetrainingOutcome:
    """The challenger a train_model run produced (found by its `airflow_run_id` tag) and its gate decision."""
    from mlflow import MlflowClient

    client = MlflowClient()
    outcome = RetrainingOutcome(airflow_run_id)
    if "'" in airflow_run_id:
        return replace(outcome, gate="run id contains a quote: look it up in the Airflow UI")
    experiment = client.get_experiment_by_name(registry.experiment_name)
    runs: list = []
    if experiment is not None:
        # The registered run is tagged `challenger`, or `promoted` once its version was promoted.
        runs = [
            r
            for r in client.search_runs(
                [experiment.experiment_id], f"tags.{Tag.AIRFLOW_RUN_ID} = '{airflow_run_id}'"
            )
            if r.data.tags.get(Tag.STAGE) in (RunStage.CHALLENGER, RunStage.PROMOTED)
        ]
    if not runs:
        return replace(
            outcome,
            gate="no training run tagged with this Airflow run: it is queued or running, failed before "
            "training, or `dvc repro` reused an earlier training (same data and params) and no new version exists",
        )
    outcome = replace(outcome, mlflow_run_id=runs[0].info.run_id)
    versions = client.search_model_versions(
        f"name='{registry.model_name}' and run_id='{runs[0].info.run_id}'"
    )
    if not versions:
        return replace(outcome, gate="trained, not registered yet")
    version = versions[0]
    return replace(
        outcome, version=str(version.version), gate=version.tags.get(Tag.GATE_DECISION, GATE_PENDING)
    )


def explain(registry: RegistryConfig, record: NightRecord) -> NightRecord:
    """The record with the outcome of the retraining it triggered, if any."""
    if not record.triggered_run_id:
        return record
    return replace(record, retraining=retraining_outcome(registry, record.triggered_run_id))


def explain_nights(
    engine: sa.Engine, registry: RegistryConfig, night: dt.date | None = None, last: int | None = None
) -> list[NightRecord]:
    """Decisions (all, one night, or the last N) with the outcome of any retraining they triggered and the
    night's paired shadow comparison, if a challenger was in shadow."""
    if night is not None:
        found = decisions_log.night_record(engine, night)
        rows = [] if found is None else [found]
    else:
        rows = decisions_log.history(engine)
        if last is not None:
            rows = rows[-last:]
    shadow = recorded_comparisons(engine)
    return [replace(explain(registry, r), shadow=shadow.get(r.night)) for r in rows]
