"""docker-compose.yaml kept consistent without a container engine: every variable and Airflow connection the code
reads is set where it is needed, every service it names exists, ports and volumes line up, no secret has a
default, and the image installs exactly requirements.txt."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from tabular_mlops.core import contracts
from tabular_mlops.data import versioning
from tabular_mlops.serving import settings as serving_settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
SERVICES: dict[str, dict] = COMPOSE["services"]
AIRFLOW = [name for name in SERVICES if name.startswith("airflow-")]
# Airflow components that run DAG code (parse it or execute tasks) and so need what the package reads.
RUNS_DAG_CODE = ["airflow-dag-processor", "airflow-worker", "airflow-scheduler", "airflow-triggerer"]
SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN", "FERNET", "ACCESS_KEY")
# compose interpolation (`$${X}` is escaped: the container's shell expands it)
INTERPOLATION = re.compile(r"(?<!\$)\$\{(\w+)(:?[-?])?([^}]*)\}")
# the file without its comment lines
COMPOSE_TEXT = "\n".join(
    line
    for line in (REPO / "docker-compose.yaml").read_text().splitlines()
    if not line.lstrip().startswith("#")
)

# Every environment variable the package, the plugin and the DAGs read, and why each is or is not set by compose.
# A new os.environ read makes test_every_env_var_read_by_the_code_is_accounted_for fail until it is listed here.
SET_FOR = {
    "MLFLOW_TRACKING_URI": [*RUNS_DAG_CODE, "scoring"],
    "MLOPS_PROJECT_DIR": [*RUNS_DAG_CODE, "scoring"],
    "MLOPS_RETRY_DELAY_SECONDS": RUNS_DAG_CODE,
    versioning.ENV_DVC_REMOTE_URL: RUNS_DAG_CODE,
    versioning.ENV_DVC_REMOTE_ENDPOINT: RUNS_DAG_CODE,
    serving_settings.ENV_MONITORING_DB: ["scoring"],
    serving_settings.ENV_ADMIN_TOKEN: ["scoring"],
    contracts.ALLOWED_HOSTS_ENV: ["scoring", "evidently"],
}
NOT_SET = {
    "COLUMNS": "read by the docs generator for a fixed help width (make docs-reference), never by a service",
    "AIRFLOW_CTX_DAG_ID": "set by Airflow / task_env for each task",
    "AIRFLOW_CTX_DAG_RUN_ID": "set by Airflow / task_env for each task",
    "MLOPS_TRIGGER_REASON": "set by task_env from the DAG run",
    "MLOPS_TRIGGER_NIGHT": "set by task_env from the DAG run",
    "MLOPS_TRIGGER_WINDOW_END": "set by task_env from the DAG run",
    "MLOPS_SOURCE_CONN_ID": "optional override of the connection id",
    "MLOPS_MONITORING_CONN_ID": "optional override of the connection id",
    "MLOPS_SERVING_PORT": "the service gets --port on its command line",
    "MLOPS_SERVING_ADMIN_TOKEN_FILE": "compose passes the token itself (MLOPS_SERVING_ADMIN_TOKEN)",
    "DVC_SITE_CACHE_DIR": "set by the package for its scratch DVC projects",
    "DVC_NO_ANALYTICS": "set by the package for its scratch DVC projects",
}
# Read by libraries, not by our code, but the scale-out path depends on them.
LIBRARY_ENV = {
    "MLFLOW_TRACKING_USERNAME": [*RUNS_DAG_CODE, "scoring"],
    "MLFLOW_TRACKING_PASSWORD": [*RUNS_DAG_CODE, "scoring"],
    "AWS_ACCESS_KEY_ID": [*RUNS_DAG_CODE, "mlflow", "s3-init"],
    "AWS_SECRET_ACCESS_KEY": [*RUNS_DAG_CODE, "mlflow", "s3-init"],
    "MLFLOW_S3_ENDPOINT_URL": ["mlflow"],
    "MLFLOW_AUTH_ADMIN_PASSWORD": ["mlflow"],
    "MLFLOW_FLASK_SERVER_SECRET_KEY": ["mlflow"],
}
SHARED_BY_AIRFLOW = [
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__CORE__AUTH_MANAGER",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE",
]


def env_of(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment") or {}
    assert isinstance(env, dict), f"{service}: environment must be a mapping"
    return {key: str(value) for key, value in env.items()}


def env_reads_in_code() -> set[str]:
    names: set[str] = set()
    pattern = re.compile(
        r"""(?:os\.environ(?:\.get)?\(|os\.environ\[|getenv\()\s*["']([A-Z][A-Z0-9_]+)["']"""
    )
    constant = re.compile(r"""^ENV_\w+ = ["']([A-Z][A-Z0-9_]+)["']""", re.M)
    literal_keys = re.compile(r"""["']((?:MLOPS|DVC|AIRFLOW_CTX)_[A-Z0-9_]+)["']\s*:""")
    for folder in ("include/tabular_mlops", "plugins", "dags"):
        for path in (REPO / folder).rglob("*.py"):
            if "/stack/" in str(path):  # the embedded stack sets its own environment (layout.stack_env)
                continue
            text = path.read_text()
            names |= (
                set(pattern.findall(text)) | set(constant.findall(text)) | set(literal_keys.findall(text))
            )
    return names


def test_every_env_var_read_by_the_code_is_accounted_for():
    read = env_reads_in_code()
    assert read, "the scan found no environment reads: the pattern is broken"
    unknown = read - set(SET_FOR) - set(NOT_SET)
    assert not unknown, (
        f"the code reads {sorted(unknown)}: set them in docker-compose.yaml (SET_FOR) or say why not"
    )


@pytest.mark.parametrize("var", sorted({**SET_FOR, **LIBRARY_ENV}))
def test_env_var_is_set_for_every_service_that_needs_it(var):
    services = {**SET_FOR, **LIBRARY_ENV}[var]
    missing = [s for s in services if not env_of(s).get(var)]
    assert not missing, f"{var} is not set for {missing}"


@pytest.mark.parametrize("conn_id", [contracts.SOURCE_CONN_ID, contracts.MONITORING_CONN_ID])
def test_connections_the_dags_read_are_postgres_databases_created_by_the_init_script(conn_id):
    init_sql = (REPO / "deploy/postgres/init.sql").read_text()
    created = set(re.findall(r"CREATE DATABASE (\w+);", init_sql))
    for service in RUNS_DAG_CODE:
        raw = env_of(service).get(contracts.conn_env_var(conn_id))
        assert raw, f"{service}: {contracts.conn_env_var(conn_id)} is not set"
        conn = json.loads(INTERPOLATION.sub("x", raw))
        assert conn["conn_type"] == "postgres" and conn["host"] == "postgres"
        assert conn["schema"] in created, f"{conn_id}: database {conn['schema']} is not created by init.sql"


def test_dag_files_read_only_the_known_connections():
    used = set()
    for path in (REPO / "dags").glob("*.py"):
        used |= set(re.findall(r"sqlalchemy_url\((\w+)\)", path.read_text()))
    assert used <= {"SOURCE_CONN_ID", "MONITORING_CONN_ID"}, used


def test_databases_named_in_urls_are_created_by_the_init_script():
    created = set(re.findall(r"CREATE DATABASE (\w+);", (REPO / "deploy/postgres/init.sql").read_text()))
    for name in SERVICES:
        for key, value in env_of(name).items():
            for db in re.findall(r"@postgres:5432/(\w+)", value):
                assert db in created, f"{name}.{key} names database {db}, which init.sql does not create"


def test_airflow_components_share_secrets_and_endpoints():
    for var in SHARED_BY_AIRFLOW:
        values = {s: env_of(s).get(var) for s in AIRFLOW}
        assert None not in values.values(), f"{var} missing on {[s for s, v in values.items() if v is None]}"
        assert len(set(values.values())) == 1, f"{var} differs between Airflow components: {values}"
    env = env_of("airflow-apiserver")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    url = env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
    assert re.fullmatch(r"http://airflow-apiserver:8080/execution/", url), url
    assert "api-server" in SERVICES["airflow-apiserver"]["command"]


def test_the_expected_services_exist_and_run_the_project_image():
    for name in ["postgres", "redis", "s3", "mlflow", "airflow-init", "airflow-apiserver", "airflow-scheduler",
                 "airflow-dag-processor", "airflow-triggerer", "airflow-worker", "scoring", "evidently"]:  # fmt: skip
        assert name in SERVICES, name
    for name in [*AIRFLOW, "mlflow", "scoring", "evidently", "s3-init"]:
        assert SERVICES[name]["build"]["context"] == ".", name
        assert SERVICES[name]["image"].startswith("tabular-mlops:"), name


def test_every_depends_on_names_an_existing_service():
    for name, service in SERVICES.items():
        for dep in service.get("depends_on") or {}:
            assert dep in SERVICES, f"{name} depends on unknown service {dep}"
            assert dep != name


def test_long_running_services_have_health_checks():
    one_shot = {"airflow-init", "s3-init", "check-secrets"}
    for name, service in SERVICES.items():
        if name not in one_shot:
            assert "healthcheck" in service, f"{name} has no healthcheck"
        for dep, cond in (service.get("depends_on") or {}).items():
            condition = cond["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in SERVICES[dep], (
                    f"{name} waits for {dep} to be healthy; it has no check"
                )
            if condition == "service_completed_successfully":
                assert dep in one_shot, f"{name} waits for {dep} to complete, but it runs forever"


def test_published_ports_are_on_loopback_unique_and_match_the_commands():
    seen: dict[int, str] = {}
    for name, service in SERVICES.items():
        for port in service.get("ports") or []:
            host, host_port, container_port = str(port).split(":")
            assert host == "127.0.0.1", f"{name} publishes {port} beyond loopback"
            assert int(host_port) not in seen, (
                f"{name} and {seen.get(int(host_port))} both publish {host_port}"
            )
            seen[int(host_port)] = name
            command = " ".join(map(str, service.get("command") or []))
            check = " ".join(map(str, service["healthcheck"]["test"]))
            assert f":{container_port}" in check, f"{name}: healthcheck does not probe port {container_port}"
            if "--port" in command:
                assert re.search(rf"--port\W+{container_port}\b", command), (
                    f"{name}: --port is not {container_port}"
                )
    assert set(seen) == {8080, 5000, 8090, 8000}


def test_volumes_are_declared_and_bind_mounts_exist():
    declared = set(COMPOSE["volumes"])
    used = set()
    for name, service in SERVICES.items():
        for volume in service.get("volumes") or []:
            source, target = str(volume).split(":")[:2]
            assert target.startswith("/"), f"{name}: {volume}"
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name} mounts {source}, which is not in the repo"
            else:
                assert source in declared, f"{name} uses volume {source}, not declared under volumes:"
                used.add(source)
    assert used == declared, f"declared but unused volumes: {declared - used}"
    # every process that touches the DVC workspace sees the same one, and the tasks work in it
    for name in [*RUNS_DAG_CODE, "airflow-init", "evidently"]:
        assert "workspace:/opt/workspace" in SERVICES[name]["volumes"], name
    for name in RUNS_DAG_CODE:
        assert env_of(name)["MLOPS_PROJECT_DIR"] == "/opt/workspace", name
    assert "/opt/workspace/var/evidently" in SERVICES["evidently"]["command"]


def _all_strings(node):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from ((f"{key}.{k}", v) for k, v in _all_strings(value))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from ((f"[{i}].{k}", v) for k, v in _all_strings(value))
    elif isinstance(node, str):
        yield "", node


def test_no_secret_has_a_default_or_a_literal_value():
    text = COMPOSE_TEXT
    for var, op, _ in INTERPOLATION.findall(text):
        if any(word in var for word in SECRET_WORDS):
            assert op == ":?", f"${{{var}}} must be required (${{{var}:?...}}), never defaulted"
    for name in SERVICES:
        for key, value in env_of(name).items():
            if any(word in key for word in SECRET_WORDS) and not key.endswith(("_FILE", "_PATH", "_URI")):
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", value), (
                    f"{name}.{key} is not taken from .env: {value!r}"
                )
    for path, value in _all_strings(COMPOSE):
        assert not re.search(r"://[^:/@\s]+:(?!\$\{)[^@\s]+@", value), (
            f"credentials baked into a URL at {path}"
        )
    assert "password1234" not in text


def test_env_example_lists_every_variable_with_empty_secrets():
    example = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            example[key] = value
    used = {var for var, _, _ in INTERPOLATION.findall(COMPOSE_TEXT)}
    used.discard("MLOPS_IMAGE_TAG")
    assert used <= set(example), f".env.example lacks {sorted(used - set(example))}"
    for key, value in example.items():
        if any(word in key for word in SECRET_WORDS):
            assert value == "", f".env.example must not carry a value for {key}"
    assert ".env" in (REPO / ".gitignore").read_text().splitlines()


def test_image_installs_exactly_the_pinned_requirements_and_the_package():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11[\w.-]*$", dockerfile, re.M), "the image must be Python 3.11, pinned"
    assert "COPY requirements.txt" in dockerfile
    assert re.search(r"pip install -r requirements\.txt\b", dockerfile)
    assert re.search(r"pip install --no-deps -e \.", dockerfile), (
        "the package must not re-resolve dependencies"
    )
    for folder in ("include/", "dags/", "plugins/"):
        assert f"COPY {folder}" in dockerfile
    pins = {
        re.split(r"[=\[]", line)[0].lower().replace("_", "-")
        for line in (REPO / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }
    for line in (REPO / "requirements.txt").read_text().splitlines():
        assert "==" in line, f"requirements.txt: {line!r} is not pinned"
    # what the compose file runs on: Celery on Redis, psycopg2 for PostgreSQL, S3 for DVC and MLflow, auth forms
    needed = {"apache-airflow-providers-celery", "redis", "psycopg2-binary", "dvc-s3", "boto3", "flask-wtf"}
    assert needed <= pins, f"requirements.txt lacks {needed - pins}"


def test_postgres_urls_name_the_installed_driver():
    """SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which is not installed: name psycopg2."""
    for name in SERVICES:
        for key, value in env_of(name).items():
            for scheme in re.findall(r"([\w+]*postgresql[\w+]*)://", value):
                assert scheme.endswith("+psycopg2"), f"{name}.{key}: {scheme}:// needs +psycopg2"


def _secret_vars(node: object) -> set[str]:
    """The .env secrets a service's definition interpolates (environment, command, anything)."""
    found: set[str] = set()
    for _, value in _all_strings(node):
        found |= {var for var, _, _ in INTERPOLATION.findall(value) if any(w in var for w in SECRET_WORDS)}
    return found


def test_every_secret_of_the_file_is_judged_by_the_check_service():
    """Issue 22 item 7: the check covered five variables; now every secret compose interpolates is checked."""
    check = SERVICES["check-secrets"]
    used = _secret_vars(COMPOSE)
    assert used >= {
        "POSTGRES_PASSWORD",
        "REDIS_PASSWORD",
        "S3_SECRET_ACCESS_KEY",
        "MLOPS_SERVING_ADMIN_TOKEN",
    }
    command = check["command"]
    assert command[:2] == ["tabular-mlops", "check-secrets"]
    assert set(command[2:]) == used, f"not checked: {sorted(used - set(command[2:]))}"
    assert all(env_of("check-secrets").get(var) for var in used)


def test_services_holding_a_secret_wait_for_the_check():
    """`mlflow` and `scoring` (and every other holder) start only after check-secrets completed successfully."""
    holders = [name for name in SERVICES if name != "check-secrets" and _secret_vars(SERVICES[name])]
    assert {"mlflow", "scoring", "postgres", "redis", "s3", "airflow-worker"} <= set(holders)
    for name in holders:
        waits = SERVICES[name].get("depends_on") or {}
        assert (waits.get("check-secrets") or {}).get("condition") == "service_completed_successfully", name
