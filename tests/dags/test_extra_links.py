"""The task extra links (plugins/): each reads its task's return value and builds the run notes' URL for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from tabular_mlops.core.config import load_params
from tabular_mlops.monitoring.run_notes import Links
from tabular_mlops_airflow.extra_links import (
    gate_links,
    monitoring_links,
    validation_links,
)

from tests.support.project import REPO

MLFLOW, EVIDENTLY = "http://127.0.0.1:5000", "http://127.0.0.1:8000"
MODEL = load_params(REPO / "params.yaml").registry.model_name
NIGHT = {
    "monitoring_run_id": "abc123",
    "champion_version": "3",
    "evidently": {"drift": "p1/s1", "performance": "p1/s2"},
}


@dataclass
class _RunningTask:
    """What the task runner hands `get_link` as `ti_key` on the worker: the running task instance."""

    returned: Any
    task_id: str = "task"

    def xcom_pull(self, task_ids: str) -> Any:
        assert task_ids == self.task_id
        return self.returned


@pytest.fixture
def ui(monkeypatch):
    monkeypatch.setenv("MLOPS_MLFLOW_URL", MLFLOW)
    monkeypatch.setenv("MLOPS_EVIDENTLY_URL", EVIDENTLY)
    # The run's experiment is looked up in MLflow as for the note; here it is known.
    monkeypatch.setattr("tabular_mlops.monitoring.run_notes.experiment_of", lambda run_id: "7")


def _urls(links, returned) -> dict[str, str]:
    return {link.name: link.get_link(None, ti_key=_RunningTask(returned)) for link in links}


def test_the_monitoring_task_links_its_run_champion_reports_and_dashboard(ui):
    links = Links(mlflow=MLFLOW, evidently=EVIDENTLY)
    assert _urls(monitoring_links(str(REPO)), NIGHT) == {
        "MLflow run": links.mlflow_run("7", "abc123"),
        "Model version": links.model_version(MODEL, "3"),
        "Evidently drift report": links.evidently_report("p1", "s1"),
        "Evidently performance report": links.evidently_report("p1", "s2"),
        "Evidently dashboard": links.evidently_dashboard("p1"),
    }
    assert links.evidently_dashboard("p1") == f"{EVIDENTLY}/projects/p1"


def test_the_gate_links_the_training_run_and_the_version_it_registered(ui):
    urls = _urls(gate_links(str(REPO)), {"version": "4", "run_id": "run9", "promoted": True})
    assert urls == {
        "MLflow run": f"{MLFLOW}/#/experiments/7/runs/run9",
        "Model version": f"{MLFLOW}/#/models/{MODEL}/versions/4",
    }


def test_the_validation_links_data_docs_and_the_offline_index_even_when_it_failed():
    site = "file:///project/include/expectations/gx/uncommitted/data_docs/local_site/index.html"
    urls = _urls(validation_links(str(REPO)), {"batch_id": "2026-02-04_2026-02-05", "data_docs": site})
    index = (REPO / "include/expectations/gx/uncommitted/data_docs/offline/index.html").as_uri()
    assert urls == {"Data Docs": site, "Data Docs index (offline)": index}
    # A failed validation returns nothing: only the index (which lists the failed night) is linked.
    assert _urls(validation_links(str(REPO)), None) == {"Data Docs": "", "Data Docs index (offline)": index}


def test_a_missing_value_or_ui_gives_no_link(monkeypatch):
    monkeypatch.delenv("MLOPS_MLFLOW_URL", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///x.db")  # no MLflow UI to link to
    urls = _urls(monitoring_links(str(REPO)), {"champion_version": "3", "evidently": {}})
    assert set(urls.values()) == {""}


def test_each_link_of_a_task_has_its_own_name_and_xcom_key():
    for links in (monitoring_links("."), gate_links("."), validation_links(".")):
        assert len({link.name for link in links}) == len({link.xcom_key for link in links}) == len(links)


def test_the_dags_give_their_tasks_the_links_as_the_api_server_sees_them(monkeypatch):
    """After serialisation (what the API server reads), each task lists its links by name."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    # Deserialising reads links only while this class flag is on. The API server's DagBag turns it on before each
    # read; a scheduler-side read (DBDagBag(load_op_links=False), as dag.test() makes in another module on this
    # pytest worker) leaves it off for the rest of the process.
    monkeypatch.setattr(DagSerialization, "_load_operator_extra_links", True)
    bag = DagBag(dag_folder=str(REPO / "dags"))
    served = {
        dag_id: DagSerialization.from_dict(DagSerialization.to_dict(bag.dags[dag_id])) for dag_id in bag.dags
    }
    names = {
        (dag_id, task_id): served[dag_id].get_task(task_id).extra_links
        for dag_id, task_id in [
            ("monitor_nightly", "report_and_decide"),
            ("train_model", "gate_and_promote"),
            ("ingest", "validate"),
        ]
    }
    assert names == {
        ("monitor_nightly", "report_and_decide"): sorted(link.name for link in monitoring_links(".")),
        ("train_model", "gate_and_promote"): ["MLflow run", "Model version"],
        ("ingest", "validate"): ["Data Docs", "Data Docs index (offline)"],
    }
