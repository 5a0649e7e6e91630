"""Shared fixtures. Airflow gets a private AIRFLOW_HOME before anything imports it (tests never touch ~/airflow
or the local stack), and each project fixture is a throw-away copy of the repo with its own git, DVC remote,
source database and MLflow store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="tabular-mlops-airflow-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
        "MLOPS_RETRY_DELAY_SECONDS": "1",
        "GIT_AUTHOR_NAME": "tests",
        "GIT_AUTHOR_EMAIL": "tests@example.invalid",
        "GIT_COMMITTER_NAME": "tests",
        "GIT_COMMITTER_EMAIL": "tests@example.invalid",
    }
)
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.pop("MLOPS_PROJECT_DIR", None)

PROJECT_FILES = ["params.yaml", "dvc.yaml", "requirements.txt", ".dvc/config", ".dvc/.gitignore"]


def make_project(dest: Path) -> Path:
    """A copy of the repo's pipeline definition (params, dvc.yaml, package code, GX suite) under git."""
    dest.mkdir(parents=True, exist_ok=True)
    for rel in PROJECT_FILES:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dest / rel)
    shutil.copytree(
        REPO / "include", dest / "include", ignore=shutil.ignore_patterns("__pycache__", "uncommitted")
    )
    (dest / ".gitignore").write_text("var/\nquarantine/\n")
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
    subprocess.run(["git", "commit", "-qm", "project under test"], cwd=dest, check=True)
    return dest


def simulate(
    project: Path,
    db: Path,
    start: str,
    days: int,
    rows: int,
    scenario: str | None = None,
    scenario_start: str | None = None,
) -> None:
    cmd = [
        sys.executable,
        "-m",
        "tabular_mlops",
        "--params",
        str(project / "params.yaml"),
        "simulate",
        "--db-url",
        f"sqlite:///{db}",
        "--start",
        start,
        "--days",
        str(days),
        "--rows",
        str(rows),
    ]
    if scenario:
        cmd += ["--scenario", scenario]
    if scenario_start:
        cmd += ["--scenario-start", scenario_start]
    subprocess.run(cmd, check=True, capture_output=True)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


@pytest.fixture(scope="session")
def repo_params():
    from tabular_mlops.config import load_params

    return load_params(REPO / "params.yaml")


def ledger_engine(project: Path):
    """The promotion lock and ledger of a test project (SQLite, as the embedded default)."""
    import sqlalchemy as sa

    return sa.create_engine(f"sqlite:///{project / 'monitoring.db'}")
