"""MLflow tracking setup and lineage facts (DVC data hash, git commit, Airflow ids). Called by entry points."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import subprocess
import threading
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from tabular_mlops.core.contracts import Tag, TriggerEnv
from tabular_mlops.core.data_version import dvc_data_hash

log = logging.getLogger(__name__)

# A running training tags its runs with the time every HEARTBEAT_SECONDS; a RUNNING run whose heartbeat is older
# than STALE_AFTER_SECONDS belongs to a process that died, on whatever host (a killed Celery worker's included).
HEARTBEAT_SECONDS = 30.0
STALE_AFTER_SECONDS = 15 * 60.0
if TYPE_CHECKING:
    from tabular_mlops.core.config import Params


def tracking_uri(mlflow_dir: Path) -> str:
    """$MLFLOW_TRACKING_URI (the server of `make run`), else an embedded SQLite store in `mlflow_dir`
    (`<project>/<paths.mlflow_dir>`)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    mlflow_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{mlflow_dir / 'mlflow.db'}"


def ensure_embedded_store(uri: str, mlflow_dir: Path) -> None:
    """Create or migrate an embedded SQLite store once, under a file lock beside the database. MLflow's tracking
    store creates and migrates its tables on first use without a lock, so processes that start together on a
    fresh store run the migrations concurrently and can leave it broken for good ("duplicate column name",
    "table _alembic_tmp_... already exists"). A marker beside the database records the MLflow version that
    migrated it, so later uses skip the lock (a new MLflow version migrates once more)."""
    import mlflow
    import sqlalchemy as sa
    from filelock import FileLock

    url = sa.make_url(uri)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    db = Path(url.database)
    ready = db.with_name(db.name + ".ready")
    if ready.exists() and ready.read_text() == mlflow.__version__:
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(db.with_name(db.name + ".lock")), timeout=600):
        if ready.exists() and ready.read_text() == mlflow.__version__:
            return
        from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore

        TrackingStore(uri, (mlflow_dir / "artifacts").resolve().as_uri())
        RegistryStore(uri)
        ready.write_text(mlflow.__version__)


def configure_tracking(params: Params, root: Path) -> str:
    """Point MLflow at the project's store (`paths.mlflow_dir` under `root`, or $MLFLOW_TRACKING_URI) and its
    experiment (`registry.experiment_name`); returns the experiment id. What every entry point calls first."""
    return configure_mlflow(root / params.paths.mlflow_dir, params.registry.experiment_name)


def configure_mlflow(mlflow_dir: Path, experiment: str) -> str:
    """Point MLflow at the store (an embedded one initialised safely first) and make sure the experiment
    exists; returns the experiment id."""
    import mlflow

    uri = tracking_uri(mlflow_dir)
    ensure_embedded_store(uri, mlflow_dir)
    mlflow.set_tracking_uri(uri)
    return ensure_experiment(mlflow_dir, experiment)


def ensure_experiment(mlflow_dir: Path, experiment: str) -> str:
    """The id of `experiment`, created if missing (artifacts beside an embedded store, in `mlflow_dir`)."""
    import mlflow

    exp = mlflow.get_experiment_by_name(experiment)
    if exp is not None:
        return exp.experiment_id
    location = None  # a tracking server chooses (it serves the artifacts)
    if not mlflow.get_tracking_uri().startswith(("http://", "https://")):
        # A direct database store has no artifact server: keep artifacts beside it, not in the cwd.
        location = (mlflow_dir / "artifacts").resolve().as_uri()
    return mlflow.create_experiment(experiment, artifact_location=location)


def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True, timeout=10
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def git_dirty(root: Path) -> str:
    """ "true" when tracked files differ from the commit, "false" when clean, "unknown" without git."""
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, check=True, timeout=10,
        )  # fmt: skip
        return "true" if out.stdout.strip() else "false"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(process: str) -> bool:
    """Whether a `host:pid` process tag names a live process (a process on another host counts as alive)."""
    host, _, pid = process.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Heartbeat:
    """While the block runs, a daemon thread sets the `heartbeat` tag (UTC, ISO) of the runs added to it every
    `every` seconds, so any later training, on any host, can tell a live run from one whose process died."""

    def __init__(self, every: float = HEARTBEAT_SECONDS) -> None:
        self.every = every
        self._runs: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mlflow-heartbeat", daemon=True)

    def add(self, run_id: str) -> None:
        """Beat for `run_id` from now on (its first beat at once)."""
        self._runs.add(run_id)
        self._beat({run_id})

    def discard(self, run_id: str) -> None:
        self._runs.discard(run_id)

    def _beat(self, runs: set[str]) -> None:
        from mlflow import MlflowClient

        stamp = _utcnow().isoformat(timespec="seconds")
        for run_id in runs:
            try:
                MlflowClient().set_tag(run_id, Tag.HEARTBEAT, stamp)
            except Exception as exc:  # noqa: BLE001 - a missed beat only makes the run look older; training goes on
                log.warning("heartbeat of run %s not recorded: %s", run_id, exc)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self._beat(set(self._runs))

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def orphan_reason(
    tags: dict[str, str], now: dt.datetime, stale_after: float = STALE_AFTER_SECONDS
) -> str | None:
    """Why a RUNNING run is an orphan (its process is gone), or None while it may be alive. A heartbeat older than
    `stale_after` says so on any host; the process check only on the host that ran it."""
    beat = tags.get(Tag.HEARTBEAT)
    if beat:
        try:
            age = (now - dt.datetime.fromisoformat(beat)).total_seconds()
        except (TypeError, ValueError):
            age = None
        if age is not None and age > stale_after:
            return (
                f"its heartbeat stopped at {beat} ({age / 60:.0f} min ago, limit {stale_after / 60:.0f} min)"
            )
    process = tags.get(Tag.PROCESS)
    if process and not _alive(process):
        return "its process had died"
    return None


def fail_orphaned_runs(experiment_id: str, stale_after: float = STALE_AFTER_SECONDS) -> list[str]:
    """Mark FAILED the RUNNING runs of `experiment_id` whose training process died (killed, OOM, a lost worker on
    any host): MLflow would show them as running for ever. Returns their ids."""
    from mlflow import MlflowClient
    from mlflow.entities import RunStatus

    client = MlflowClient()
    running = client.search_runs([experiment_id], "attributes.status = 'RUNNING'", max_results=1000)
    now, orphans = _utcnow(), []
    for run in running:
        why = orphan_reason(run.data.tags, now, stale_after)
        if why is None:
            continue
        client.set_tag(run.info.run_id, "ended_by", f"training {this_process()}: {why}")
        client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FAILED))
        orphans.append(run.info.run_id)
    return orphans


def lineage_tags(root: Path) -> dict[str, str]:
    return {
        Tag.DVC_DATA_HASH: dvc_data_hash(root),
        Tag.GIT_COMMIT: git_commit(root),
        Tag.GIT_DIRTY: git_dirty(root),
        Tag.PROCESS: this_process(),
        Tag.AIRFLOW_DAG_ID: os.environ.get("AIRFLOW_CTX_DAG_ID", "none (run outside Airflow)"),
        Tag.AIRFLOW_RUN_ID: os.environ.get("AIRFLOW_CTX_DAG_RUN_ID", "none (run outside Airflow)"),
        Tag.RETRAIN_REASON: os.environ.get(TriggerEnv.REASON, "scheduled"),
        Tag.TRIGGER_NIGHT: os.environ.get(TriggerEnv.NIGHT) or "none",
        Tag.TRIGGER_WINDOW_END: os.environ.get(TriggerEnv.WINDOW_END) or "none",
    }
