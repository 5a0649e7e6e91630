"""The scale-out path for real: ingestion for several nights and a training, triggered through Airflow's REST API
with credentials, run by two Celery workers (Redis broker, PostgreSQL metadata and result backend), tracked in a
basic-auth MLflow on PostgreSQL with its artifacts in S3, DVC pushing to the same S3. See conftest.py."""

from __future__ import annotations

import datetime as dt
import sys
import time

import boto3
import httpx
import pytest
import yaml
from tabular_mlops.stack.airflow_api import AirflowAPI

from tests.support.project import REPO, make_project
from tests.support.scaleout_stack import (
    HOST,
    REDIS_PORT,
    Processes,
    base_env,
    clear_redis_queue,
    databases,
    free_port,
    hostname_module,
    json_conn,
    python_path,
    require_services,
    tail_all,
    wait_http,
)

pytestmark = pytest.mark.scaleout

START = dt.date(2026, 1, 1)
LAG = 30  # params.yaml schema.label_delay_days
HISTORY_DAYS, NIGHTS = 14, 3  # one windowed run for the history, then NIGHTS nightly runs
WORKERS = ("worker1", "worker2")
PY = sys.executable
RUN_TIMEOUT = 600
# MLflow's basic-auth hashes the password on every request (PBKDF2): slow on a loaded 2-core machine
HTTP_TIMEOUT = 60


def night(app_day: int) -> dt.date:
    return START + dt.timedelta(days=app_day + LAG)


def _run_once(procs: Processes, name: str, cmd: list[str], env: dict, cwd, timeout: float) -> None:
    """A one-shot command with its log beside the servers'; its exit code must be 0."""
    proc = procs.start(name, cmd, env, cwd)
    assert proc.wait(timeout=timeout) == 0, procs.tail(name)
    procs.procs.pop(name)


def _start_airflow(procs: Processes, env: dict, queue: str, project) -> None:
    """Migrate, create the DVC pool, then the components as separate processes (as the compose services)."""
    _run_once(procs, "airflow-db-migrate", [PY, "-m", "airflow", "db", "migrate"], env, project, 600)
    pool = [PY, "-m", "airflow", "pools", "set", "dvc_repo", "1", "DVC workspace + registry"]
    _run_once(procs, "airflow-pool", pool, env, project, 300)
    procs.start("api-server", [PY, "-m", "airflow", "api-server"], env, project)
    procs.start("scheduler", [PY, "-m", "airflow", "scheduler"], env, project)
    procs.start("dag-processor", [PY, "-m", "airflow", "dag-processor"], env, project)
    for name in WORKERS:
        worker_env = {
            **env,
            "SCALEOUT_WORKER_NAME": name,
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        }
        cmd = [PY, "-m", "airflow", "celery", "worker", "--queues", queue, "--concurrency", "1"]
        cmd += ["--celery-hostname", f"{name}@{queue}", "--without-mingle", "--without-gossip"]
        procs.start(name, cmd, worker_env, project)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, suffix, secrets_env):
    require_services()
    tmp = tmp_path_factory.mktemp("scaleout")
    logs = tmp / "logs"
    logs.mkdir()
    procs = Processes(logs)
    queue = f"scaleout_{suffix}"
    bucket = f"mlops-{suffix}"
    project = make_project(tmp / "project")
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["schema"]["label_delay_days"] == LAG
    # small and quick: a two-week window, one candidate
    params["preprocess"].update({"window_days": HISTORY_DAYS, "holdout_days": 5})
    params["train"]["search_space"] = [
        {"model": "hist_gradient_boosting", "learning_rate": 0.1, "max_depth": 3, "max_iter": 60}
    ]
    # the latency gate is about the model, not this test: on a loaded 2-core CI machine it must not decide
    params["gate"]["latency_p95_ms"] = 2000
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    ports = {name: free_port() for name in ("airflow", "mlflow", "s3")}
    s3_url = f"http://{HOST}:{ports['s3']}"
    aws = {"AWS_ACCESS_KEY_ID": "scaleout", "AWS_SECRET_ACCESS_KEY": secrets_env["api_secret"][:20]}
    aws["AWS_DEFAULT_REGION"] = "us-east-1"

    with databases(suffix, ["airflow", "source", "monitoring", "mlflow", "mlflow_auth"]) as db:
        try:
            # the S3 endpoint and the bucket
            env = {**base_env(), **aws}
            procs.start("s3", [PY, "-m", "moto.server", "-H", HOST, "-p", str(ports["s3"])], env, tmp)
            wait_http(f"{s3_url}/moto-api/", procs, 60)
            s3 = boto3.client("s3", endpoint_url=s3_url, **_boto(aws))
            s3.create_bucket(Bucket=bucket)

            # MLflow with basic-auth on PostgreSQL, artifacts proxied to S3
            auth_ini = tmp / "mlflow_auth.ini"
            auth_ini.write_text(f"[mlflow]\ndefault_permission = READ\ndatabase_uri = {db['mlflow_auth']}\n")
            mlflow_env = {
                **env,
                "MLFLOW_AUTH_CONFIG_PATH": str(auth_ini),
                "MLFLOW_AUTH_ADMIN_USERNAME": "admin",
                "MLFLOW_AUTH_ADMIN_PASSWORD": secrets_env["mlflow_password"],
                "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets_env["mlflow_flask_secret"],
                "MLFLOW_S3_ENDPOINT_URL": s3_url,
            }
            mlflow_url = f"http://{HOST}:{ports['mlflow']}"
            procs.start(
                "mlflow",
                [PY, "-m", "mlflow", "server", "--app-name", "basic-auth", "--host", HOST,
                 "--port", str(ports["mlflow"]), "--workers", "1", "--backend-store-uri", db["mlflow"],
                 "--serve-artifacts", "--artifacts-destination", f"s3://{bucket}/mlflow",
                 "--allowed-hosts", f"{HOST}:{ports['mlflow']},localhost:{ports['mlflow']}"],
                mlflow_env,
                tmp,
            )  # fmt: skip

            # the source table: simulated applications in PostgreSQL
            seed = [PY, "-m", "tabular_mlops", "--params", str(project / "params.yaml"), "simulate"]
            seed += ["--db-url", db["source"], "--start", START.isoformat()]
            seed += ["--days", str(HISTORY_DAYS + NIGHTS + 1), "--rows", "800"]
            _run_once(procs, "simulate", seed, {**env, "PYTHONPATH": python_path()}, project, 300)
            wait_http(f"{mlflow_url}/health", procs, 240, ok=lambda r: r.status_code == 200)

            # Airflow with CeleryExecutor as separate processes
            airflow_home = tmp / "airflow"
            airflow_home.mkdir()
            passwords = airflow_home / "passwords.json"
            passwords.write_text(f'{{"admin": "{secrets_env["airflow_password"]}"}}')
            airflow_url = f"http://{HOST}:{ports['airflow']}"
            pg_airflow = db["airflow"]
            af_env = {
                **env,
                "PYTHONPATH": python_path(hostname_module(tmp / "pylib")),
                "AIRFLOW_HOME": str(airflow_home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg_airflow,
                "AIRFLOW__CELERY__BROKER_URL": f"redis://{HOST}:{REDIS_PORT}/0",
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + pg_airflow,
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
                "AIRFLOW__CORE__FERNET_KEY": secrets_env["fernet"],
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets_env["jwt"],
                "AIRFLOW__API__SECRET_KEY": secrets_env["api_secret"],
                "AIRFLOW__API__HOST": HOST,
                "AIRFLOW__API__PORT": str(ports["airflow"]),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{airflow_url}/execution/",
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "scaleout_hostname.worker_name",
                "AIRFLOW__CORE__AUTH_MANAGER": (
                    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW_CONN_SOURCE_DB": json_conn(db["source"]),
                "AIRFLOW_CONN_MONITORING_DB": json_conn(db["monitoring"]),
                "MLFLOW_TRACKING_URI": mlflow_url,
                "MLFLOW_TRACKING_USERNAME": "admin",
                "MLFLOW_TRACKING_PASSWORD": secrets_env["mlflow_password"],
                "MLOPS_DVC_REMOTE_URL": f"s3://{bucket}/dvc",
                "MLOPS_DVC_REMOTE_ENDPOINT_URL": s3_url,
                "MLOPS_PROJECT_DIR": str(project),
                "MLOPS_RETRY_DELAY_SECONDS": "5",
            }
            # the hostname callable names each worker (SCALEOUT_WORKER_NAME); the other components keep the real name
            _start_airflow(procs, af_env, queue, project)
            wait_http(f"{airflow_url}/api/v2/version", procs, 240)
            api = AirflowAPI(airflow_url, "admin", secrets_env["airflow_password"], timeout=60)
            yield {
                "api": api,
                "airflow_url": airflow_url,
                "mlflow_url": mlflow_url,
                "mlflow_password": secrets_env["mlflow_password"],
                "s3": s3,
                "bucket": bucket,
                "queue": queue,
                "procs": procs,
                "project": project,
                "params": params,
                "db": db,
            }
            api.close()
        finally:
            procs.stop()
            clear_redis_queue(queue)


def _boto(aws: dict) -> dict:
    return {
        "aws_access_key_id": aws["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": aws["AWS_SECRET_ACCESS_KEY"],
        "region_name": aws["AWS_DEFAULT_REGION"],
    }


def wait_for_dags(stack, dag_ids, timeout=300) -> None:
    api = stack["api"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack["procs"].check_alive()
        if all(api.dag(d) is not None for d in dag_ids):
            return
        time.sleep(3)
    raise AssertionError(f"DAGs {dag_ids} not loaded: {api.import_errors()}\n{tail_all(stack['procs'])}")


def wait_runs(stack, dag_id, run_ids, timeout=RUN_TIMEOUT) -> dict[str, str]:
    api = stack["api"]
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        stack["procs"].check_alive()
        states = {r: api.dag_run(dag_id, r)["state"] for r in run_ids}
        if all(s in ("success", "failed") for s in states.values()):
            return states
        time.sleep(5)
    raise AssertionError(f"{dag_id} runs not finished in {timeout}s: {states}\n{tail_all(stack['procs'])}")


def failed_detail(stack, dag_id, run_id) -> str:
    tis = stack["api"].task_instances(dag_id, run_id)
    return (
        "\n".join(f"{t['task_id']}={t['state']} on {t.get('hostname')}" for t in tis)
        + "\n"
        + tail_all(stack["procs"])
    )


@pytest.fixture(scope="module")
def pipeline(stack):
    api = stack["api"]
    wait_for_dags(stack, ["ingest", "train_model"])
    for dag_id in ("ingest", "train_model"):
        api.set_paused(dag_id, False)
    history = api.trigger(
        "ingest",
        {
            "dag_run_id": "history",
            "logical_date": None,
            "conf": {"window_start": night(0).isoformat(), "window_end": night(HISTORY_DAYS).isoformat()},
        },
    )["dag_run_id"]
    runs = [history]
    for i in range(NIGHTS):
        n = night(HISTORY_DAYS + i)
        body = {"dag_run_id": f"night_{n}", "logical_date": f"{n.isoformat()}T00:00:00Z", "conf": {}}
        runs.append(api.trigger("ingest", body)["dag_run_id"])
    ingest = wait_runs(stack, "ingest", runs)
    for run_id, state in ingest.items():
        assert state == "success", failed_detail(stack, "ingest", run_id)
    last = night(HISTORY_DAYS + NIGHTS)
    train_body = {"dag_run_id": "train_scaleout", "logical_date": f"{last.isoformat()}T03:00:00Z"}
    train_body["conf"] = {"reason": "scale-out test"}
    train = api.trigger("train_model", train_body)["dag_run_id"]
    train_state = wait_runs(stack, "train_model", [train])[train]
    assert train_state == "success", failed_detail(stack, "train_model", train)
    tis = [
        (ti["task_id"], ti.get("hostname"), ti.get("queue"))
        for dag_id, ids in (("ingest", runs), ("train_model", [train]))
        for run_id in ids
        for ti in api.task_instances(dag_id, run_id)
    ]
    return {"ingest_runs": runs, "train_run": train, "task_instances": tis}


def test_airflow_api_refuses_anonymous_and_wrong_password(stack):
    url = stack["airflow_url"]
    assert httpx.get(f"{url}/api/v2/dags", trust_env=False, timeout=HTTP_TIMEOUT).status_code == 401
    bad = httpx.post(
        f"{url}/auth/token",
        json={"username": "admin", "password": "wrong"},
        trust_env=False,
        timeout=HTTP_TIMEOUT,
    )
    assert bad.status_code in (401, 403)
    assert stack["api"].call("GET", "/dags", params={"limit": 1}) is not None


def test_mlflow_refuses_anonymous_calls_and_foreign_hosts(stack):
    url = stack["mlflow_url"]
    search = f"{url}/api/2.0/mlflow/experiments/search"

    def ask(method, target, **kwargs) -> int:
        return httpx.request(method, target, trust_env=False, timeout=HTTP_TIMEOUT, **kwargs).status_code

    body = {"max_results": 1}
    admin = ("admin", stack["mlflow_password"])
    assert ask("POST", search, json=body) == 401
    assert ask("GET", f"{url}/api/2.0/mlflow-artifacts/artifacts") == 401
    assert ask("POST", search, json=body, auth=("admin", "wrong")) == 401
    assert ask("POST", search, json=body, auth=admin) == 200
    # /health and /version are exempt from MLflow's host check (probes): ask the REST API with a foreign Host
    assert ask("POST", search, json=body, auth=admin, headers={"Host": "evil.example"}) == 403


def test_ingestion_and_training_succeed_on_both_celery_workers(stack, pipeline):
    tis = pipeline["task_instances"]
    assert tis and all(state for state in tis)
    hosts = {host for _, host, _ in tis}
    assert hosts == set(WORKERS), f"tasks ran on {hosts}, expected both Celery workers: {tis}"
    assert {queue for _, _, queue in tis} == {stack["queue"]}


def test_champion_is_registered_in_the_postgres_mlflow_with_artifacts_in_s3(stack, pipeline, monkeypatch):
    from mlflow import MlflowClient
    from tabular_mlops.core.contracts import CHAMPION, Tag

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", stack["mlflow_password"])
    client = MlflowClient(stack["mlflow_url"], stack["mlflow_url"])
    mv = client.get_model_version_by_alias(stack["params"]["registry"]["model_name"], CHAMPION)
    assert mv.tags.get(Tag.GATE_DECISION, "").startswith("promoted"), mv.tags
    assert mv.tags.get(Tag.AIRFLOW_RUN_ID) == pipeline["train_run"]
    assert mv.tags.get(Tag.DVC_DATA_HASH, "").endswith(".dir")
    assert mv.tags.get(Tag.MODEL_SHA256)
    keys = _keys(stack, "mlflow/")
    assert any(k.endswith("MLmodel") for k in keys), keys[:20]
    assert any(mv.run_id in k or mv.source.split("/")[-1] in k for k in keys)


def test_dvc_objects_are_in_the_bucket(stack, pipeline):
    keys = _keys(stack, "dvc/")
    assert any("/md5/" in k or "/files/" in k for k in keys), keys[:20]
    dir_hash = (stack["project"] / "data.dvc").read_text().split("md5: ")[1].split()[0]
    assert any(dir_hash.replace(".dir", "") in k.replace("/", "") for k in keys), dir_hash


def _keys(stack, prefix) -> list[str]:
    pages = stack["s3"].get_paginator("list_objects_v2").paginate(Bucket=stack["bucket"], Prefix=prefix)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


def test_every_night_is_published_once_and_the_champion_promoted_once(stack, pipeline):
    """Runs spread over two workers: no lost or duplicated snapshot, one promotion in the PostgreSQL promotion_ledger."""
    import sqlalchemy as sa
    from tabular_mlops.core.contracts import SNAPSHOT_GLOB, snapshot_day
    from tabular_mlops.store import promotion_ledger

    days = sorted(snapshot_day(p.name) for p in (stack["project"] / "data").rglob(SNAPSHOT_GLOB))
    expected = [START + dt.timedelta(days=i) for i in range(HISTORY_DAYS + NIGHTS)]
    assert days == expected, days
    engine = sa.create_engine(stack["db"]["monitoring"])
    try:
        entries = promotion_ledger.history(engine, stack["params"]["registry"]["model_name"])
    finally:
        engine.dispose()
    assert len(entries) == 1, entries
