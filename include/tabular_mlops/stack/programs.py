"""What the local stack runs under supervisord, and how each program proves it is up (all on 127.0.0.1)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tabular_mlops.stack.airflow_api import AirflowAPI
from tabular_mlops.stack.layout import AIRFLOW_USER, HOST, Layout
from tabular_mlops.stack.supervisor import Program

MLFLOW, EVIDENTLY, AIRFLOW, SERVING = "mlflow", "evidently", "airflow", "serving"
# Airflow components that must all be healthy before the stack uses the REST API.
AIRFLOW_COMPONENTS = ("metadatabase", "scheduler", "dag_processor", "triggerer")


def programs(layout: Layout, evidently_workspace: Path) -> list[Program]:
    """The long-running processes, in start order (the scoring service needs a champion: `up` starts it last)."""
    bin_dir = layout.bin_dir
    mlflow = Program(
        name=MLFLOW,
        command=(
            str(bin_dir / "mlflow"),
            "server",
            # basic-auth: every request but /health needs the generated login (var/mlflow/credentials.json); a
            # second local user can neither register a version nor move an alias
            "--app-name",
            "basic-auth",
            "--allowed-hosts",
            f"{HOST}:{layout.mlflow_port},localhost:{layout.mlflow_port}",
            # the SQLite store is switched to WAL before the first start (readers and a writer at once)
            "--backend-store-uri",
            f"sqlite:///{layout.mlflow_db}",
            "--artifacts-destination",
            str(layout.mlflow_artifacts),
            "--serve-artifacts",
            "--host",
            HOST,
            "--port",
            str(layout.mlflow_port),
            # one UI user and a few writers on a SQLite store: one worker (the default 4 cost 18 CPU s to start)
            "--workers",
            "1",
        ),  # fmt: skip
        directory=layout.mlflow_dir,
        port=layout.mlflow_port,
        # MLflow 3's job runner (seven huey consumers: 33 CPU s at start-up, on the path to the first night)
        # serves GenAI features (scorers, trace roll-ups) that a tabular pipeline does not use.
        environment={
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "MLFLOW_AUTH_CONFIG_PATH": str(layout.mlflow_auth_config),
            "MLFLOW_FLASK_SERVER_SECRET_KEY": layout.mlflow_credentials().flask_secret,
        },
    )
    evidently = Program(
        name=EVIDENTLY,
        # `evidently ui`'s app behind a Host check (stack/evidently_ui.py)
        command=(
            str(bin_dir / "python"),
            "-m",
            "tabular_mlops.stack.evidently_ui",
            "--workspace",
            str(evidently_workspace),
            "--host",
            HOST,
            "--port",
            str(layout.evidently_port),
        ),  # fmt: skip
        directory=layout.var,
        port=layout.evidently_port,
    )
    airflow = Program(
        name=AIRFLOW,
        # scheduler, DAG processor, API server and triggerer in one process group (LocalExecutor, SQLite);
        # host, port and folders come from the AIRFLOW__* variables of the environment
        command=(str(bin_dir / "airflow"), "standalone"),
        directory=layout.airflow_home,
        port=layout.airflow_port,
        # standalone's own Ctrl-C path shuts its components down in order. SIGINT to the whole group instead
        # leaves standalone waiting for its DAG processor until the SIGKILL (measured: a 60 s stop, not 5 s).
        stopsignal="INT",
        stopasgroup=False,
        stopwaitsecs=60,
        startsecs=5,
    )
    serving = Program(
        name=SERVING,
        command=(str(bin_dir / "tabular-mlops"), "serve", "--host", HOST, "--port", str(layout.serving_port)),
        directory=layout.repo,
        port=layout.serving_port,
        # loading and testing the champion takes a few seconds before the port opens
        startsecs=1,
    )
    return [mlflow, evidently, airflow, serving]


def _get(url: str) -> httpx.Response | None:
    try:
        # trust_env=False: never send requests for 127.0.0.1 through an HTTP(S)_PROXY from the environment
        return httpx.get(url, timeout=5, trust_env=False)
    except httpx.HTTPError:
        return None


def mlflow_healthy(layout: Layout) -> bool:
    resp = _get(f"{layout.mlflow_url}/health")
    return resp is not None and resp.status_code == 200 and resp.text.strip() == "OK"


def evidently_healthy(layout: Layout) -> bool:
    resp = _get(f"{layout.evidently_url}/api/projects")
    return resp is not None and resp.status_code == 200


def _json_ok(url: str) -> dict | None:
    """The JSON body of a 200 answer from `url`, or None (down, another status, not JSON)."""
    resp = _get(url)
    if resp is None or resp.status_code != 200:
        return None
    try:
        return resp.json()
    except ValueError:
        return None


def airflow_health(layout: Layout) -> dict | None:
    """/api/v2/monitor/health (no login needed): component -> {"status": ...}."""
    return _json_ok(f"{layout.airflow_url}/api/v2/monitor/health")


def airflow_healthy(layout: Layout) -> bool:
    health = airflow_health(layout) or {}
    return all((health.get(part) or {}).get("status") == "healthy" for part in AIRFLOW_COMPONENTS)


def serving_health(layout: Layout) -> dict | None:
    """/health/ready of the scoring service: {"status": ready|degraded, "reasons": [...], "model_version": ...}."""
    return _json_ok(f"{layout.serving_url}/health/ready")


def serving_healthy(layout: Layout) -> bool:
    """Answering with a model (ready, or degraded with its reasons)."""
    return serving_health(layout) is not None


def describe_health(name: str, layout: Layout) -> str:
    """One phrase for `status`."""
    if name == MLFLOW:
        return "health OK" if mlflow_healthy(layout) else "not answering"
    if name == EVIDENTLY:
        return "API OK" if evidently_healthy(layout) else "not answering"
    if name == SERVING:
        ready = serving_health(layout)
        if ready is None:
            return "not answering"
        reasons = "; ".join(ready.get("reasons") or [])
        return f"{ready.get('status')}, model v{ready.get('model_version')}" + (
            f": {reasons}" if reasons else ""
        )
    health = airflow_health(layout)
    if health is None:
        return "not answering"
    return "health: " + ", ".join(f"{k} {v.get('status')}" for k, v in health.items() if isinstance(v, dict))


def airflow_api(layout: Layout) -> AirflowAPI:
    """A REST client of the stack's Airflow, logged in as the generated admin user."""
    return AirflowAPI(layout.airflow_url, AIRFLOW_USER, layout.airflow_password())


HEALTHY = {
    MLFLOW: mlflow_healthy,
    EVIDENTLY: evidently_healthy,
    AIRFLOW: airflow_healthy,
    SERVING: serving_healthy,
}
