"""The project under test: a throw-away copy of the repo's pipeline under git, simulated source data, the
ingestion of a history as the DAG does it, and the stores a test points MLflow and the promotion ledger at."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
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
    extracted = extract_interval(
        params.schema, params.ingest, params.paths, project, url, night, night + dt.timedelta(days=days)
    )
    validated = validate_extracted(params.schema, params.validate, params.paths, project, extracted)
    publish_validated(params.paths, project, validated, push=push)
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


def register(params, project: Path):
    """The project's training run registered as the challenger, as train_model's `register` task does it."""
    from tabular_mlops.training.registry import model_description, register_challenger

    description = model_description(params.wording, params.schema)
    return register_challenger(params.registry, params.paths, project, description)
