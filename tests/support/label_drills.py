"""The label drills' timelines (tests/integration/test_label_drills_*_e2e.py): a project whose labels mature
`LAG` days late (config, not code), a champion trained on the days before the first night, then nights through
real Airflow (dag.test), MLflow, DVC and Evidently, and what a test reads back from them.

Two modules, two timelines, so pytest-xdist runs them side by side (a module per worker): the 30 stable nights
(false alarms counted) in one; the label drift, then the concept drift and its retraining in the other."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from tests.support.airflow_runs import Env, drop_queued_runs, project_env, run_dag, task_states
from tests.support.project import make_project, simulate

LAG = 2
ROWS = 1200
TRAINING_DAYS = LAG + 19  # the first night's matured window and the training window (14 + 5 holdout days) fit


def first_day(train_night: dt.date) -> dt.date:
    """The first simulated day of a timeline whose champion is trained on `train_night`."""
    return train_night - dt.timedelta(days=TRAINING_DAYS)


def trained_project(
    root: Path,
    train_night: dt.date,
    days: Iterable[tuple[dt.date, int, str | None]],
    monitor: dict[str, Any] | None = None,
):
    """A project with a 2-day label delay (and `monitor` keys set in its params), its source seeded from
    `first_day(train_night)` with the stable days up to `train_night` and then `days` ((first day, number of days,
    scenario) in order), ingested and trained on `train_night` through Airflow. Returns (project, env to restore,
    monitoring DB path)."""
    project = make_project(root / "project")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["schema"]["label_delay_days"] = LAG
    params["preprocess"].update({"window_days": 14, "holdout_days": 5})
    params["monitor"].update({"window_days": 3, "min_rows": 300, **(monitor or {})})
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env, db, monitor_db = project_env(project)
    start = first_day(train_night)
    simulate(project, db, start.isoformat(), (train_night - start).days + 1, ROWS)
    for day, count, scenario in days:
        simulate(project, db, day.isoformat(), count, ROWS, scenario)
    # A retraining queued by another module's drill (no scheduler runs it here) must not count as in flight.
    drop_queued_runs("train_model")
    window = {
        "window_start": (start + dt.timedelta(days=LAG)).isoformat(),
        "window_end": train_night.isoformat(),
    }
    assert str(run_dag("ingest", conf=window).state) == "success"
    assert str(run_dag("train_model", logical_date=train_night).state) == "success"
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
