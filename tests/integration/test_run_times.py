"""The start-date listener (plugins/run_times.py) through real Airflow: a headless run of a 1984 night
(`dag.test`, what `airflow dags test` calls) ends with the start date it really had, so the UI's duration chart
(end date minus start date) draws seconds, not 15681 days."""

from __future__ import annotations

import datetime as dt
import time

import pytest

pytestmark = pytest.mark.e2e

NIGHT = dt.datetime(1984, 3, 1, tzinfo=dt.UTC)


def _stored(dag_id: str, run_id: str):
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.run_id == run_id).one()
        return run.start_date, run.end_date, run.logical_date


def _dag(dag_id: str, fail: bool):
    from airflow.sdk import DAG, task

    with DAG(dag_id, schedule="@daily", start_date=None, catchup=False) as dag:

        @task
        def work() -> None:
            time.sleep(1)
            if fail:
                raise ValueError("the night failed")

        work()
    return dag


@pytest.mark.parametrize("fail", [False, True], ids=["success", "failed"])
def test_a_headless_run_of_a_1984_night_lasts_seconds_in_the_ui(airflow_db, fail):
    before = dt.datetime.now(dt.UTC)
    # dag.test needs a DAG id the dags/ folder serializes; the body is this test's own.
    run = _dag("deploy_model" if fail else "simulate_source", fail).test(logical_date=NIGHT)
    assert str(run.state) == ("failed" if fail else "success")
    start, end, logical = _stored(run.dag_id, run.run_id)
    assert logical == NIGHT  # the night itself is kept
    assert before <= start <= end
    # What the duration chart draws: end date minus start date (Airflow 3.x ui, durationChart).
    assert dt.timedelta(seconds=1) <= end - start < dt.timedelta(minutes=2)


def test_only_a_start_before_run_after_is_corrected():
    from tabular_mlops_airflow.run_times import true_start

    run_after = dt.datetime(2026, 12, 7, 14, 0, tzinfo=dt.UTC)
    task = run_after + dt.timedelta(seconds=3)
    # a run the scheduler started (after run_after) keeps its start
    assert true_start(run_after + dt.timedelta(seconds=1), run_after, [task]) is None
    # dag.test's logical-date start becomes its first task's start, or run_after when no task ran
    assert true_start(NIGHT, run_after, [task + dt.timedelta(seconds=5), task]) == task
    assert true_start(NIGHT, run_after, []) == run_after
    assert true_start(None, run_after, [task]) is None
