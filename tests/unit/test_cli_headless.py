"""Headless runs without `make run`: `tabular-mlops airflow-env` prints what the airflow CLI needs to run any DAG
(the end-to-end proof is tests/integration/test_second_table_e2e.py, which runs `airflow dags test` with it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from tabular_mlops.cli import main

from tests.support.project import REPO


@pytest.fixture()
def checkout(tmp_path, monkeypatch):
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "dags").mkdir()
    monkeypatch.setenv("MLOPS_PROJECT_DIR", str(tmp_path))
    return tmp_path


def _env(capsys, *args) -> dict[str, str]:
    assert main(["airflow-env", *args]) == 0
    out = capsys.readouterr().out
    script = f"{out}\nenv -0"
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, check=True, env={"PATH": os.environ["PATH"]}
    )
    return dict(item.split("=", 1) for item in done.stdout.decode().split("\0") if "=" in item)


def test_airflow_env_points_the_airflow_cli_at_the_project(checkout, capsys):
    env = _env(capsys)
    assert env["AIRFLOW_HOME"] == str(checkout / "var" / "airflow")
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(checkout / "dags")
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == str(checkout / "plugins")
    assert (
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        == f"sqlite:///{checkout / 'var' / 'airflow' / 'airflow.db'}"
    )
    assert json.loads(env["AIRFLOW_CONN_SOURCE_DB"]) == {
        "conn_type": "sqlite",
        "host": str(checkout / "var" / "source.db"),
    }
    assert json.loads(env["AIRFLOW_CONN_MONITORING_DB"])["host"] == str(checkout / "var" / "monitoring.db")
    assert env["MLOPS_PROJECT_DIR"] == str(checkout)
    assert "MLFLOW_TRACKING_URI" not in env, "headless runs use the embedded MLflow store, not a server"


def test_airflow_env_takes_the_source_as_a_url(checkout, capsys, tmp_path):
    env = _env(capsys, "--source-url", f"sqlite:///{tmp_path / 'survey.db'}")
    assert json.loads(env["AIRFLOW_CONN_SOURCE_DB"]) == {
        "conn_type": "sqlite",
        "host": str(tmp_path / "survey.db"),
    }
    env = _env(capsys, "--source-url", "postgresql+psycopg2://etl@127.0.0.1:5433/warehouse")
    assert json.loads(env["AIRFLOW_CONN_SOURCE_DB"]) == {
        "conn_type": "postgres", "host": "127.0.0.1", "port": 5433, "login": "etl", "schema": "warehouse"
    }  # fmt: skip


def test_airflow_env_outside_a_checkout_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLOPS_PROJECT_DIR", str(tmp_path))
    assert main(["airflow-env"]) == 1
    assert "not the project checkout" in capsys.readouterr().err


def test_airflow_env_takes_every_url_and_port_from_the_stack_port_variables(checkout, capsys, monkeypatch):
    """A scheduler started by hand with this environment sends its tasks to this project's execution API and
    log servers, never to another stack's 8080/8793/8794, and train_model reloads the service on its own port."""
    ports = {
        "MLOPS_AIRFLOW_PORT": "18080",
        "MLOPS_SERVING_PORT": "18090",
        "MLOPS_AIRFLOW_WORKER_LOG_PORT": "18793",
        "MLOPS_AIRFLOW_TRIGGER_LOG_PORT": "18794",
    }
    for var, value in ports.items():
        monkeypatch.setenv(var, value)
    env = _env(capsys)
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1" and env["AIRFLOW__API__PORT"] == "18080"
    assert env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] == "18793"
    assert env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"] == "18794"
    assert env["MLOPS_SERVING_URL"] == "http://127.0.0.1:18090"


def test_airflow_env_refuses_a_port_that_is_not_a_number(checkout, capsys, monkeypatch):
    monkeypatch.setenv("MLOPS_SERVING_PORT", "eighty")
    assert main(["airflow-env"]) == 1
    assert "MLOPS_SERVING_PORT='eighty'" in capsys.readouterr().err
