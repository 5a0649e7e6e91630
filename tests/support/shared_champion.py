"""One champion for the modules that need "a project with labels 2 days late and a champion trained on the stable
days before its first night" (the two label drills and the shadow e2e): seeded, ingested and trained through real
Airflow (dag.test) once per test session, then copied into each module's own directory.

The build runs in whichever pytest-xdist worker asks first, under a file lock in the directory the workers of
one session share (each session builds its own: nothing outlives it); the others wait for it and copy it. Every
module, the builder's included, gets a copy and never the build itself, so each starts from the same files. A copy
is the trained project with its absolute paths moved: the MLflow store records where its artifacts live (the
experiments', runs', logged models' and model versions' locations, each logged model's MLmodel file), and
`_moved` rewrites those and then checks that no file of the copy still names the build.

What a copy does not carry is the build's Airflow history (it lives in the building worker's metadata DB): the
champion's ingest and train_model runs. No later run reads them: monitor_nightly counts queued and running
train_model runs only, and a retraining the module runs reads its own run."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.support.airflow_runs import Env, drop_queued_runs, project_env, run_dag
from tests.support.project import make_project, simulate

LAG = 2
ROWS = 1200
TRAINING_DAYS = LAG + 19  # the first night's matured window and the training window (14 + 5 holdout days) fit
TRAIN_NIGHT = dt.date(2026, 2, 22)  # params.yaml dags.start_date is 2026-01-31: an earlier night fails
FIRST_DAY = TRAIN_NIGHT - dt.timedelta(days=TRAINING_DAYS)
# A build holding the lock for longer has hung: the waiting module fails, naming the lock, instead of waiting on.
BUILD_TIMEOUT_SECONDS = 1800
BUILT = "built"  # written into the build's folder once it is complete (a failed build leaves none)


def session_dir(tmp_path_factory) -> Path:
    """The directory the pytest-xdist workers of this session share (the parent of their own basetemps); without
    xdist, the session's own basetemp."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        deadline = time.monotonic() + BUILD_TIMEOUT_SECONDS
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{path} held for over {BUILD_TIMEOUT_SECONDS} s: a hung build?"
                    ) from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(root: Path) -> Path:
    """The trained project: the repo's pipeline with a LAG-day label delay, FIRST_DAY..TRAIN_NIGHT seeded (ROWS a
    day), ingested and trained on TRAIN_NIGHT through Airflow."""
    project = make_project(root / "project")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["schema"]["label_delay_days"] = LAG
    params["preprocess"].update({"window_days": 14, "holdout_days": 5})
    params["monitor"].update({"window_days": 3, "min_rows": 300})
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env, db, _ = project_env(project)
    try:
        simulate(project, db, FIRST_DAY.isoformat(), TRAINING_DAYS + 1, ROWS)
        # A retraining queued by another module's drill (no scheduler runs it here) must not count as in flight.
        drop_queued_runs("train_model")
        window = {
            "window_start": (FIRST_DAY + dt.timedelta(days=LAG)).isoformat(),
            "window_end": TRAIN_NIGHT.isoformat(),
        }
        assert str(run_dag("ingest", conf=window).state) == "success"
        assert str(run_dag("train_model", logical_date=TRAIN_NIGHT).state) == "success"
    finally:
        import mlflow

        # The tasks pointed MLflow's process-global URI at the build (it wins over MLFLOW_TRACKING_URI).
        mlflow.set_tracking_uri(None)
        env.restore()
    return project


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(16) == b"SQLite format 3\x00"


def _text_columns(con: sqlite3.Connection) -> Iterator[tuple[str, str]]:
    tables = [r[0] for r in con.execute("select name from sqlite_master where type = 'table'")]
    for table in tables:
        for _, column, kind, *_ in con.execute(f'pragma table_info("{table}")'):
            if not kind or any(t in kind.upper() for t in ("CHAR", "TEXT", "CLOB")):
                yield table, column


def _moved(copy: Path, built: Path) -> None:
    """Rewrite `built`'s absolute path to `copy`'s wherever the copy holds it: every text column of its SQLite
    files and the MLmodel files of its logged models. Any other file that still names `built` fails the copy
    (a binary file cannot be rewritten in place, and a new kind of record must be taught here, not missed)."""
    built, copy = built.resolve(), copy.resolve()  # MLflow records resolved paths
    old, new = f"{built}/", f"{copy}/"
    databases = [p for p in copy.rglob("*") if p.is_file() and _is_sqlite(p)]
    for path in databases:
        with contextlib.closing(sqlite3.connect(path)) as con, con:
            for table, column in list(_text_columns(con)):
                con.execute(
                    f'update "{table}" set "{column}" = replace("{column}", ?, ?) where instr("{column}", ?) > 0',
                    (old, new, old),
                )
            for table, column in _text_columns(con):
                left = con.execute(
                    f'select count(*) from "{table}" where instr("{column}", ?) > 0', (str(built),)
                )
                assert left.fetchone()[0] == 0, f"{path}: {table}.{column} still names {built}"
    for path in copy.rglob("MLmodel"):
        path.write_text(path.read_text().replace(old, new))
    skip = set(databases)
    for path in copy.rglob("*"):
        # a link is checked for where it points (copytree keeps links), not for what it reads through them
        if path.is_symlink():
            assert str(built) not in os.readlink(path), f"{path} still points into {built}"
        elif path.is_file() and path not in skip and ".git" not in path.relative_to(copy).parts[:1]:
            assert str(built).encode() not in path.read_bytes(), f"{path} still names {built}"


def champion_project(
    tmp_path_factory, dest: Path, monitor: dict[str, Any] | None = None
) -> tuple[Path, Env, Path, Path]:
    """A copy of the session's trained project at `dest`/project (built first if no module has), its params'
    `monitor` keys set, the DAGs pointed at it. Returns (project, env to restore, source DB, monitoring DB)."""
    shared = session_dir(tmp_path_factory) / "shared-champion"
    shared.mkdir(exist_ok=True)
    build = shared / "build"
    with _locked(shared / "lock"):
        if not (build / BUILT).exists():
            shutil.rmtree(build, ignore_errors=True)  # a build that failed half-way
            _build(build)
            (build / BUILT).write_text(TRAIN_NIGHT.isoformat())
    project = dest / "project"
    shutil.copytree(build / "project", project, symlinks=True)
    _moved(project, build / "project")
    if monitor:
        params = yaml.safe_load((project / "params.yaml").read_text())
        params["monitor"].update(monitor)
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env, db, monitor_db = project_env(project)
    # A retraining queued by another module's drill (no scheduler runs it here) must not count as in flight.
    drop_queued_runs("train_model")
    return project, env, db, monitor_db


def seed(project: Path, db: Path, days: list[tuple[dt.date, int, str | None]]) -> None:
    """Seed the copy's source DB with `days` ((first day, number of days, scenario) in order) after TRAIN_NIGHT:
    the build seeded only the days its ingest reads (rows are generated per day from their own seed, so a day
    seeded now is the day it would have been then)."""
    for day, count, scenario in days:
        assert day > TRAIN_NIGHT, (day, TRAIN_NIGHT)
        simulate(project, db, day.isoformat(), count, ROWS, scenario)
