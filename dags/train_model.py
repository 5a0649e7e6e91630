"""Nightly training: `dvc repro` (preprocess -> train -> evaluate, tracked in MLflow) -> register the
challenger -> gate (model tests, thresholds, champion comparison) -> promote to `champion` or keep it out."""

from __future__ import annotations

from airflow.sdk import Param, dag, task
from tabular_mlops_airflow.assets import CHAMPION_MODEL
from tabular_mlops_airflow.extra_links import add_links, gate_links
from tabular_mlops_airflow.settings import (
    DVC_POOL,
    MONITORING_CONN_ID,
    dag_schedule,
    default_args,
    project_params,
    project_root,
    quiet_third_party_logs,
    task_env,
)

ROOT = project_root(__file__)


@dag(
    dag_id="train_model",
    schedule=dag_schedule(ROOT, "train_model"),
    # No Airflow start_date: training reads data/, not a night (params.yaml dags.start_date guards the nights).
    start_date=None,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(retries=1),
    tags=["tabular-mlops", "training", "mlflow", "dvc"],
    params={
        # Empty: the run's own type (scheduled, manual, backfill) is the reason logged, never `scheduled` for a
        # training triggered by hand.
        "reason": Param(
            "",
            type="string",
            description="Why this training runs (logged as a tag; empty: how it was triggered)",
        )
    },
    doc_md=__doc__,
)
def train_model() -> None:
    @task(pool=DVC_POOL)
    def reproduce_pipeline(**context) -> dict:
        """Same stages as `dvc repro` on a laptop; unchanged data and params reuse the cached results."""
        import json
        from pathlib import Path

        from tabular_mlops.core.contracts import RUN_FILE
        from tabular_mlops.data.versioning import reproduce

        params = project_params(ROOT)
        env = task_env(ROOT, context)
        env["MLOPS_TRIGGER_REASON"] = context["params"].get("reason") or env["MLOPS_TRIGGER_REASON"]
        reproduce(Path(ROOT), env=env)
        return json.loads((Path(ROOT) / params.paths.model_dir / RUN_FILE).read_text())

    @task(pool=DVC_POOL)
    def register(run: dict) -> dict:
        """New registry version with alias `challenger` (idempotent per MLflow run)."""
        from pathlib import Path

        from tabular_mlops.model.tracking import configure_mlflow
        from tabular_mlops.training.registry import register_challenger

        params = project_params(ROOT)
        configure_mlflow(Path(ROOT) / params.paths.mlflow_dir, params.registry.experiment_name)
        return register_challenger(params, Path(ROOT))

    @task(pool=DVC_POOL, outlets=[CHAMPION_MODEL])
    def gate_and_promote(registered: dict, **context) -> dict:
        """A rejected challenger is a normal outcome (the task succeeds, the reasons are on the version) and
        raises a `retraining` alert: someone should know the retraining did not replace the champion."""
        from pathlib import Path

        from tabular_mlops.core.contracts import RUN_NOTE_XCOM_KEY
        from tabular_mlops.model.tracking import configure_mlflow
        from tabular_mlops.monitoring.run_notes import Links, experiment_of, training_note
        from tabular_mlops.store import source_db
        from tabular_mlops.training.registry import promote_if_better
        from tabular_mlops_airflow.connections import sqlalchemy_url
        from tabular_mlops_airflow.notifiers import send_alert

        quiet_third_party_logs()
        params = project_params(ROOT)
        configure_mlflow(Path(ROOT) / params.paths.mlflow_dir, params.registry.experiment_name)
        # The promotion lock and ledger live in the monitoring database, shared by every deployment.
        ledger = source_db.connect(sqlalchemy_url(MONITORING_CONN_ID), MONITORING_CONN_ID)
        actor = f"airflow:{context['dag_run'].dag_id}/{context['dag_run'].run_id}"
        result = promote_if_better(params, Path(ROOT), str(registered["version"]), ledger, actor)
        if result.get("promoted"):
            # Best effort: the service also follows the alias by polling; a service down is only a warning.
            from tabular_mlops.serving.reload_client import request_reload

            result["service_reload"] = request_reload(params.serving)
        run_id = registered.get("run_id")
        result["run_id"] = run_id  # the training run, for the task's MLflow link
        note = training_note(
            {**context["dag_run"].conf, **context["params"]},
            result,
            params.registry.model_name,
            Links.from_env(),
            experiment_of(run_id),
            run_id,
        )
        context["ti"].xcom_push(key=RUN_NOTE_XCOM_KEY, value=note)
        if result["decision"].startswith("rejected"):
            send_alert(
                "retraining",
                f"{params.registry.model_name} v{result['version']} was not promoted",
                [result["decision"]],
                run_id=context["dag_run"].run_id,
                champion=result.get("previous_champion"),
            )
        return result

    add_links(gate_and_promote(register(reproduce_pipeline())), *gate_links(ROOT))


train_model()
