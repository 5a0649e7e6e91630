"""Prove a challenger in production before it becomes champion: shadow for `deploy.shadow.nights` nights, then
canary, then full, one step a night, judged on monitor_nightly's paired shadow comparison, the always-valid
sequential test and the canary guard's rules on the challenger's own answers. The champion alias moves only when
every check passes; a failed check rolls the challenger back by itself. Each step's checks and figures are the
run's note and the challenger version's `rollout.*` tags.

Each step puts the matching strategy in force in the running scoring service through its token-protected admin
API ($MLOPS_SERVING_URL, $MLOPS_SERVING_ADMIN_TOKEN or _FILE, as the local stack sets them): shadow, then canary,
then the champion alone after promotion or rollback; the service records each switch (this run as who, when,
from, to) in the deploy log and on the version's tags. A service that cannot be reached fails the run, naming
its URL, before any alias or tag changes.

Picks up the version the gate handed over (`deploy.require_proof: true`: alias `challenger`, tag `rollout.stage`),
or, started by hand, the version given in the trigger form (its shadow begins that night).

While a live split is in force (`ab_test` or `bandit`, switched by hand through the admin API), the night's step
is the split's instead (`split_step`): the A/B test decided on matured labels by the always-valid test (promote,
roll back or go on), or the bandit's weights updated from the rewards that matured."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task
from tabular_mlops_airflow.settings import (
    MONITORING_CONN_ID,
    dag_schedule,
    default_args,
    project_params,
    project_root,
    quiet_third_party_logs,
)

ROOT = project_root(__file__)


def _night(context: dict) -> dt.date:
    start = context.get("logical_date") or context.get("data_interval_start") or dt.datetime.now(dt.UTC)
    return dt.date(start.year, start.month, start.day)


def _params_and_log(mlflow: bool = True) -> tuple:
    """Inside a task: the project's params, MLflow configured (the registry), the monitoring database."""
    from pathlib import Path

    from tabular_mlops.model.tracking import configure_mlflow
    from tabular_mlops.store import source_db
    from tabular_mlops_airflow.connections import sqlalchemy_url

    quiet_third_party_logs()
    params = project_params(ROOT)
    if mlflow:
        configure_mlflow(Path(ROOT) / params.paths.mlflow_dir, params.registry.experiment_name)
    return params, source_db.connect(sqlalchemy_url(MONITORING_CONN_ID), MONITORING_CONN_ID)


def _actor(context: dict) -> str:
    run = context["dag_run"]
    return f"airflow:{run.dag_id}/{run.run_id}"


@dag(
    dag_id="deploy_model",
    schedule=dag_schedule(ROOT, "deploy_model"),
    start_date=None,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["tabular-mlops", "deploy", "shadow", "canary", "ab_test", "bandit"],
    params={
        "version": Param(
            "",
            type="string",
            description="The registered version to roll out (empty: the one the gate handed over)",
        )
    },
    doc_md=__doc__,
)
def deploy_model() -> None:
    @task.branch
    def choose_step() -> str:
        """The split's step while the deploy log says an A/B test or a bandit is in force, else the rollout's."""
        from tabular_mlops.monitoring.split_night import split_in_force

        params, log = _params_and_log(mlflow=False)
        return (
            "split_step" if split_in_force(log, params.registry.model_name, params.deploy) else "rollout_step"
        )

    @task
    def split_step(**context) -> dict:
        """Decide the A/B test on matured labels, or update the bandit's weights from matured rewards."""
        from tabular_mlops.core.contracts import RUN_NOTE_XCOM_KEY
        from tabular_mlops.monitoring.run_notes import Links
        from tabular_mlops.monitoring.split_night import split_night
        from tabular_mlops.serving.strategy_client import StrategyClient

        params, log = _params_and_log()
        note, summary = split_night(
            params.registry.model_name,
            params.schema,
            params.deploy,
            params.business_value,
            log,
            _night(context),
            StrategyClient.from_environ(params.serving),
            _actor(context),
            Links.from_env(),
        )
        context["ti"].xcom_push(key=RUN_NOTE_XCOM_KEY, value=note)
        return summary

    @task
    def rollout_step(**context) -> dict:
        """Judge the challenger's current stage and apply the verdict (advance, wait, promote, roll back)."""
        from tabular_mlops.core.contracts import RUN_NOTE_XCOM_KEY
        from tabular_mlops.monitoring.rollout_night import rollout_step as judge_and_apply
        from tabular_mlops.monitoring.run_notes import Links, rollout_note
        from tabular_mlops.serving.strategy_client import StrategyClient

        params, log = _params_and_log()
        step, why = judge_and_apply(
            params.registry.model_name,
            params.schema,
            params.deploy,
            log,
            _night(context),
            StrategyClient.from_environ(params.serving),
            version=str(context["params"].get("version") or "") or None,
            actor=_actor(context),
        )
        note = rollout_note(step, why, params.registry.model_name, Links.from_env())
        context["ti"].xcom_push(key=RUN_NOTE_XCOM_KEY, value=note)
        return {"step": None if step is None else step.to_dict(), "why": why}

    choose_step() >> [rollout_step(), split_step()]


deploy_model()
