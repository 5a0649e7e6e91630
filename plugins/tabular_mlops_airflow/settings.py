"""Settings shared by the DAG files: project root, pools, assets, default task arguments."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tabular_mlops.core import contracts
from tabular_mlops.core.contracts import RetrainConf, TriggerEnv

__all__ = ["RetrainConf", "TriggerEnv"]  # the DAG files take the contracts they use from here

if TYPE_CHECKING:
    from tabular_mlops.core.config import DagsConfig, Params

log = logging.getLogger(__name__)

# Serialises everything that writes the DVC workspace or the model registry (one slot).
DVC_POOL = contracts.DVC_POOL
# DAG files keep their own dag_id literal (file name = dag_id); cross-DAG references use these.
TRAIN_DAG_ID = contracts.TRAIN_DAG_ID
# The run id of the retraining monitor_nightly triggers for a night, as an Airflow template.
RETRAIN_RUN_ID_TEMPLATE = contracts.retrain_run_id("{{ ds }}")
SOURCE_CONN_ID = os.environ.get("MLOPS_SOURCE_CONN_ID", contracts.SOURCE_CONN_ID)
# The prediction log and the decision record (SQLite file by default; PostgreSQL works unchanged).
MONITORING_CONN_ID = os.environ.get("MLOPS_MONITORING_CONN_ID", contracts.MONITORING_CONN_ID)


def project_root(dag_file: str) -> str:
    """$MLOPS_PROJECT_DIR, else the repository that holds the dags/ folder."""
    return os.environ.get("MLOPS_PROJECT_DIR") or str(Path(dag_file).resolve().parents[1])


PARAMS_FILE = "params.yaml"


@functools.lru_cache(maxsize=4)
def _params_as_of(path: str, mtime_ns: int, size: int, override: tuple[str, int, int] | None) -> Params:
    from tabular_mlops.core.config import load_params

    return load_params(Path(path))


def _override_stat() -> tuple[str, int, int] | None:
    """The $MLOPS_PARAMS_OVERRIDE file's path, mtime and size (part of the parse's cache key), or None."""
    from tabular_mlops.core.config.loader import override_path

    path = override_path()
    if path is None:
        return None
    try:
        stat = path.stat()
    except OSError:  # the loader names the missing file
        return (str(path), -1, -1)
    return (str(path.resolve()), stat.st_mtime_ns, stat.st_size)


def load_project_params(root: str) -> Params:
    """params.yaml of the project, validated, read once per version of the file: every DAG file, task and extra
    link of a process shares one parse, keyed by the file's path, mtime and size (and the $MLOPS_PARAMS_OVERRIDE
    file's), so an edited file is read again. (A parse validates every section, 30 ms; a task used to parse it up
    to three times.) `Params` is frozen, so the shared value cannot be changed by a caller. Raises ConfigError
    naming the file and key."""
    path = Path(root) / PARAMS_FILE
    try:
        stat = path.stat()
    except OSError:  # the loader names the missing file
        from tabular_mlops.core.config import load_params

        return load_params(path)
    return _params_as_of(str(path.resolve()), stat.st_mtime_ns, stat.st_size, _override_stat())


def project_params(root: str) -> Params:
    """params.yaml of the project, validated (`load_project_params`). A config error fails the task at once:
    retrying cannot fix it."""
    from airflow.sdk.exceptions import AirflowFailException
    from tabular_mlops.core.config import ConfigError

    try:
        return load_project_params(root)
    except ConfigError as exc:
        raise AirflowFailException(str(exc)) from exc


def dag_schedule(root: str, dag_id: str) -> str | None:
    """The DAG's schedule from params.yaml `dags.schedules`; read when Airflow parses the DAG file, so a bad
    params.yaml is an import error that names the file and key (the DAG is not loaded half-configured)."""
    return project_params(root).dags.schedule(dag_id)


@contextlib.contextmanager
def fail_fast() -> Iterator[None]:
    """Bad input reported by the package (`NotRetryableError`: a wrong value, column or argument) fails the task
    at once, with the package's message: a retry would read the same input and fail the same way."""
    from airflow.sdk.exceptions import AirflowFailException
    from tabular_mlops.core.input_errors import NotRetryableError

    try:
        yield
    except NotRetryableError as exc:
        raise AirflowFailException(str(exc)) from exc


def no_logical_date(hint: str) -> Exception:
    """The non-retryable failure of a run without a logical date (a manual trigger without one): `hint` says how
    to trigger it; a retry would have no date either."""
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(f"this run has no logical date: {hint}")


def check_night(dags: DagsConfig, night: dt.date) -> None:
    """Refuse a night before params.yaml `dags.start_date`, naming both (never a silent, empty run)."""
    from airflow.sdk.exceptions import AirflowFailException

    first = dt.date.fromisoformat(dags.start_date)
    if night < first:
        raise AirflowFailException(
            f"night {night.isoformat()} is before params.yaml dags.start_date {first.isoformat()}: "
            "set dags.start_date to the first night with data to process it"
        )


def retraining_in_flight(ti: Any, night: dt.date, stale_after_days: int) -> bool:
    """A train_model run is running, or one is queued that monitoring triggered for one of the last
    `stale_after_days` nights. Any other queued run is ignored, with a warning: a retraining still queued nights
    later never started (no scheduler, e.g. headless `airflow dags test`) and would block single-flight for ever.
    The Task SDK only counts runs (no ages), so the age is read from the retraining's run id (its night)."""
    if ti.get_dr_count(TRAIN_DAG_ID, states=["running"]) > 0:
        return True
    queued = ti.get_dr_count(TRAIN_DAG_ID, states=["queued"])
    if queued == 0:
        return False
    recent = [
        contracts.retrain_run_id((night - dt.timedelta(days=k)).isoformat()) for k in range(stale_after_days)
    ]
    fresh = ti.get_dr_count(TRAIN_DAG_ID, run_ids=recent, states=["queued"])
    if queued > fresh:
        log.warning(
            "%d queued %s run(s) did not start within dags.retrain_stale_after_days=%d night(s) of %s "
            "(no scheduler running?): not counted as a retraining in flight",
            queued - fresh,
            TRAIN_DAG_ID,
            stale_after_days,
            night.isoformat(),
        )
    return fresh > 0


def default_args(retries: int = 2) -> dict:
    from tabular_mlops_airflow.notifiers import MlopsAlertNotifier

    return {
        "on_failure_callback": MlopsAlertNotifier(),
        "owner": "mlops",
        "retries": retries,
        "retry_delay": dt.timedelta(seconds=int(os.environ.get("MLOPS_RETRY_DELAY_SECONDS", "30"))),
        "execution_timeout": dt.timedelta(minutes=30),
    }


def task_env(root: str, context: dict) -> dict[str, str]:
    """Environment for package subprocesses (dvc repro): project root, MLflow endpoint, Airflow lineage."""
    dag_run = context["dag_run"]
    conf = dag_run.conf or {}
    env = dict(os.environ)
    env.update(
        {
            "MLOPS_PROJECT_DIR": root,
            "AIRFLOW_CTX_DAG_ID": dag_run.dag_id,
            "AIRFLOW_CTX_DAG_RUN_ID": dag_run.run_id,
            # an empty reason (the trigger form's default) is how the run came: scheduled, manual, backfill
            TriggerEnv.REASON: str(conf.get(RetrainConf.REASON) or dag_run.run_type),
            TriggerEnv.NIGHT: str(conf.get(RetrainConf.NIGHT, "")),
            TriggerEnv.WINDOW_END: str(conf.get(RetrainConf.WINDOW_END, "")),
        }
    )
    return env


# Third-party loggers that speak at INFO about every step; their warnings and errors still show.
NOISY_LOGGERS = ("great_expectations", "evidently", "mlflow", "alembic", "urllib3", "matplotlib")


def quiet_third_party_logs() -> None:
    """Called by tasks (entry points configure logging): third-party INFO chatter off, WARNING and up kept."""
    import logging

    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
