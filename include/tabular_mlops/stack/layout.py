"""Where the local stack lives (all runtime state under var/), its ports and URLs, and its environment."""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tabular_mlops.core import contracts
from tabular_mlops.stack.private_state import MlflowCredentials, mlflow_credentials, private_file
from tabular_mlops.stack.stack_error import StackError

HOST = "127.0.0.1"
# The simple auth manager (what `airflow standalone` uses) generates this user's password.
AIRFLOW_USER = "admin"

# Ports can be moved (e.g. a second stack on the same machine); each default is the tool's usual port.
PORT_VARS = {
    "airflow_port": ("MLOPS_AIRFLOW_PORT", 8080),
    "mlflow_port": ("MLOPS_MLFLOW_PORT", 5000),
    "evidently_port": ("MLOPS_EVIDENTLY_PORT", 8000),
    # the online scoring service (`tabular-mlops serve`; params.yaml serving.port is its default elsewhere)
    "serving_port": ("MLOPS_SERVING_PORT", 8090),
    # airflow standalone's worker and triggerer log servers (they listen on all interfaces, token-protected)
    "worker_log_port": ("MLOPS_AIRFLOW_WORKER_LOG_PORT", 8793),
    "trigger_log_port": ("MLOPS_AIRFLOW_TRIGGER_LOG_PORT", 8794),
}


def default_repo() -> Path:
    """The repository this package is checked out in (include/tabular_mlops/stack/ -> repo)."""
    return Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Layout:
    """Paths, ports and environment of one local stack."""

    repo: Path
    bin_dir: Path
    airflow_port: int = 8080
    mlflow_port: int = 5000
    evidently_port: int = 8000
    serving_port: int = 8090
    worker_log_port: int = 8793
    trigger_log_port: int = 8794
    # MLOPS_SOURCE_URL: the user's own table instead of the simulated var/source.db (see stack/own_table.py)
    source_url: str | None = None
    # MLOPS_PARAMS_OVERRIDE: keys laid over params.yaml in every process of the stack (core/config/loader.py)
    params_override: Path | None = None

    @classmethod
    def from_env(cls, repo: Path | None = None, environ: Mapping[str, str] = os.environ) -> Layout:
        """The repo's stack, the venv of the running interpreter, ports from MLOPS_*_PORT."""
        repo = repo or default_repo()
        if not (repo / "params.yaml").exists() or not (repo / "dags").is_dir():
            raise StackError(f"{repo} is not the project checkout (no params.yaml and dags/)")
        ports = {}
        for attr, (var, default) in PORT_VARS.items():
            raw = environ.get(var, str(default))
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                raise StackError(f"{var}={raw!r}: expected a TCP port number (default {default})")
            ports[attr] = int(raw)
        if len(set(ports.values())) != len(ports):
            raise StackError(f"the stack's ports must differ: {ports}")
        # not resolved: a venv's python is a symlink, and the venv's bin/ holds airflow, mlflow, supervisord
        source_url = environ.get(contracts.SOURCE_URL_ENV, "").strip() or None
        if source_url:
            airflow_connection(source_url)  # refuses a URL no Airflow connection can express, naming it
        override = environ.get(contracts.PARAMS_OVERRIDE_ENV, "").strip()
        if override and not Path(override).is_file():
            raise StackError(f"{contracts.PARAMS_OVERRIDE_ENV}={override!r}: no such file")
        return cls(repo=repo, bin_dir=Path(sys.executable).parent, source_url=source_url,
                   params_override=Path(override).resolve() if override else None, **ports)  # fmt: skip

    @property
    def var(self) -> Path:
        return self.repo / "var"

    @property
    def logs(self) -> Path:
        return self.var / "logs"

    @property
    def airflow_home(self) -> Path:
        return self.var / "airflow"

    @property
    def airflow_db(self) -> Path:
        return self.airflow_home / "airflow.db"

    @property
    def passwords_file(self) -> Path:
        return self.airflow_home / "simple_auth_manager_passwords.json.generated"

    @property
    def mlflow_dir(self) -> Path:
        return self.var / "mlflow"

    @property
    def mlflow_db(self) -> Path:
        return self.mlflow_dir / "mlflow.db"

    @property
    def mlflow_auth_config(self) -> Path:
        """The basic-auth app's config (0600, written by `up` from the credentials)."""
        return self.mlflow_dir / "basic_auth.ini"

    def mlflow_credentials(self) -> MlflowCredentials:
        """The local MLflow's admin login, generated (0600) on first use."""
        try:
            return mlflow_credentials(self.mlflow_dir)
        except ValueError as exc:
            raise StackError(str(exc)) from exc

    @property
    def mlflow_artifacts(self) -> Path:
        return self.mlflow_dir / "artifacts"

    @property
    def source_db(self) -> Path:
        return self.var / "source.db"

    @property
    def monitoring_db(self) -> Path:
        return self.var / "monitoring.db"

    @property
    def env_file(self) -> Path:
        return self.var / "stack.env"

    @property
    def state_file(self) -> Path:
        return self.var / "stack.state.json"

    @property
    def lock_file(self) -> Path:
        return self.var / "stack.lock"

    @property
    def airflow_url(self) -> str:
        return f"http://{HOST}:{self.airflow_port}"

    @property
    def mlflow_url(self) -> str:
        return f"http://{HOST}:{self.mlflow_port}"

    @property
    def evidently_url(self) -> str:
        return f"http://{HOST}:{self.evidently_port}"

    @property
    def serving_url(self) -> str:
        return f"http://{HOST}:{self.serving_port}"

    @property
    def serving_token_file(self) -> Path:
        """The scoring service's admin token (generated by `up`, mode 0600): POST /admin/* need it."""
        return self.var / "serving-admin-token"

    def airflow_password(self) -> str | None:
        """The generated UI/API password of AIRFLOW_USER, once `airflow standalone` has written it."""
        try:
            return json.loads(self.passwords_file.read_text()).get(AIRFLOW_USER)
        except (OSError, ValueError):
            return None

    def stack_env(self) -> dict[str, str]:
        """What every process of the stack, and a user's shell (var/stack.env, 0600), needs to find it."""
        credentials = self.mlflow_credentials()
        return {
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.repo / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.repo / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.airflow_db}",
            contracts.conn_env_var(contracts.SOURCE_CONN_ID): airflow_connection(
                self.source_url or f"sqlite:///{self.source_db}"
            ),
            # monitor_nightly's prediction log and decision record (scripts/drill.py reads the same file)
            contracts.conn_env_var(contracts.MONITORING_CONN_ID): json.dumps(
                {"conn_type": "sqlite", "host": str(self.monitoring_db)}
            ),
            "MLFLOW_TRACKING_URI": self.mlflow_url,
            # the server asks for a login (basic-auth): the tasks, the service and the CLI log in as the admin
            "MLFLOW_TRACKING_USERNAME": credentials.username,
            "MLFLOW_TRACKING_PASSWORD": credentials.password,
            # the scoring service: its prediction log (the same table monitor_nightly reads) and admin token file
            "MLOPS_MONITORING_DB_URL": f"sqlite:///{self.monitoring_db}",
            "MLOPS_SERVING_ADMIN_TOKEN_FILE": str(self.serving_token_file),
            # train_model asks the service to reload after a promotion
            contracts.SERVING_URL_ENV: self.serving_url,
            "MLOPS_PROJECT_DIR": str(self.repo),
            # Airflow 3.3 defaults: LocalExecutor, API server on 0.0.0.0:8080, workers reach the execution API
            # at http://localhost:8080. Pin all of them to 127.0.0.1 and the chosen port.
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__API__HOST": HOST,
            "AIRFLOW__API__PORT": str(self.airflow_port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.airflow_url}/execution/",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.worker_log_port),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.trigger_log_port),
            # New DAGs start paused; `up` unpauses them once the history is in place.
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        } | ({contracts.PARAMS_OVERRIDE_ENV: str(self.params_override)} if self.params_override else {})

    def headless_env(self, source_url: str | None = None) -> dict[str, str]:
        """What the airflow CLI needs to run any DAG without `make run` (`airflow dags test <dag> <date>`, or a
        scheduler the user starts for `airflow backfill create`): the same metadata DB, DAG and plugin folders,
        connections and project as the stack, MLflow in the embedded store of params.yaml paths.mlflow_dir (no
        server). The API server, execution API, log-server ports and service URL come from the same
        MLOPS_*_PORT variables as `make run`, so a scheduler started by hand never sends its tasks to another
        stack's port 8080. `source_url`: the source database as a SQLAlchemy URL (default var/source.db)."""
        env = self.stack_env()
        for key in (
            "MLFLOW_TRACKING_URI",
            "MLFLOW_TRACKING_USERNAME",
            "MLFLOW_TRACKING_PASSWORD",
            "MLOPS_SERVING_ADMIN_TOKEN_FILE",
        ):
            env.pop(key)
        if source_url:
            env[contracts.conn_env_var(contracts.SOURCE_CONN_ID)] = airflow_connection(source_url)
        return env

    def process_env(self, base: Mapping[str, str] = os.environ) -> dict[str, str]:
        """stack_env plus what the processes need at run time (set for every supervised program)."""
        env = self.stack_env()
        # `airflow standalone` starts its components as plain `airflow ...`: the venv must come first.
        env["PATH"] = os.pathsep.join([str(self.bin_dir), base.get("PATH", os.defpath)])
        env["PYTHONUNBUFFERED"] = "1"
        env["NO_COLOR"] = "1"
        # Parallel tasks share the cores: OpenMP's one-thread-per-core default made training up to 10x slower
        # under contention (benchmarks/RESULTS.md). One thread per task process unless the user sets it.
        env["OMP_NUM_THREADS"] = base.get("OMP_NUM_THREADS", "1")
        # Evidently's UI (and MLflow) send usage telemetry unless told not to; the stack talks to nothing outside.
        env["DO_NOT_TRACK"] = base.get("DO_NOT_TRACK", "1")
        # Task processes call the execution API and MLflow on 127.0.0.1: keep a configured proxy out of that.
        for key in ("NO_PROXY", "no_proxy"):
            hosts = [h for h in base.get(key, "").split(",") if h.strip()]
            env[key] = ",".join(hosts + [h for h in (HOST, "localhost") if h not in hosts])
        return env

    def command_env(self, base: Mapping[str, str] = os.environ) -> dict[str, str]:
        """The environment for a one-shot command (airflow CLI, simulate, champion): the user's plus the stack's."""
        return {**base, **self.process_env(base)}

    def write_env_file(self) -> None:
        """var/stack.env (0600: it holds the MLflow login): `source` it to point the airflow, mlflow and
        tabular-mlops CLIs at this stack."""
        lines = [
            "# Written by `python -m tabular_mlops.stack up` (make run). `source var/stack.env` to point the",
            "# airflow, mlflow and tabular-mlops CLIs at the local stack.",
            f'export PATH={shlex.quote(str(self.bin_dir))}:"$PATH"',
        ]
        lines += export_lines(self.stack_env())
        private_file(self.env_file, "\n".join(lines) + "\n")


def export_lines(env: Mapping[str, str]) -> list[str]:
    """`export KEY='value'` lines a shell can `eval` or `source`."""
    return [f"export {key}={shlex.quote(value)}" for key, value in env.items()]


def airflow_connection(url: str) -> str:
    """A SQLAlchemy URL as the JSON an AIRFLOW_CONN_* variable takes (SQLite file or PostgreSQL)."""
    import sqlalchemy as sa

    parsed = sa.engine.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise StackError(f"{url}: a SQLite source must be a file")
        return json.dumps({"conn_type": "sqlite", "host": str(Path(parsed.database).resolve())})
    if backend == "postgresql":
        fields = {"host": parsed.host, "port": parsed.port, "login": parsed.username,
                  "password": parsed.password, "schema": parsed.database}  # fmt: skip
        return json.dumps({"conn_type": "postgres", **{k: v for k, v in fields.items() if v is not None}})
    raise StackError(f"{url}: only sqlite and postgresql source URLs can be turned into a connection")
