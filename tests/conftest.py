"""Shared fixtures. Airflow gets a private AIRFLOW_HOME before anything imports it (tests never touch ~/airflow
or the local stack), and each project fixture is a throw-away copy of the repo with its own git, DVC remote,
source database and MLflow store."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
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
# One OpenMP/BLAS thread per process, as `make run` and the image run the stack (stack/layout.py, Dockerfile),
# unless set: set before anything imports numpy or scikit-learn, and inherited by every subprocess (dvc stages,
# the CLI). On two cores shared by two pytest workers, extra threads only spin: a training stage took 51 CPU s
# with the default threads and 19 with one, with the same candidates' metrics to the last digit.
os.environ.setdefault("OMP_NUM_THREADS", "1")

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
    """`tabular-mlops simulate` on the project's params, run in this process (`cli.main`, the function the command
    calls): an interpreter importing pandas, SQLAlchemy and the package costs more than the days it writes."""
    from tabular_mlops.cli import main

    cmd = [
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
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(cmd) == 0, cmd


# The longest module fixtures (DAG timelines of many nights; --durations lists them), in this order, first.
LONGEST_FIRST = ("test_label_drills_e2e.py", "test_monitoring_e2e.py")


def pytest_collection_modifyitems(config, items):
    """The longest modules first, then the other end-to-end ones, then the rest (a stable sort: each module stays
    in one piece). `make test` runs a module per worker (pytest-xdist --dist loadfile --no-loadscope-reorder,
    which keeps this order), so the long timelines start at once instead of one running alone at the end."""

    def rank(item) -> int:
        if item.path.name in LONGEST_FIRST:
            return LONGEST_FIRST.index(item.path.name)
        return len(LONGEST_FIRST) + (item.get_closest_marker("e2e") is None)

    items.sort(key=rank)


@pytest.fixture(autouse=True)
def _mlflow_tracking_uri_reset():
    """`mlflow.set_tracking_uri` sets a process global that wins over MLFLOW_TRACKING_URI (and sets that variable
    too): after each test both go back to what they were, so the next test (another module's, on the same
    pytest-xdist worker) reads its own store. `set_tracking_uri(None)` unsets the variable as well."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    mlflow = sys.modules.get("mlflow")
    if mlflow is not None:
        mlflow.set_tracking_uri(None)
    if before is not None:
        os.environ["MLFLOW_TRACKING_URI"] = before


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


@pytest.fixture(scope="session")
def repo_params():
    from tabular_mlops.core.config import load_params

    return load_params(REPO / "params.yaml")


def ledger_engine(project: Path):
    """The promotion lock and ledger of a test project (SQLite, as the embedded default)."""
    import sqlalchemy as sa

    return sa.create_engine(f"sqlite:///{project / 'monitoring.db'}")


HISTORY_START = dt.date(2026, 1, 1)


def publish_history(
    project: Path, params, days: int = 12, rows: int = 800, db: Path | None = None, push: bool = False
) -> str:
    """Seed `days` simulated days from HISTORY_START into the project's source database, then extract,
    validate and publish them as the ingestion DAG does (with DVC when `push`); returns the source URL."""
    from tabular_mlops.data.ingest import extract_interval, publish_validated, validate_extracted
    from tabular_mlops.data.simulate import generate_day
    from tabular_mlops.store import source_db

    url = f"sqlite:///{db or project / 'src.db'}"
    engine = source_db.connect(url)
    for i in range(days):
        day = HISTORY_START + dt.timedelta(days=i)
        source_db.write_day(engine, params.schema, day, generate_day(day, rows, 3))
    night = HISTORY_START + dt.timedelta(days=params.schema.label_delay_days)
    extracted = extract_interval(params, project, url, night, night + dt.timedelta(days=days))
    publish_validated(params, project, validate_extracted(params, project, extracted), push=push)
    return url


@contextlib.contextmanager
def tracking_store(uri: str):
    """MLFLOW_TRACKING_URI set to `uri` for the block, restored afterwards."""
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        yield uri
    finally:
        if saved is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved
