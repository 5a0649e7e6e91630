"""The run-note listener (plugins/) through real Airflow: a task pushes the note, the ended run carries it."""

from __future__ import annotations

import datetime as dt

import pytest

pytestmark = pytest.mark.e2e


def _note(dag_id: str, run_id: str) -> str | None:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.run_id == run_id).one()
        return run.note


def _dag(dag_id: str, fail: bool):
    from airflow.sdk import DAG, task
    from tabular_mlops.core.contracts import RUN_NOTE_XCOM_KEY

    with DAG(dag_id, schedule=None, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)) as dag:

        @task
        def decide(**context) -> None:
            context["ti"].xcom_push(
                key=RUN_NOTE_XCOM_KEY, value="**RETRAIN** night 2026-02-04: drift share 0.364"
            )

        @task
        def later() -> None:
            if fail:
                raise ValueError("the expectation failed")

        decide() >> later()
    return dag


@pytest.mark.parametrize("dag_id", ["monitor_nightly", "train_model"])
def test_an_ended_run_carries_the_note_its_task_pushed(airflow_db, dag_id):
    run = _dag(dag_id, fail=False).test(run_conf={"reason": "drift"})
    assert str(run.state) == "success"
    assert _note(dag_id, run.run_id) == "**RETRAIN** night 2026-02-04: drift share 0.364"


def test_a_failed_run_names_its_failed_task_and_why_it_ran(airflow_db):
    run = _dag("train_model", fail=True).test(run_conf={"reason": "share of drifted columns 0.36 > 0.3"})
    assert str(run.state) == "failed"
    note = _note("train_model", run.run_id)
    assert note.startswith("**FAILED** train_model: task(s) later failed")
    # Markdown blocks: the reason a list item, the earlier note its own paragraph (rendered, not run together).
    assert "\n\nWhy this run started:\n\n- share of drifted columns 0.36 > 0.3" in note
    assert "\n\n**RETRAIN** night 2026-02-04" in note
    assert "**RETRAIN** night 2026-02-04" in note
