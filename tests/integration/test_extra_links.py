"""Task extra links through real Airflow: tasks carrying the DAGs' links run with dag.test(), then Airflow's REST
API's handler of /api/v2/.../taskInstances/{task_id}/links returns the URLs, built on the worker
from each task's return value and a real MLflow run."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.support.airflow_runs import Env
from tests.support.project import REPO

pytestmark = pytest.mark.e2e

MLFLOW_UI, EVIDENTLY_UI = "http://127.0.0.1:5000", "http://127.0.0.1:8000"


@pytest.fixture
def mlflow_run(tmp_path):
    """A run in a real MLflow store (the links look its experiment up), the UI at MLOPS_MLFLOW_URL."""
    import mlflow
    from mlflow import MlflowClient

    env = Env()
    env.set(
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}",
        MLOPS_MLFLOW_URL=MLFLOW_UI,
        MLOPS_EVIDENTLY_URL=EVIDENTLY_UI,
    )
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = MlflowClient()
    experiment = client.create_experiment("links", artifact_location=(tmp_path / "artifacts").as_uri())
    run = client.create_run(experiment)
    yield experiment, run.info.run_id
    env.restore()


def _run(dag_id: str, task_id: str, links, returned: dict | None) -> str:
    """One run of a stand-in for `dag_id` whose task `task_id` carries `links` and returns `returned` (None:
    it fails). The API server reads the real DAG file's serialisation (same ids), so the link names it lists
    come from dags/."""
    from airflow.sdk import DAG, task
    from tabular_mlops_airflow.extra_links import add_links

    with DAG(dag_id, schedule=None, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)) as dag:

        @task(task_id=task_id)
        def ends() -> dict:
            if returned is None:
                raise ValueError("expect_column_values_to_not_be_null failed")
            return returned

        add_links(ends(), *links)
    return dag.test().run_id


def _api_links(dag_id: str, run_id: str, task_id: str) -> dict[str, str | None]:
    """Airflow's own handler of GET /api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/links, called
    with the API server's DAG bag (the serialised DAGs) and a metadata-DB session: the answer the UI gets."""
    from airflow.api_fastapi.core_api.routes.public.extra_links import get_extra_links
    from airflow.models.dagbag import DBDagBag
    from airflow.utils.session import create_session

    with create_session() as session:
        answer = get_extra_links(dag_id, run_id, task_id, session=session, dag_bag=DBDagBag())
    return dict(answer.extra_links)


def test_the_links_api_returns_the_urls_the_tasks_computed(airflow_db, mlflow_run):
    from tabular_mlops.core.config import load_params
    from tabular_mlops_airflow.extra_links import gate_links, monitoring_links, validation_links

    experiment, run_id = mlflow_run
    model = load_params(REPO / "params.yaml").registry.model_name
    index = (REPO / "include/expectations/gx/uncommitted/data_docs/offline/index.html").as_uri()

    root = str(REPO)
    night = {
        "monitoring_run_id": run_id,
        "champion_version": "3",
        "evidently": {"drift": "p1/s1", "performance": "p1/s2"},
    }
    runs = {
        "report_and_decide": _run("monitor_nightly", "report_and_decide", monitoring_links(root), night),
        "gate_and_promote": _run(
            "train_model", "gate_and_promote", gate_links(root), {"version": "4", "run_id": run_id}
        ),
        "validate_failed": _run("ingest", "validate", validation_links(root), None),
    }
    dag_of = {"report_and_decide": "monitor_nightly", "gate_and_promote": "train_model"}
    links = {
        name: _api_links(dag_of.get(name, "ingest"), run, name.removesuffix("_failed"))
        for name, run in runs.items()
    }

    assert links["report_and_decide"] == {
        "Evidently dashboard": f"{EVIDENTLY_UI}/projects/p1",
        "Evidently drift report": f"{EVIDENTLY_UI}/projects/p1/reports/s1",
        "Evidently performance report": f"{EVIDENTLY_UI}/projects/p1/reports/s2",
        "MLflow run": f"{MLFLOW_UI}/#/experiments/{experiment}/runs/{run_id}",
        "Model version": f"{MLFLOW_UI}/#/models/{model}/versions/3",
    }
    assert links["gate_and_promote"] == {
        "MLflow run": f"{MLFLOW_UI}/#/experiments/{experiment}/runs/{run_id}",
        "Model version": f"{MLFLOW_UI}/#/models/{model}/versions/4",
    }
    # A failed validation returns nothing; the offline index that lists the failed night is still linked.
    assert links["validate_failed"] == {"Data Docs": None, "Data Docs index (offline)": index}
