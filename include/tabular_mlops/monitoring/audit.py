"""Why did the model change that night? The night's decision and reasons (monitoring_decisions) joined with the
retraining it triggered and that retraining's gate outcome (MLflow run tags and registry version tags)."""

from __future__ import annotations

import sqlalchemy as sa

from tabular_mlops.artifacts import GATE_PENDING, RunStage, Tag
from tabular_mlops.config import Params
from tabular_mlops.monitoring import decisions_log


def retraining_outcome(params: Params, airflow_run_id: str) -> dict:
    """The challenger a train_model run produced (found by its `airflow_run_id` tag) and its gate decision."""
    from mlflow import MlflowClient

    client = MlflowClient()
    outcome: dict = {"airflow_run_id": airflow_run_id, "mlflow_run_id": None, "version": None, "gate": None}
    if "'" in airflow_run_id:
        return {**outcome, "gate": "run id contains a quote: look it up in the Airflow UI"}
    experiment = client.get_experiment_by_name(params.registry.experiment_name)
    runs = []
    if experiment is not None:
        runs = client.search_runs(
            [experiment.experiment_id],
            f"tags.{Tag.AIRFLOW_RUN_ID} = '{airflow_run_id}' and tags.{Tag.STAGE} = '{RunStage.CHALLENGER}'",
            max_results=1,
        )
    if not runs:
        return {
            **outcome,
            "gate": "no training run tagged with this Airflow run: it is queued or running, failed before "
            "training, or `dvc repro` reused an earlier training (same data and params) and no new version exists",
        }
    outcome["mlflow_run_id"] = runs[0].info.run_id
    name = params.registry.model_name
    versions = client.search_model_versions(f"name='{name}' and run_id='{runs[0].info.run_id}'")
    if not versions:
        return {**outcome, "gate": "trained, not registered yet"}
    version = versions[0]
    return {
        **outcome,
        "version": str(version.version),
        "gate": version.tags.get(Tag.GATE_DECISION, GATE_PENDING),
    }


def explain_nights(
    engine: sa.Engine, params: Params, night: str | None = None, last: int | None = None
) -> list[dict]:
    """Decisions (all, one night, or the last N) with the outcome of any retraining they triggered."""
    rows = decisions_log.history(engine)
    if night is not None:
        rows = [r for r in rows if r["night"] == night]
    elif last is not None:
        rows = rows[-last:]
    return [
        {
            **r,
            "retraining": retraining_outcome(params, r["triggered_run_id"])
            if r["triggered_run_id"]
            else None,
        }
        for r in rows
    ]
