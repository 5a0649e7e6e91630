"""Nightly training: `dvc repro` (preprocess -> train -> evaluate, tracked in MLflow) -> register the
challenger -> gate (model tests, thresholds, champion comparison) -> promote to `champion` or keep it out."""

from __future__ import annotations

from airflow.sdk import Param, dag, task
from tabular_mlops_airflow.assets import CHAMPION_MODEL
from tabular_mlops_airflow.extra_links import add_links, gate_links
from tabular_mlops_airflow.settings import (
    DVC_POOL,
    MONITORING_CONN_ID,
    RetrainConf,
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
        RetrainConf.REASON: Param(
            "",
            type="string",
            description="Why this training runs (logged as a tag; empty: how it was triggered)",
        )
    },
    doc_md=__doc__,
)
def train_model() -> None:
    # `register` and `gate_and_promote` return their registry records as dicts (XCom holds JSON); the next task
    # reads them back with `from_dict` and derives a new record (`dataclasses.replace`) rather than editing one.
    @task(pool=DVC_POOL)
    def reproduce_pipeline(**context) -> dict:
        """Same stages as `dvc repro` on a laptop; unchanged data and params reuse the cached results."""
        import json
        from pathlib import Path

        from tabular_mlops.core.contracts import RUN_FILE, RetrainConf, TriggerEnv
        from tabular_mlops.data.versioning import reproduce

        params = project_params(ROOT)
        env = task_env(ROOT, context)
        env[TriggerEnv.REASON] = context["params"].get(RetrainConf.REASON) or env[TriggerEnv.REASON]
        reproduce(Path(ROOT), env=env)
        return json.loads((Path(ROOT) / params.paths.model_dir / RUN_FILE).read_text())

    @task(pool=DVC_POOL)
    def register(run: dict) -> dict:
        """New registry version with alias `challenger` (idempotent per MLflow run)."""
        from pathlib import Path

        from tabular_mlops.model.tracking import configure_tracking
        from tabular_mlops.training.registry import model_description, register_challenger

        params = project_params(ROOT)
        configure_tracking(params, Path(ROOT))
        description = model_description(params.wording, params.schema)
        return register_challenger(params.registry, params.paths, Path(ROOT), description).to_dict()

    @task(pool=DVC_POOL, outlets=[CHAMPION_MODEL])
    def gate_and_promote(registered: dict, **context) -> dict:
        """A rejected challenger is a normal outcome (the task succeeds, the reasons are on the version) and
        raises a `retraining` alert: someone should know the retraining did not replace the champion."""
        from dataclasses import replace
        from pathlib import Path

        from tabular_mlops.core.contracts import RUN_NOTE_XCOM_KEY
        from tabular_mlops.model.tracking import configure_tracking
        from tabular_mlops.monitoring.run_notes import Links, experiment_of, training_note
        from tabular_mlops.store import source_db
        from tabular_mlops.training.registry import promote_if_better
        from tabular_mlops.training.registry_records import RegisteredVersion
        from tabular_mlops_airflow.connections import sqlalchemy_url
        from tabular_mlops_airflow.notifiers import send_alert

        quiet_third_party_logs()
        params = project_params(ROOT)
        configure_tracking(params, Path(ROOT))
        challenger = RegisteredVersion.from_dict(registered)
        # The promotion lock and ledger live in the monitoring database, shared by every deployment.
        ledger = source_db.connect(sqlalchemy_url(MONITORING_CONN_ID), MONITORING_CONN_ID)
        actor = f"airflow:{context['dag_run'].dag_id}/{context['dag_run'].run_id}"
        gated = promote_if_better(params, Path(ROOT), challenger.version, ledger, actor)
        reload = None
        if gated.promoted:
            # Best effort: the service also follows the alias by polling; a service down is only a warning.
            from tabular_mlops.serving.reload_client import request_reload

            reload = request_reload(params.serving)
        # The training run goes with the result, for the task's MLflow link.
        result = replace(gated, run_id=challenger.run_id, service_reload=reload)
        note = training_note(
            {**context["dag_run"].conf, **context["params"]},
            result.to_dict(),
            params.registry.model_name,
            Links.from_env(),
            experiment_of(challenger.run_id),
            challenger.run_id,
        )
        context["ti"].xcom_push(key=RUN_NOTE_XCOM_KEY, value=note)
        if result.rejected:
            send_alert(
                "retraining",
                f"{params.registry.model_name} v{result.version} was not promoted",
                [result.decision],
                run_id=context["dag_run"].run_id,
                champion=result.previous_champion,
            )
        return result.to_dict()

    add_links(gate_and_promote(register(reproduce_pipeline())), *gate_links(ROOT))


train_model()
