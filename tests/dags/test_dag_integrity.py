"""Every DAG file loads into a DagBag, fast, with no cycles, and with tags, retries and timeouts set."""

import ast
import time
from pathlib import Path

import pytest

from tests.support.project import REPO

DAG_FILES = sorted((REPO / "dags").glob("*.py"))
EXPECTED = {"ingest", "train_model", "monitor_nightly", "simulate_source", "deploy_model"}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert EXPECTED <= set(dagbag.dag_ids)


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_dag_settings(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag.tags and "tabular-mlops" in dag.tags
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    assert dag.doc_md
    dag.topological_sort()  # raises on a cycle
    for task in dag.tasks:
        assert task.execution_timeout is not None, task.task_id
        assert task.retries is not None, task.task_id


def test_validation_never_retries_and_dvc_tasks_share_one_pool(dagbag):
    ingest = dagbag.dags["ingest"]
    assert ingest.get_task("validate").retries == 0
    assert ingest.get_task("extract").retries >= 1
    assert ingest.get_task("version").pool == "dvc_repo"
    train = dagbag.dags["train_model"]
    assert {t.pool for t in train.tasks} == {"dvc_repo"}


def test_ingestion_wires_extract_validate_version(dagbag):
    dag = dagbag.dags["ingest"]
    assert dag.get_task("extract").downstream_task_ids == {"validate"}
    assert dag.get_task("validate").downstream_task_ids == {"version"}


HEAVY = {"pandas", "sklearn", "mlflow", "great_expectations", "evidently", "dvc", "numpy", "tabular_mlops"}


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_no_heavy_imports_or_connections_at_top_level(path: Path):
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            assert not any(n.split(".")[0] in HEAVY for n in names), f"{path.name}: top-level import {names}"
    source = path.read_text()
    top_level = "\n".join(
        ast.get_source_segment(source, n) or "" for n in tree.body if not isinstance(n, ast.FunctionDef)
    )
    assert "Variable.get" not in top_level and "Connection.get" not in top_level


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_parses_quickly(path: Path):
    """Not a benchmark: a guard against a heavy import creeping in (5 s would mean GX/Evidently at top level)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"parse_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    start = time.perf_counter()
    spec.loader.exec_module(module)
    assert time.perf_counter() - start < 3.0
