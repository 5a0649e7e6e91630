"""A listener that writes each monitoring / training run's note when the run ends.

Tasks (Task SDK, no database access) push the note the package wrote to XCom under RUN_NOTE_XCOM_KEY; the
scheduler (or the API server, on a manual state change) calls this listener with the DAG run, and it sets
`dag_run.note`. A failed run gets a note naming its failed tasks and the run's reason. A listener error is logged,
never raised: notes must not break scheduling.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin
from tabular_mlops.core.contracts import DEPLOY_DAG_ID, MONITOR_DAG_ID, RUN_NOTE_XCOM_KEY, TRAIN_DAG_ID
from tabular_mlops.monitoring.run_notes import failed_note

log = logging.getLogger(__name__)
NOTED_DAGS = (MONITOR_DAG_ID, TRAIN_DAG_ID, DEPLOY_DAG_ID)


def _pushed_note(dag_run: Any, session: Any) -> str | None:
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    rows = session.execute(
        select(XComModel.value).where(
            XComModel.dag_id == dag_run.dag_id,
            XComModel.run_id == dag_run.run_id,
            XComModel.key == RUN_NOTE_XCOM_KEY,
        )
    ).all()
    notes = [XComModel.deserialize_value(row) for row in rows]
    return next((n for n in notes if isinstance(n, str) and n), None)


def write_note(dag_run: Any, failed: bool) -> None:
    """Set the run's note from its tasks' XCom (or, for a failed run, from its failed tasks)."""
    if dag_run.dag_id not in NOTED_DAGS:
        return
    from airflow.utils.session import create_session
    from sqlalchemy.orm import object_session

    try:
        # The caller's session when the run is attached to one (the scheduler commits it with the new state;
        # a second session would wait on SQLite's write lock), else a session of our own.
        session = object_session(dag_run)
        if session is not None:
            _note_in(dag_run, session, failed)
        else:
            with create_session() as own:
                _note_in(own.merge(dag_run), own, failed)
    except Exception:  # a note is never worth a scheduler error
        log.exception("run note not written for %s/%s", dag_run.dag_id, dag_run.run_id)


def _note_in(run: Any, session: Any, failed: bool) -> None:
    from airflow.utils.state import TaskInstanceState

    note = _pushed_note(run, session)
    if failed:
        tis = run.get_task_instances(state=[TaskInstanceState.FAILED], session=session)
        note = failed_note(run.dag_id, sorted(t.task_id for t in tis), dict(run.conf or {}), note)
    if note:
        run.note = note


@hookimpl
def on_dag_run_success(dag_run: Any, msg: str) -> None:
    write_note(dag_run, failed=False)


@hookimpl
def on_dag_run_failed(dag_run: Any, msg: str) -> None:
    write_note(dag_run, failed=True)


class RunNotesPlugin(AirflowPlugin):
    """Registers the run-note listener with Airflow."""

    name = "tabular_mlops_run_notes"
    listeners = [sys.modules[__name__]]
