"""Names the orchestrator and the code agree on: DAG ids, the DVC pool, Airflow connection ids (defined once).

The DAG files take them through `tabular_mlops_airflow.settings`; the local stack and the fire drill import them
from here. A connection id can be overridden per deployment by the plugin settings (MLOPS_*_CONN_ID).
"""

from __future__ import annotations

INGEST_DAG_ID = "ingest_applications"
TRAIN_DAG_ID = "train_model"
MONITOR_DAG_ID = "monitor_nightly"
SIMULATE_DAG_ID = "simulate_source"
DAG_IDS = (INGEST_DAG_ID, TRAIN_DAG_ID, MONITOR_DAG_ID, SIMULATE_DAG_ID)

# Serialises everything that writes the DVC workspace or the model registry (one slot).
DVC_POOL = "dvc_repo"
DVC_POOL_SLOTS = 1
DVC_POOL_DESCRIPTION = "Serialises writes to the DVC workspace and the model registry"

# Where train_model finds the scoring service to ask for POST /admin/reload after a promotion (the stack sets it;
# default: serving.host and $MLOPS_SERVING_PORT or serving.port). The token: serving.settings.ENV_ADMIN_TOKEN(_FILE).
SERVING_URL_ENV = "MLOPS_SERVING_URL"

# The source table, and the prediction log + decision record.
SOURCE_CONN_ID = "source_db"
MONITORING_CONN_ID = "monitoring_db"


def conn_env_var(conn_id: str) -> str:
    """The environment variable that defines an Airflow connection (`AIRFLOW_CONN_<ID>`)."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def retrain_run_id(night: str) -> str:
    """The run id of the train_model run that monitoring triggers for a night (YYYY-MM-DD)."""
    return f"retrain__{night}"


# The XCom key a task pushes its run's note under; the plugin's listener writes it on the DAG run when it ends.
RUN_NOTE_XCOM_KEY = "run_note"
