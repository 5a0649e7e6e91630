"""Running the DAGs for real in a test: environment pointing them at a project, one dag.test() run, its task
states, the registry version a training run made, and the queued runs a drill leaves behind."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path


class Env:
    """Set environment variables for a module and restore them afterwards."""

    def __init__(self) -> None:
        self.saved: dict[str, str | None] = {}

    def set(self, **values: str) -> None:
        for key, value in values.items():
            self.saved.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def restore(self) -> None:
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def project_env(project: Path) -> tuple[Env, Path, Path]:
    """Point the DAGs at `project`: its SQLite source and monitoring DBs under var/, its MLflow store."""
    db, monitor_db = project / "var" / "source.db", project / "var" / "monitoring.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    env = Env()
    env.set(
        MLOPS_PROJECT_DIR=str(project),
        AIRFLOW_CONN_SOURCE_DB=json.dumps({"conn_type": "sqlite", "host": str(db)}),
        AIRFLOW_CONN_MONITORING_DB=json.dumps({"conn_type": "sqlite", "host": str(monitor_db)}),
        MLFLOW_TRACKING_URI=f"sqlite:///{project / 'var' / 'mlflow.db'}",
    )
    return env, db, monitor_db


def run_dag(dag_id: str, logical_date: dt.date | None = None, conf: dict | None = None):
    """Parse the dags/ folder afresh (so env changes apply) and run one DAG run with dag.test(), which runs the
    tasks in this thread, under pytest's and the fixture's frames: with stack headroom (see stack_headroom)."""
    from airflow.dag_processing.dagbag import DagBag

    from tests.support.project import REPO
    from tests.support.stack_headroom import with_stack_headroom

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    dag = bag.dags[dag_id]
    when = None
    if logical_date is not None:
        when = dt.datetime.combine(logical_date, dt.time(), tzinfo=dt.UTC)
    return with_stack_headroom(dag.test, logical_date=when, run_conf=conf)


def task_states(dag_run) -> dict[str, tuple[str | None, int]]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter(
            TaskInstance.dag_id == dag_run.dag_id, TaskInstance.run_id == dag_run.run_id
        )
        return {ti.task_id: (str(ti.state) if ti.state else None, ti.try_number) for ti in tis}


def challenger_of(airflow_run_id: str):
    """(MLflow challenger run, its registry version) of a train_model Airflow run."""
    from mlflow import MlflowClient

    client = MlflowClient()
    runs = [
        r
        for r in client.search_runs(
            [client.get_experiment_by_name("credit_default_training").experiment_id],
            f"tags.airflow_run_id = '{airflow_run_id}'",
        )
        if r.data.tags.get("stage") in ("challenger", "promoted")
    ]
    assert runs, f"no challenger run tagged airflow_run_id={airflow_run_id}"
    versions = client.search_model_versions(f"name='credit_default' and run_id='{runs[0].info.run_id}'")
    return runs[0], versions[0]


def drop_queued_runs(dag_id: str) -> None:
    """Delete runs of `dag_id` still queued (triggered by a drill; no scheduler runs them under dag.test), so they
    do not count as a retraining in flight for the next test module sharing this Airflow DB."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        for run in session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.state == "queued"):
            session.delete(run)


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
