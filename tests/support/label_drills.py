"""The label drills' timelines (tests/integration/test_label_drills_*_e2e.py): a project whose labels mature
`LAG` days late (config, not code), a champion trained on TRAIN_NIGHT, the night before the first (the session's
shared champion, copied: tests/support/shared_champion.py), then nights through real Airflow (dag.test), MLflow,
DVC and Evidently, and what a test reads back from them.

Two modules, two timelines, so pytest-xdist runs them on two workers (a module per worker): the 30 stable nights
(false alarms counted) in one; the label drift, then the concept drift and its retraining in the other."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tests.support.airflow_runs import Env, drop_queued_runs, run_dag, task_states
from tests.support.shared_champion import LAG, TRAIN_NIGHT, champion_project, seed

__all__ = ["LAG", "TRAIN_NIGHT"]  # the timelines' modules take the champion's dates from here


def trained_project(
    tmp_path_factory,
    name: str,
    days: Iterable[tuple[dt.date, int, str | None]],
    monitor: dict[str, Any] | None = None,
):
    """A copy of the session's shared champion project (tests/support/shared_champion.py: a 2-day label delay,
    the stable days from FIRST_DAY trained on TRAIN_NIGHT through Airflow), `monitor` keys set in its params, its
    source then seeded with `days` ((first day, number of days, scenario) in order, after TRAIN_NIGHT). Returns
    (project, env to restore, monitoring DB path)."""
    project, env, db, monitor_db = champion_project(tmp_path_factory, tmp_path_factory.mktemp(name), monitor)
    seed(project, db, list(days))
    return project, env, monitor_db


def run_nights(
    project: Path, nights: Iterable[dt.date], out: dict[str, Any], stop: Callable[[dt.date, Any], bool]
) -> None:
    """monitor_nightly for each night in order: its state and task states into out["states"], the nights that
    raised the estimator's self-check into out["self_check_nights"] (the first one's note in out["alert_note"]);
    ends after the night for which `stop(night, run)` is true."""
    from tabular_mlops.stats.estimate_grading import CONCEPT_DRIFT as CONCEPT_DRIFT_SUSPECTED

    out.setdefault("states", {})
    for night in nights:
        run = run_dag("monitor_nightly", logical_date=night)
        out["states"][night] = (str(run.state), task_states(run))
        if any(a.title.startswith(CONCEPT_DRIFT_SUSPECTED) for a in result(project, night).alerts):
            out.setdefault("self_check_nights", []).append(night)
            if "alerted" not in out:
                out["alerted"], out["alert_note"] = night, dag_run_note("monitor_nightly", run.run_id)
        out["last_night"] = night
        if stop(night, run):
            break


def restore(env: Env) -> None:
    drop_queued_runs("train_model")
    env.restore()


def decisions(path):
    import sqlalchemy as sa
    from tabular_mlops.monitoring import decisions_log

    return {r.night: r for r in decisions_log.history(sa.create_engine(f"sqlite:///{path}"))}


def dag_run_conf(dag_id, run_id):
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.run_id == run_id).one()
        return dict(run.conf or {})


def dag_run_note(dag_id, run_id):
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.run_id == run_id).one().note


def result(project, night):
    """The night's NightResult, as written beside its reports."""
    from tabular_mlops.core.config import load_params
    from tabular_mlops.monitoring.night_record import read_result

    return read_result(project, load_params(project / "params.yaml").paths, night)


def summary(project, night):
    return result(project, night).summary


def monitoring_metric(key: str) -> dict[dt.date, float]:
    """One metric of the project's MLflow monitoring run, by night (each night's value is stamped with it)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    exp = client.get_experiment_by_name("credit_default_monitoring")
    (run,) = client.search_runs([exp.experiment_id], "tags.monitoring_series = 'credit_default'")
    return {
        dt.datetime.fromtimestamp(m.timestamp / 1000, dt.UTC).date(): m.value
        for m in client.get_metric_history(run.info.run_id, key)
    }
