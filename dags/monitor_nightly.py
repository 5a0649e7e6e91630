"""Nightly monitoring: score the night's rows with the champion into the prediction log, join labels
that matured, build the Evidently report and drift statistics against the champion's training data, decide
`retrain` or `keep` with reasons, and trigger `train_model` (reason and window in its conf) when it says so."""

from __future__ import annotations

import datetime as dt

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Param, dag, task
from tabular_mlops_airflow.extra_links import add_links, monitoring_links
from tabular_mlops_airflow.settings import (
    MONITORING_CONN_ID,
    RETRAIN_RUN_ID_TEMPLATE,
    SOURCE_CONN_ID,
    TRAIN_DAG_ID,
    RetrainConf,
    check_night,
    dag_schedule,
    default_args,
    fail_fast,
    no_logical_date,
    project_params,
    project_root,
    quiet_third_party_logs,
    retraining_in_flight,
)

ROOT = project_root(__file__)


def _night(context: dict) -> dt.date:
    # The logical date names the night (a manual run's data interval follows its trigger time in Airflow 3).
    start = context.get("logical_date") or context.get("data_interval_start")
    if start is None:
        raise no_logical_date("trigger it with one (the night to monitor)")
    return dt.date(start.year, start.month, start.day)


@dag(
    dag_id="monitor_nightly",
    schedule=dag_schedule(ROOT, "monitor_nightly"),
    # No Airflow start_date: Airflow creates no task for a logical date before it (a "successful" empty run).
    # params.yaml dags.start_date is checked by the first task instead, which fails naming both dates.
    start_date=None,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["tabular-mlops", "monitoring", "evidently", "drift"],
    params={
        "rescore": Param(
            False,
            type="boolean",
            description="Re-running a night: score it with today's champion instead of the version that scored it",
        )
    },
    doc_md=__doc__,
)
def monitor_nightly() -> None:
    @task
    def score(**context) -> dict:
        """Champion scores for the night's rows; a re-run replaces the night's rows."""
        from pathlib import Path

        from tabular_mlops.model.tracking import configure_tracking
        from tabular_mlops.monitoring.batch_scoring import score_night
        from tabular_mlops.store import source_db
        from tabular_mlops_airflow.connections import sqlalchemy_url

        params = project_params(ROOT)
        check_night(params.dags, _night(context))
        configure_tracking(params, Path(ROOT))
        src = source_db.connect(sqlalchemy_url(SOURCE_CONN_ID), SOURCE_CONN_ID)
        log = source_db.connect(sqlalchemy_url(MONITORING_CONN_ID), MONITORING_CONN_ID)
        rescore = bool(context["params"].get("rescore"))
        night, run_id = _night(context), context["dag_run"].run_id
        with fail_fast():  # the source's time column holds values that are not times: a retry cannot fix it
            return score_night(params, src, log, night, run_id, SOURCE_CONN_ID, rescore=rescore)

    @task
    def join_labels(scored: dict, **context) -> dict:
        """Delayed ground truth: labels of the rows of `night - label_delay_days`."""

        from tabular_mlops.monitoring.batch_scoring import join_matured_labels
        from tabular_mlops.store import source_db
        from tabular_mlops_airflow.connections import sqlalchemy_url

        params = project_params(ROOT)
        src = source_db.connect(sqlalchemy_url(SOURCE_CONN_ID), SOURCE_CONN_ID)
        log = source_db.connect(sqlalchemy_url(MONITORING_CONN_ID), MONITORING_CONN_ID)
        return {**scored, **join_matured_labels(params, src, log, _night(context), SOURCE_CONN_ID)}

    @task
    def report_and_decide(labelled: dict, **context) -> dict:
        """Evidently report + vectorized drift statistics -> MLflow; the decision and its reasons -> record."""
        from pathlib import Path

        from tabular_mlops.core.contracts import RUN_NOTE_XCOM_KEY
        from tabular_mlops.model.tracking import configure_tracking
        from tabular_mlops.monitoring.nightly import judge_night
        from tabular_mlops.store import source_db
        from tabular_mlops_airflow.connections import sqlalchemy_url
        from tabular_mlops_airflow.notifiers import send_alert

        quiet_third_party_logs()
        params = project_params(ROOT)
        configure_tracking(params, Path(ROOT))
        log = source_db.connect(sqlalchemy_url(MONITORING_CONN_ID), MONITORING_CONN_ID)
        night = _night(context)
        stale = params.dags.retrain_stale_after_days
        in_flight = retraining_in_flight(context["ti"], night, stale)
        result, note = judge_night(params, Path(ROOT), log, night, in_flight)
        for alert in result.alerts:
            send_alert(alert.kind, alert.title, list(alert.details))
        context["ti"].xcom_push(key=RUN_NOTE_XCOM_KEY, value=note)
        # A NightResult as JSON: `route` reads `action`, the retraining's conf `reason` and `training_window_end`.
        return result.to_dict()

    @task.branch
    def route(result: dict) -> str:
        from tabular_mlops.monitoring.results import Action, NightResult

        retrain = NightResult.from_dict(result).action is Action.RETRAIN
        return "trigger_retraining" if retrain else "keep_champion"

    trigger_retraining = TriggerDagRunOperator(
        task_id="trigger_retraining",
        trigger_dag_id=TRAIN_DAG_ID,
        trigger_run_id=RETRAIN_RUN_ID_TEMPLATE,
        conf={
            RetrainConf.REASON: "{{ ti.xcom_pull(task_ids='report_and_decide')['reason'] }}",
            RetrainConf.NIGHT: "{{ ds }}",
            RetrainConf.MONITOR_RUN_ID: "{{ run_id }}",
            RetrainConf.WINDOW_END: "{{ ti.xcom_pull(task_ids='report_and_decide')['training_window_end'] }}",
        },
        skip_when_already_exists=True,
    )

    @task
    def record_trigger(**context) -> str:
        """Write the triggered run id next to the night's decision (cooldown and audit read it)."""
        from tabular_mlops.core.contracts import retrain_run_id
        from tabular_mlops.monitoring import decisions_log
        from tabular_mlops.store import source_db
        from tabular_mlops_airflow.connections import sqlalchemy_url

        run_id = retrain_run_id(context["ds"])
        log = source_db.connect(sqlalchemy_url(MONITORING_CONN_ID), MONITORING_CONN_ID)
        decisions_log.record_trigger(log, _night(context), run_id)
        return run_id

    decided = add_links(report_and_decide(join_labels(score())), *monitoring_links(ROOT))
    route(decided) >> [trigger_retraining, EmptyOperator(task_id="keep_champion")]
    trigger_retraining >> record_trigger()


monitor_nightly()
