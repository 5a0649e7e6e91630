"""Shared fixtures. Airflow gets a private AIRFLOW_HOME before anything imports it (tests never touch ~/airflow
or the local stack), and each project fixture is a throw-away copy of the repo with its own git, DVC remote,
source database and MLflow store."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support.project import REPO, make_project

# The tests' scratch files (pytest's tmp_path, the private AIRFLOW_HOME, every SQLite store, DVC cache and
# remote a test makes) on tmpfs where the machine has one, before anything asks tempfile for its folder:
# SQLite syncs every commit to disk. On this machine's disk a synced write takes 0.2 ms when it is quiet, and
# about 5 ms while other suites and stacks run: then a fresh MLflow store (its migrations) took 7.5 s wall on
# /tmp and 2.2 s on /dev/shm. On a quiet machine the two are the same (benchmarks/bench_test_scratch.py).
# Same files, same SQLite, same code: only the syncs cost nothing. MLOPS_TEST_TMPDIR chooses another folder
# ("" keeps TMPDIR's).
# A run keeps about 0.5 GB there (pytest keeps its last three runs); a container's default /dev/shm (64 MB)
# is too small and is left alone.
_SCRATCH = os.environ.get("MLOPS_TEST_TMPDIR", "/dev/shm")


def _roomy(folder: str) -> bool:
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize >= 2 * 1024**3 or "MLOPS_TEST_TMPDIR" in os.environ


if _SCRATCH and os.path.isdir(_SCRATCH) and os.access(_SCRATCH, os.W_OK) and _roomy(_SCRATCH):
    _scratch_dir = Path(_SCRATCH) / f"mlops-tests-{os.getuid()}"
    # Others may pass through (as through /tmp) but not write: a test reads a stack's repo as another user.
    _scratch_dir.mkdir(mode=0o755, exist_ok=True)
    os.environ["TMPDIR"] = str(_scratch_dir)  # every subprocess a test starts
    tempfile.tempdir = str(_scratch_dir)  # this process (and pytest's tmp_path under it)

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
# Bytecode cached as `make test` has it (the Makefile unexports PYTHONDONTWRITEBYTECODE), also when pytest is run
# directly from a shell that sets it (some sandboxes do): every process the suite starts (dvc stages, the CLI,
# pool workers) would otherwise compile each module it imports from source, every time, in a venv no run ever
# cached: a `dvc repro` training stage took 12.3 CPU s that way and 5.9 with its bytecode cached. This process
# writes what it imports from here on.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False

# The longest module fixtures (DAG timelines of many nights; --durations lists them), in this order, first. The
# monitoring e2e before the drift timeline: the label drills and the shadow e2e start from one champion trained
# once a session (tests/support/shared_champion.py), by the first of them to ask; the second worker runs the
# monitoring e2e meanwhile instead of waiting for that training.
LONGEST_FIRST = (
    "test_label_drills_stable_e2e.py",
    "test_monitoring_e2e.py",
    "test_label_drills_drift_e2e.py",
)


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
