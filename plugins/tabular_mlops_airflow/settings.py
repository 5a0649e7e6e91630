"""Settings shared by the DAG files: project root, pools, assets, default task arguments."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import TYPE_CHECKING

from tabular_mlops import orchestration

if TYPE_CHECKING:
    from tabular_mlops.config import Params

# Serialises everything that writes the DVC workspace or the model registry (one slot).
DVC_POOL = orchestration.DVC_POOL
# DAG files keep their own dag_id literal (file name = dag_id); cross-DAG references use these.
TRAIN_DAG_ID = orchestration.TRAIN_DAG_ID
SOURCE_CONN_ID = os.environ.get("MLOPS_SOURCE_CONN_ID", orchestration.SOURCE_CONN_ID)
# The prediction log and the decision record (SQLite file by default; PostgreSQL works unchanged).
MONITORING_CONN_ID = os.environ.get("MLOPS_MONITORING_CONN_ID", orchestration.MONITORING_CONN_ID)


def project_root(dag_file: str) -> str:
    """$MLOPS_PROJECT_DIR, else the repository that holds the dags/ folder."""
    return os.environ.get("MLOPS_PROJECT_DIR") or str(Path(dag_file).resolve().parents[1])


def project_params(root: str) -> Params:
    """params.yaml of the project, validated. A config error fails the task at once: retrying cannot fix it."""
    from airflow.sdk.exceptions import AirflowFailException
    from tabular_mlops.config import ConfigError, load_params

    try:
        return load_params(Path(root) / "params.yaml")
    except ConfigError as exc:
        raise AirflowFailException(str(exc)) from exc


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
            "MLOPS_TRIGGER_REASON": str(conf.get("reason", dag_run.run_type)),
            "MLOPS_TRIGGER_NIGHT": str(conf.get("night", "")),
            "MLOPS_TRIGGER_WINDOW_END": str(conf.get("window_end", "")),
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
