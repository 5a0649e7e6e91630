"""`status`: supervisorctl's view of each program, its health, the DAG runs and the champion."""

from __future__ import annotations

from tabular_mlops.core.contracts import INGEST_DAG_ID, MONITOR_DAG_ID, SIMULATE_DAG_ID, TRAIN_DAG_ID
from tabular_mlops.stack import services
from tabular_mlops.stack.airflow_api import AirflowAPI
from tabular_mlops.stack.console import say
from tabular_mlops.stack.layout import AIRFLOW_USER, Layout
from tabular_mlops.stack.overview import champion, print_champion
from tabular_mlops.stack.programs import (
    AIRFLOW,
    EVIDENTLY,
    HEALTHY,
    MLFLOW,
    SERVING,
    airflow_api,
    describe_health,
)
from tabular_mlops.stack.stack_error import StackError


def print_dag_runs(api: AirflowAPI) -> None:
    """Per DAG: paused or active, run counts by state, the latest run."""
    for dag_id in (SIMULATE_DAG_ID, INGEST_DAG_ID, TRAIN_DAG_ID, MONITOR_DAG_ID):
        dag = api.dag(dag_id)
        if dag is None:
            continue
        runs = api.dag_runs(dag_id)
        counts: dict[str, int] = {}
        for r in runs:
            counts[r["state"]] = counts.get(r["state"], 0) + 1
        latest = max(runs, key=lambda r: r.get("run_after") or "", default=None)
        last = f"; latest {latest['dag_run_id']} {latest['state']}" if latest else ""
        say(
            f"  {dag_id:20} {'paused' if dag.get('is_paused') else 'active'}; runs: "
            + (", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "none")
            + last
        )


def show(layout: Layout) -> int:
    """supervisorctl status, each program's health, DAG runs and the champion."""
    sup = services.supervisor(layout)
    statuses = sup.statuses()
    urls = {
        MLFLOW: layout.mlflow_url,
        EVIDENTLY: layout.evidently_url,
        AIRFLOW: layout.airflow_url,
        SERVING: layout.serving_url,
    }
    ports = {
        MLFLOW: layout.mlflow_port,
        EVIDENTLY: layout.evidently_port,
        AIRFLOW: layout.airflow_port,
        SERVING: layout.serving_port,
    }
    if not statuses:
        say("The stack is not running: `make run` starts it.")
        for name, port in ports.items():
            if services.port_open(port):
                say(f"  (port {port}, {name}'s, is used by another process: {services.port_owner(port)})")
        return 0
    say(f"supervisord: {sup.files.config}")
    for name in (MLFLOW, EVIDENTLY, AIRFLOW, SERVING):
        s = statuses.get(name)
        state = f"{s.state:8} {s.detail}" if s else "unknown"
        health = describe_health(name, layout) if s and s.state == "RUNNING" else "-"
        say(f"{name:9} {state}; {urls[name]} ({health}), log {sup.files.log(name)}")
    password = layout.airflow_password()
    if password and services.is_running(sup, AIRFLOW) and HEALTHY[AIRFLOW](layout):
        api = airflow_api(layout)
        try:
            print_dag_runs(api)
        except StackError as exc:
            say(f"  (Airflow API: {exc})")
        finally:
            api.close()
        say(f"  UI login: {AIRFLOW_USER} / {password}  ({layout.passwords_file})")
    say("")
    print_champion(champion(layout))
    return 0
