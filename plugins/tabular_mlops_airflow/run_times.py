"""A listener that gives a headless run its true start time, so Airflow's duration chart reads right.

`airflow dags test <dag> <night>` (the headless way to run a night, docs/headless.md) creates its DAG run with
`start_date` = the logical date: a night of a 1984 table "started" in 1984, and the UI's duration chart (end date
minus start date) drew that run as 15681 days long, dwarfing every real run. A run cannot start before it was
allowed to (`run_after`, which dag.test sets to the moment it is called), so a start date before `run_after` is
replaced, when the run ends, by the moment its first task started (`run_after` when no task started). Runs the
scheduler starts (scheduled, backfilled, triggered) start after `run_after` and are never touched. A listener
error is logged, never raised.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from typing import Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

log = logging.getLogger(__name__)


def true_start(
    start: dt.datetime | None, run_after: dt.datetime | None, task_starts: list[dt.datetime]
) -> dt.datetime | None:
    """The start date a run should carry: `start` unless it lies before `run_after` (dag.test's logical date),
    then its first task's start, or `run_after` when none started. None when nothing is to change."""
    if start is None or run_after is None or start >= run_after:
        return None
    later = [t for t in task_starts if t >= run_after]
    return min(later) if later else run_after


def correct_start(dag_run: Any) -> None:
    """Move a headless run's start date from its logical date to when it really started (see the module doc)."""
    if dag_run.start_date is None or dag_run.run_after is None or dag_run.start_date >= dag_run.run_after:
        return  # the scheduler's runs: nothing to read or write
    try:
        from airflow.models.dagrun import DagRun
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from sqlalchemy import select, update

        # A session of our own: the run dag.test hands the listener is not attached to a session here.
        with create_session() as session:
            starts = session.scalars(
                select(TaskInstance.start_date).where(
                    TaskInstance.dag_id == dag_run.dag_id,
                    TaskInstance.run_id == dag_run.run_id,
                    TaskInstance.start_date.is_not(None),
                )
            ).all()
            start = true_start(dag_run.start_date, dag_run.run_after, list(starts))
            if start is None:
                return
            session.execute(
                update(DagRun)
                .where(DagRun.dag_id == dag_run.dag_id, DagRun.run_id == dag_run.run_id)
                .values(start_date=start)
            )
        log.info("run %s/%s started %s (not on its logical date)", dag_run.dag_id, dag_run.run_id, start)
        # dag.test writes its run object back when it commits the end state: it must carry the same start.
        dag_run.start_date = start
    except Exception:  # a start date is never worth a failed run
        log.exception("start date not corrected for %s/%s", dag_run.dag_id, dag_run.run_id)


@hookimpl
def on_dag_run_success(dag_run: Any, msg: str) -> None:
    correct_start(dag_run)


@hookimpl
def on_dag_run_failed(dag_run: Any, msg: str) -> None:
    correct_start(dag_run)


class RunTimesPlugin(AirflowPlugin):
    """Registers the start-date listener with Airflow."""

    name = "tabular_mlops_run_times"
    listeners = [sys.modules[__name__]]
