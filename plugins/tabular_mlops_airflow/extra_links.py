"""Task extra links: buttons on a task instance that open its MLflow run, model version, Evidently reports and
Data Docs.

Airflow 3 computes a task's extra links when the task ends, on the worker (`get_link` runs in the task's process
right after it returned), and stores each URL as an XCom under the link's `xcom_key`; the API server and the UI only
read that XCom back. Each link here reads the task's own return value (the values the run note is made from) and
builds its URL with the run notes' builders (`tabular_mlops.monitoring.run_notes.Links`), so the note and the
buttons agree. A link without a value (a failed task, no MLflow server) is stored empty and shown as no link.
DAG files attach them with `add_links(task_output, *monitoring_links(ROOT))`.

No AirflowPlugin registers them: a plugin's `operator_extra_links` binds links to an operator class, which for
TaskFlow tasks is every @task of every DAG; Airflow 3 serialises a task's own links by name and XCom key, and the
API server reads them back without importing these classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
from airflow.sdk import BaseOperatorLink


def _returned(ti_key: Any) -> Mapping[str, Any]:
    """The task's return value (on the worker `ti_key` is the running task instance); {} when it has none."""
    value = ti_key.xcom_pull(task_ids=ti_key.task_id)
    return value if isinstance(value, Mapping) else {}


def _links() -> Any:
    from tabular_mlops.monitoring.run_notes import Links

    return Links.from_env()


def _params(root: str) -> Any:
    from tabular_mlops_airflow.settings import load_project_params

    return load_project_params(root)


@attrs.define()
class MlflowRunLink(BaseOperatorLink):
    """The MLflow run whose id the task returned under `field` (monitoring_run_id, run_id)."""

    field: str
    name = "MLflow run"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from tabular_mlops.monitoring.run_notes import experiment_of

        run_id = _returned(ti_key).get(self.field)
        return (_links().mlflow_run(experiment_of(run_id), str(run_id)) if run_id else None) or ""


@attrs.define()
class ModelVersionLink(BaseOperatorLink):
    """The registered model version the task returned under `field` (champion_version, version)."""

    root: str
    field: str
    name = "Model version"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        version = _returned(ti_key).get(self.field)
        if not version:
            return ""
        return _links().model_version(_params(self.root).registry.model_name, str(version)) or ""


@attrs.define()
class EvidentlyReportLink(BaseOperatorLink):
    """The night's Evidently report of one kind (drift, performance) from the task's `evidently` refs."""

    kind: str

    @property
    def name(self) -> str:
        return f"Evidently {self.kind} report"

    @property
    def xcom_key(self) -> str:
        return f"_link_EvidentlyReportLink_{self.kind}"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        ref = (_returned(ti_key).get("evidently") or {}).get(self.kind)
        return (_links().evidently_report(*ref.split("/", 1)) if ref else None) or ""


@attrs.define()
class EvidentlyDashboardLink(BaseOperatorLink):
    """The Evidently project (dashboard) that holds the night's reports."""

    name = "Evidently dashboard"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        refs = list((_returned(ti_key).get("evidently") or {}).values())
        return (_links().evidently_dashboard(refs[0].split("/", 1)[0]) if refs else None) or ""


@attrs.define()
class DataDocsLink(BaseOperatorLink):
    """Great Expectations' Data Docs site the validation updated (as GX reported it)."""

    name = "Data Docs"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        return str(_returned(ti_key).get("data_docs") or "")


@attrs.define()
class DataDocsIndexLink(BaseOperatorLink):
    """The offline index of every validated batch by night: there whether the batch passed or failed."""

    root: str
    name = "Data Docs index (offline)"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from tabular_mlops.data.docs_index import INDEX_FILE, offline_dir

        expectations = Path(self.root) / _params(self.root).paths.expectations_dir
        return (offline_dir(expectations) / INDEX_FILE).resolve().as_uri()


EVIDENTLY_KINDS = ("drift", "performance")


def monitoring_links(root: str) -> tuple[BaseOperatorLink, ...]:
    """monitor_nightly's deciding task: it returns a NightResult."""
    return (
        MlflowRunLink("monitoring_run_id"),
        ModelVersionLink(root, "champion_version"),
        *(EvidentlyReportLink(kind) for kind in EVIDENTLY_KINDS),
        EvidentlyDashboardLink(),
    )


def gate_links(root: str) -> tuple[BaseOperatorLink, ...]:
    """train_model's gate: it returns the gate result with the version and the training run id."""
    return (MlflowRunLink("run_id"), ModelVersionLink(root, "version"))


def validation_links(root: str) -> tuple[BaseOperatorLink, ...]:
    """The ingest DAG's validation: it returns the Data Docs site; the offline index is always linked."""
    return (DataDocsLink(), DataDocsIndexLink(root))


def add_links(output: Any, *links: BaseOperatorLink) -> Any:
    """Give the task behind a TaskFlow call's output these extra links; returns the output for chaining."""
    operator = output.operator
    operator.operator_extra_links = (*operator.operator_extra_links, *links)
    return output
