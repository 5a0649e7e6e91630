"""The local stack behind `make run` / `make stop` / `make status`.

    .venv/bin/python scripts/stack.py up|down|status

`up` starts an MLflow tracking server and `airflow standalone` on 127.0.0.1 (runtime state under var/),
seeds the source database with the params.yaml history, backfills the ingestion DAG over that history
through the real scheduler, triggers the first training and prints where to look. Every step is
idempotent: running `up` again never starts a second copy and skips work that is already done.
`down` stops what `up` started (by the process groups recorded in var/pids). `status` says what runs.

Standard library only, apart from tabular_mlops.config (the project's own params.yaml reader).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import json
import os
import random
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VAR = REPO / "var"
PIDS = VAR / "pids"
LOGS = VAR / "logs"
AIRFLOW_HOME = VAR / "airflow"
AIRFLOW_DB = AIRFLOW_HOME / "airflow.db"
MLFLOW_DIR = VAR / "mlflow"
MLFLOW_DB = MLFLOW_DIR / "mlflow.db"
MLFLOW_ARTIFACTS = MLFLOW_DIR / "artifacts"
SOURCE_DB = VAR / "source.db"
MONITORING_DB = VAR / "monitoring.db"
ENV_FILE = VAR / "stack.env"
STATE_FILE = VAR / "stack.state.json"
LOCK_FILE = VAR / "stack.lock"

HOST = "127.0.0.1"
MLFLOW_PORT = 5000
AIRFLOW_PORT = 8080
EVIDENTLY_PORT = 8000
EVIDENTLY_URL = f"http://{HOST}:{EVIDENTLY_PORT}"
MLFLOW_URL = f"http://{HOST}:{MLFLOW_PORT}"
AIRFLOW_URL = f"http://{HOST}:{AIRFLOW_PORT}"
AIRFLOW_HEALTH = f"{AIRFLOW_URL}/api/v2/monitor/health"
# The simple auth manager (what `airflow standalone` uses) writes generated passwords here.
PASSWORDS_FILE = AIRFLOW_HOME / "simple_auth_manager_passwords.json.generated"
AIRFLOW_USER = "admin"

INGEST_DAG = "ingest_applications"
TRAIN_DAG = "train_model"
MONITOR_DAG = "monitor_nightly"  # optional: unpaused once a champion exists, if the DAG is there
DVC_POOL = "dvc_repo"
TRAIN_REASON = "initial training after backfill"
# The ingestion DAG declares max_active_runs=1 (one night at a time): the backfill keeps that.
BACKFILL_MAX_ACTIVE_RUNS = 1

TERMINAL = {"success", "failed"}
ACTIVE = {"queued", "running"}

# Every wait has a timeout (seconds).
MLFLOW_START_TIMEOUT = 180
AIRFLOW_START_TIMEOUT = 300
DAG_PARSE_TIMEOUT = 300
SCHEDULED_RUN_TIMEOUT = 600
BACKFILL_TIMEOUT = 4 * 3600
BACKFILL_STALL_TIMEOUT = 20 * 60  # no run finished for this long: something is stuck
TRAIN_TIMEOUT = 90 * 60
STOP_TIMEOUT = 45


class StackError(RuntimeError):
    """A step failed; `log` names the file whose tail explains it."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message)
        self.log = log


# ----------------------------------------------------------------------------------------------- helpers


def venv_bin() -> Path:
    """The directory of the interpreter running this script (the Makefile uses .venv/bin/python)."""
    candidate = REPO / ".venv" / "bin"
    if (candidate / "airflow").exists():
        return candidate
    return Path(sys.executable).parent  # not resolved: a venv's python is a symlink


BIN = venv_bin()


def say(message: str = "") -> None:
    print(message, flush=True)


def step(title: str) -> float:
    say(f"\n==> {title}")
    return time.monotonic()


def done(started: float, what: str = "done") -> None:
    say(f"    {what} in {fmt_duration(time.monotonic() - started)}")


def fmt_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s"


def log_tail(path: Path | None, lines: int = 40) -> str:
    if path is None or not path.exists():
        return ""
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 200_000))
        text = fh.read().decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])


def stack_env() -> dict[str, str]:
    """The variables every process of the stack (and a user's shell, via var/stack.env) needs."""
    return {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_DB}",
        "AIRFLOW_CONN_SOURCE_DB": json.dumps({"conn_type": "sqlite", "host": str(SOURCE_DB)}),
        # monitor_nightly's prediction log and decision record (scripts/drill.py reads the same file)
        "AIRFLOW_CONN_MONITORING_DB": json.dumps({"conn_type": "sqlite", "host": str(MONITORING_DB)}),
        "MLFLOW_TRACKING_URI": MLFLOW_URL,
        "MLOPS_PROJECT_DIR": str(REPO),
        # Airflow 3.3 defaults: LocalExecutor, API server on 0.0.0.0:8080, workers reach the
        # execution API at http://localhost:8080. Pin all of them to 127.0.0.1.
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__API__HOST": HOST,
        "AIRFLOW__API__PORT": str(AIRFLOW_PORT),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{AIRFLOW_URL}/execution/",
        # New DAGs start paused; `up` unpauses them once the history is in place (see ensure_backfill).
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    }


def process_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(stack_env())
    # `airflow standalone` starts its components as plain `airflow ...`: the venv must come first.
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    env["NO_COLOR"] = "1"
    # Parallel tasks share the cores: OpenMP's one-thread-per-core default made training up to 10x slower under
    # contention (benchmarks/RESULTS.md). One thread per task process unless the user sets it.
    env.setdefault("OMP_NUM_THREADS", "1")
    # Evidently's UI sends usage telemetry unless told not to; the local stack talks to nothing outside.
    env.setdefault("DO_NOT_TRACK", "1")
    # Task processes call the execution API and MLflow on 127.0.0.1: keep a configured proxy out of that.
    for key in ("NO_PROXY", "no_proxy"):
        hosts = [h for h in env.get(key, "").split(",") if h.strip()]
        env[key] = ",".join(hosts + [h for h in (HOST, "localhost") if h not in hosts])
    return env


def write_env_file() -> None:
    lines = [
        "# Written by `scripts/stack.py up`. `source var/stack.env` to point the airflow, mlflow and",
        "# tabular_mlops CLIs at the local stack.",
        f'export PATH={shlex.quote(str(BIN))}:"$PATH"',
    ]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in stack_env().items()]
    ENV_FILE.write_text("\n".join(lines) + "\n")


def read_state() -> dict:
    try:
        return json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return {}


def write_state(**values: object) -> None:
    state = read_state()
    state.update(values)
    STATE_FILE.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")


@contextlib.contextmanager
def stack_lock():
    """One `up` at a time (a second `make run` in another terminal waits for the first)."""
    VAR.mkdir(parents=True, exist_ok=True)
    with LOCK_FILE.open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("another `scripts/stack.py up/down` is running; waiting for it to finish...")
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def run(
    cmd: list[str], what: str, timeout: float, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    """Run a short command; on failure raise with its own output (not a Python traceback)."""
    try:
        proc = subprocess.run(
            cmd,
            cwd=REPO,
            env=env or process_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(
            f"{what}: `{shlex.join(cmd)}` did not finish within {fmt_duration(timeout)}"
        ) from exc
    if check and proc.returncode != 0:
        out = error_lines(proc.stdout + "\n" + proc.stderr)
        raise StackError(f"{what} failed (exit {proc.returncode}): `{shlex.join(cmd)}`\n{out}")
    return proc


def airflow_cli(
    *args: str, what: str, timeout: float = 300, check: bool = True
) -> subprocess.CompletedProcess:
    return run([str(BIN / "airflow"), *args], what, timeout, check=check)


# ------------------------------------------------------------------------------------- processes / ports


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex((HOST, port)) == 0


def port_owner(port: int) -> str:
    """Best effort: who listens on the port (ss/lsof if installed)."""
    if shutil.which("ss"):
        out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
        if out.strip():
            return out.strip().splitlines()[0]
    if shutil.which("lsof"):
        out = subprocess.run(
            ["lsof", "-nP", f"-iTCP:{port}", "-sTCP:LISTEN"], capture_output=True, text=True
        ).stdout
        if out.strip():
            return out.strip().splitlines()[-1]
    return "unknown process"


SERVICES = {
    # name: (marker words in the main process' command line, log file, port)
    "mlflow": (("mlflow", "server"), LOGS / "mlflow.log", MLFLOW_PORT),
    "airflow": (("airflow", "standalone"), LOGS / "airflow.log", AIRFLOW_PORT),
    "evidently": (("evidently", "ui"), LOGS / "evidently.log", EVIDENTLY_PORT),
}


def pid_file(name: str) -> Path:
    return PIDS / f"{name}.pid"


def recorded_pid(name: str) -> int | None:
    try:
        return int(pid_file(name).read_text().strip())
    except (OSError, ValueError):
        return None


def is_ours(pid: int, name: str) -> bool:
    """The pid is alive, not a zombie, and still the process we started (pids get recycled)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    proc = Path(f"/proc/{pid}")
    if not proc.exists():  # no procfs (macOS): trust the signal check
        return True
    try:
        stat = (proc / "stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
        cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return False
    return all(word in cmdline for word in SERVICES[name][0])


def service_pid(name: str) -> int | None:
    """The pid of our running service, or None (a stale pid file is removed)."""
    pid = recorded_pid(name)
    if pid is None:
        return None
    if is_ours(pid, name):
        return pid
    pid_file(name).unlink(missing_ok=True)
    return None


def group_alive(pgid: int) -> bool:
    """Any live (non-zombie) process left in the group?"""
    if Path("/proc/self/stat").exists():
        return bool(group_pids(pgid))
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_pids(pgid: int) -> dict[int, str]:
    """pid -> command name of the live processes in a process group (Linux /proc)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm, fields = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            found[int(stat.parent.name)] = comm
    return found


def start_service(name: str, cmd: list[str], cwd: Path) -> subprocess.Popen:
    """Start in its own session (own process group) with output appended to var/logs/<name>.log."""
    log = SERVICES[name][1]
    LOGS.mkdir(parents=True, exist_ok=True)
    PIDS.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        stamp = dt.datetime.now().isoformat(timespec="seconds")
        out.write(f"\n===== {stamp} scripts/stack.py: {shlex.join(cmd)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=process_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pid_file(name).write_text(f"{proc.pid}\n")
    return proc


def stop_service(name: str) -> bool:
    """Stop a service and everything in its process group.

    `airflow standalone` shuts its components down itself on SIGINT (its Ctrl-C path). The signal goes to the
    main process only: signalling the whole group as well leaves the 3.3 DAG processor hanging. Whatever is
    still in the group afterwards (task processes, a hung component) gets SIGTERM, then SIGKILL.
    """
    pid = service_pid(name)
    if pid is None:
        pid_file(name).unlink(missing_ok=True)
        return False
    say(f"stopping {name} (process group {pid})...")
    started = time.monotonic()
    first = signal.SIGINT if name == "airflow" else signal.SIGTERM
    steps = ((first, False, STOP_TIMEOUT), (signal.SIGTERM, True, 20), (signal.SIGKILL, True, 10))
    for sig, whole_group, grace in steps:
        with contextlib.suppress(ProcessLookupError):
            if whole_group:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and group_alive(pid):
            time.sleep(0.5)
        if not group_alive(pid):
            break
        say(f"    {name}: processes left after {signal.Signals(sig).name}: {group_members(pid)}; escalating")
    if group_alive(pid):
        raise StackError(f"could not stop {name} (process group {pid}): {group_members(pid)}")
    pid_file(name).unlink(missing_ok=True)
    say(f"    {name} stopped in {fmt_duration(time.monotonic() - started)}")
    return True


def group_members(pgid: int) -> str:
    return ", ".join(f"{pid}:{comm}" for pid, comm in sorted(group_pids(pgid).items())) or "?"


# ------------------------------------------------------------------------------------------------- HTTP


# The stack is on 127.0.0.1: never send its requests through an HTTP(S)_PROXY from the environment.
NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(
    method: str, url: str, body: dict | None = None, token: str | None = None, timeout: float = 10
) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with NO_PROXY_OPENER.open(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def http_ok(url: str) -> str | None:
    try:
        status, body = http("GET", url, timeout=5)
    except (OSError, urllib.error.URLError):
        return None
    return body if status == 200 else None


def mlflow_healthy() -> bool:
    body = http_ok(f"{MLFLOW_URL}/health")
    return body is not None and body.strip() == "OK"


def evidently_healthy() -> bool:
    return http_ok(f"{EVIDENTLY_URL}/api/projects") is not None


def airflow_health() -> dict | None:
    body = http_ok(AIRFLOW_HEALTH)
    if body is None:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def airflow_healthy(health: dict | None) -> bool:
    if not health:
        return False
    return all(
        (health.get(part) or {}).get("status") == "healthy"
        for part in ("metadatabase", "scheduler", "dag_processor", "triggerer")
    )


def airflow_password() -> str | None:
    try:
        return json.loads(PASSWORDS_FILE.read_text()).get(AIRFLOW_USER)
    except (OSError, ValueError):
        return None


class AirflowAPI:
    """Minimal client of the Airflow 3 REST API (token from the simple auth manager)."""

    def __init__(self) -> None:
        self.token: str | None = None

    def login(self) -> None:
        password = airflow_password()
        if password is None:
            raise StackError(
                f"no password for user '{AIRFLOW_USER}' in {PASSWORDS_FILE}", SERVICES["airflow"][1]
            )
        status, body = http(
            "POST", f"{AIRFLOW_URL}/auth/token", {"username": AIRFLOW_USER, "password": password}
        )
        if status not in (200, 201):
            raise StackError(f"Airflow login as '{AIRFLOW_USER}' failed (HTTP {status}): {body[:300]}")
        self.token = json.loads(body)["access_token"]

    def call(self, method: str, path: str, body: dict | None = None, ok: tuple[int, ...] = (200,)) -> dict:
        if self.token is None:
            self.login()
        for attempt in range(5):
            try:
                status, text = http(method, f"{AIRFLOW_URL}/api/v2{path}", body, self.token, timeout=30)
            except (OSError, urllib.error.URLError) as exc:
                if attempt == 4:
                    raise StackError(
                        f"Airflow API {method} {path} unreachable: {exc}", SERVICES["airflow"][1]
                    ) from exc
                time.sleep(3)
                continue
            if status == 401 and attempt == 0:
                self.login()
                continue
            if status in ok:
                return json.loads(text) if text else {}
            if status >= 500 and attempt < 4:
                time.sleep(3)
                continue
            raise StackError(f"Airflow API {method} {path} -> HTTP {status}: {text[:500]}")
        raise StackError(f"Airflow API {method} {path} kept failing")

    def get(self, path: str, **query: object) -> dict:
        if query:
            path = f"{path}?{urllib.parse.urlencode(query, doseq=True)}"
        return self.call("GET", path)

    def dag(self, dag_id: str) -> dict | None:
        try:
            return self.get(f"/dags/{dag_id}")
        except StackError as exc:
            if "HTTP 404" in str(exc):
                return None
            raise

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.call("PATCH", f"/dags/{dag_id}", {"is_paused": paused})

    def dag_runs(self, dag_id: str) -> list[dict]:
        runs: list[dict] = []
        while True:
            page = self.get(f"/dags/{dag_id}/dagRuns", limit=100, offset=len(runs), order_by="id")
            runs += page["dag_runs"]
            if not page["dag_runs"] or len(runs) >= page["total_entries"]:
                return runs

    def dag_run(self, dag_id: str, run_id: str) -> dict:
        return self.get(f"/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        quoted = urllib.parse.quote(run_id, safe="")
        return self.get(f"/dags/{dag_id}/dagRuns/{quoted}/taskInstances", limit=100)["task_instances"]

    def backfills(self, dag_id: str) -> list[dict]:
        return self.get("/backfills", dag_id=dag_id, limit=100)["backfills"]


def parse_ts(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def task_log_excerpt(dag_id: str, run_id: str, task_id: str, try_number: int, lines: int = 25) -> str:
    """The end of an Airflow 3 task log (JSON lines) rendered as text."""
    folder = AIRFLOW_HOME / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    path = folder / f"attempt={try_number}.log"
    if not path.exists():
        attempts = sorted(folder.glob("attempt=*.log"))
        if not attempts:
            return f"      (no log file under {folder})"
        path = attempts[-1]
    rendered, important = [], []
    for line in log_tail(path, 400).splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            rendered.append(line[:300])
            continue
        level = str(rec.get("level", "")).upper()
        text = f"{str(rec.get('timestamp', ''))[:19]} {level:7} {str(rec.get('event', ''))[:300]}"
        for err in rec.get("error_detail") or []:
            text += f"\n      {err.get('exc_type')}: {str(err.get('exc_value'))[:1500]}"
        rendered.append(text)
        if level in ("WARNING", "ERROR", "CRITICAL"):
            important.append(text)
    shown = important[-lines:] if important else rendered[-lines:]
    return f"      log: {path}\n" + "\n".join("      " + r for r in shown)


def explain_run(api: AirflowAPI, dag_id: str, run_id: str) -> str:
    lines = []
    for ti in api.task_instances(dag_id, run_id):
        if ti.get("state") == "failed":
            lines.append(f"    task {ti['task_id']} failed (try {ti.get('try_number')}):")
            lines.append(task_log_excerpt(dag_id, run_id, ti["task_id"], int(ti.get("try_number") or 1)))
    return "\n".join(lines) or "    (no failed task instance found)"


# ------------------------------------------------------------------------------------------------ steps


def load_params():  # noqa: ANN201 - tabular_mlops.config.Params
    try:
        from tabular_mlops.config import ConfigError
        from tabular_mlops.config import load_params as _load
    except ImportError as exc:
        raise StackError(
            f"cannot import tabular_mlops ({exc}): run this with {REPO}/.venv/bin/python (`make run` does)"
        ) from exc
    try:
        return _load(REPO / "params.yaml")
    except ConfigError as exc:
        raise StackError(str(exc)) from exc


def wal(db: Path) -> str:
    db.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode.lower() != "wal":
        raise StackError(f"could not switch {db} to WAL journal mode (got {mode})")
    return mode


def check_port_free(name: str) -> None:
    port = SERVICES[name][2]
    if port_open(port):
        raise StackError(
            f"port {HOST}:{port} (wanted by {name}) is already taken by a process this stack "
            f"did not start: {port_owner(port)}\n    stop it, or free the port, then re-run"
        )


def wait_until(
    what: str, ready, timeout: float, proc: subprocess.Popen | None, log: Path, interval: float = 2
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if proc is not None and proc.poll() is not None:
            raise StackError(f"{what}: the process exited with code {proc.returncode}", log)
        time.sleep(interval)
    raise StackError(f"{what}: not ready within {fmt_duration(timeout)}", log)


def ensure_mlflow() -> str:
    name, log = "mlflow", SERVICES["mlflow"][1]
    pid = service_pid(name)
    if pid is not None:
        wait_until("MLflow health", mlflow_healthy, MLFLOW_START_TIMEOUT, None, log)
        return f"already running (pid {pid})"
    check_port_free(name)
    MLFLOW_ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # Against "database is locked": WAL lets readers and the writer work at the same time (persists in the file).
    wal(MLFLOW_DB)
    proc = start_service(
        name,
        [
            str(BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{MLFLOW_DB}",
            "--artifacts-destination",
            str(MLFLOW_ARTIFACTS),
            "--serve-artifacts",
            "--host",
            HOST,
            "--port",
            str(MLFLOW_PORT),
        ],
        cwd=MLFLOW_DIR,
    )
    wait_until(f"MLflow at {MLFLOW_URL}/health", mlflow_healthy, MLFLOW_START_TIMEOUT, proc, log)
    return f"started (pid {proc.pid})"


def ensure_evidently(workspace: Path) -> str:
    """`evidently ui` over the workspace monitor_nightly writes its nightly report snapshots into."""
    name, log = "evidently", SERVICES["evidently"][1]
    pid = service_pid(name)
    if pid is not None:
        return f"already running (pid {pid})"
    check_port_free(name)
    workspace.mkdir(parents=True, exist_ok=True)
    cmd = [str(BIN / "evidently"), "ui", "--workspace", str(workspace), "--host", HOST]
    proc = start_service(name, [*cmd, "--port", str(EVIDENTLY_PORT)], cwd=VAR)
    wait_until(f"Evidently UI at {EVIDENTLY_URL}", evidently_healthy, MLFLOW_START_TIMEOUT, proc, log)
    return f"started (pid {proc.pid})"


def prepare_airflow_db() -> None:
    """`airflow db migrate` (idempotent) and WAL on the metadata DB, before any Airflow component runs."""
    check_port_free("airflow")
    AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    airflow_cli("db", "migrate", what="airflow db migrate", timeout=900)
    wal(AIRFLOW_DB)  # scheduler, DAG processor, API server and triggerer all write this file


def ensure_airflow() -> str:
    name, log = "airflow", SERVICES["airflow"][1]
    pid = service_pid(name)
    if pid is not None:
        wait_until(
            f"Airflow at {AIRFLOW_HEALTH}",
            lambda: airflow_healthy(airflow_health()),
            AIRFLOW_START_TIMEOUT,
            None,
            log,
        )
        return f"already running (pid {pid})"
    check_port_free(name)
    proc = start_service(name, [str(BIN / "airflow"), "standalone"], cwd=AIRFLOW_HOME)
    wait_until(
        f"Airflow at {AIRFLOW_HEALTH} (metadatabase, scheduler, dag_processor, triggerer healthy)",
        lambda: airflow_healthy(airflow_health()),
        AIRFLOW_START_TIMEOUT,
        proc,
        log,
    )
    wait_until(
        f"Airflow credentials in {PASSWORDS_FILE}", lambda: airflow_password() is not None, 60, proc, log
    )
    return f"started (pid {proc.pid})"


def ensure_pool() -> None:
    airflow_cli(
        "pools",
        "set",
        DVC_POOL,
        "1",
        "Serialises writes to the DVC workspace and the model registry",
        what=f"creating pool {DVC_POOL}",
    )


def seed_source(params) -> None:  # noqa: ANN001
    proc = run(
        [str(BIN / "python"), "-m", "tabular_mlops", "simulate", "--db-url", f"sqlite:///{SOURCE_DB}"],
        "seeding the source database",
        timeout=1800,
    )
    try:
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        say(
            f"    {info['rows']} rows, {info['days']} days {info['first_day']}..{info['last_day']} "
            f"(scenario {info['scenario']}) in {SOURCE_DB}"
        )
    except (ValueError, IndexError, KeyError):
        say(f"    {proc.stdout.strip()[-300:]}")


def wait_for_dags(api: AirflowAPI) -> None:
    started = time.monotonic()
    while True:
        missing = [d for d in (INGEST_DAG, TRAIN_DAG) if api.dag(d) is None]
        if not missing:
            return
        waited = time.monotonic() - started
        errors = api.get("/importErrors", limit=100).get("import_errors", [])
        if (errors and waited > 30) or waited > DAG_PARSE_TIMEOUT:
            text = "\n".join(f"  {e.get('filename')}:\n{e.get('stack_trace', '')[-1500:]}" for e in errors)
            raise StackError(
                f"DAGs {missing} did not appear in Airflow within {fmt_duration(waited)}"
                + (f"; the DAG processor reports import errors:\n{text}" if errors else ""),
                SERVICES["airflow"][1],
            )
        time.sleep(3)


def settle_scheduled_runs(api: AirflowAPI, dag_id: str, params) -> None:  # noqa: ANN001
    """After an unpause, catchup=False makes the scheduler create the run of the latest schedule point at once.
    Let that run finish before the backfill, so the two never write the workspace at the same time."""
    deadline = time.monotonic() + SCHEDULED_RUN_TIMEOUT
    seen: dict[str, dict] = {}
    while True:
        dag = api.dag(dag_id) or {}
        due = parse_ts(dag.get("next_dagrun_run_after"))
        due_now = due is not None and due <= utcnow() and not dag.get("is_paused")
        active = []
        for r in api.dag_runs(dag_id):
            if r.get("run_type") == "scheduled":
                seen[r["dag_run_id"]] = r
            if r.get("run_type") != "backfill" and r.get("state") in ACTIVE:
                active.append(r)
        if not due_now and not active:
            break
        if time.monotonic() > deadline:
            raise StackError(
                f"{dag_id}: the scheduled run did not finish within {fmt_duration(SCHEDULED_RUN_TIMEOUT)}",
                SERVICES["airflow"][1],
            )
        time.sleep(3)
    latest = max(seen.values(), key=lambda r: r.get("run_after") or "", default=None)
    if latest is None:
        return
    say(f"    latest scheduled run {latest['dag_run_id']}: {latest['state']}")
    if latest["state"] != "failed":
        return
    logical = parse_ts(latest.get("logical_date"))
    _, last_day = backfill_window(params)
    apps = (logical - dt.timedelta(days=params.schema.label_delay_days)).date() if logical else None
    if apps is not None and apps > last_day:
        say(
            f"      expected: the clock is past the simulated history (last day {last_day}), so this night looks "
            f"for the applications of {apps}, finds none, and the GX gate quarantines the empty batch"
        )
    else:
        say(
            f"      (not part of the backfill; why it failed:)\n{explain_run(api, dag_id, latest['dag_run_id'])}"
        )


def backfill_window(params) -> tuple[dt.date, dt.date]:  # noqa: ANN001
    """Nights whose data interval extracts the history: night D reads the applications of D - label delay."""
    first_day = dt.date.fromisoformat(str(params.simulate.history_start))
    last_day = first_day + dt.timedelta(days=params.simulate.history_days - 1)
    start = first_day + dt.timedelta(days=params.schema.label_delay_days)
    if start > last_day:
        raise StackError(
            f"params.yaml: simulate.history_days ({params.simulate.history_days}) must exceed "
            f"schema.label_delay_days ({params.schema.label_delay_days}) for any label to mature"
        )
    return start, last_day


def runs_by_night(api: AirflowAPI, nights: list[dt.date]) -> dict[dt.date, dict]:
    wanted = set(nights)
    out: dict[dt.date, dict] = {}
    for run_ in api.dag_runs(INGEST_DAG):
        logical = parse_ts(run_.get("logical_date"))
        if logical is not None and logical.date() in wanted:
            previous = out.get(logical.date())
            if previous is None or run_["run_after"] >= previous["run_after"]:
                out[logical.date()] = run_
    return out


def history_nights(params) -> list[dt.date]:  # noqa: ANN001
    start, end = backfill_window(params)
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def backfill_command(params) -> list[str]:  # noqa: ANN001
    start, end = backfill_window(params)
    return ["backfill", "create", "--dag-id", INGEST_DAG, "--from-date", start.isoformat(),
            "--to-date", end.isoformat(), "--max-active-runs", str(BACKFILL_MAX_ACTIVE_RUNS),
            # a re-run re-does the failed nights and leaves the successful ones alone
            "--reprocess-behavior", "failed"]  # fmt: skip


def json_array(output: str) -> list | None:
    """The JSON array a CLI printed with `-o json` (warnings may be printed around it)."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("["):
            try:
                value, _ = json.JSONDecoder().raw_decode("\n".join(lines[i:]))
            except ValueError:
                continue
            if isinstance(value, list):
                return value
    return None


def create_backfill_offline(params) -> None:  # noqa: ANN001
    """Create the backfill while no Airflow component runs (`airflow standalone` starts afterwards).

    `airflow backfill create` inserts the runs one savepoint at a time (read, then insert). On SQLite any
    commit by another process between the two (a scheduler or triggerer heartbeat) fails the insert at once
    with "database is locked", whatever the busy timeout, and the CLI then drops the whole backfill: with the
    stack running that happened on most attempts here. With nothing else writing, it is deterministic.
    """
    nights = history_nights(params)
    say(
        f"    nights {nights[0]}..{nights[-1]} ({len(nights)} runs; night D ingests the applications of "
        f"D - {params.schema.label_delay_days} days)"
    )
    airflow_cli("dags", "reserialize", what="airflow dags reserialize", timeout=600)
    proc = airflow_cli("dags", "list-runs", INGEST_DAG, "-o", "json", what="airflow dags list-runs")
    listed = json_array(proc.stdout)
    if listed is None:
        raise StackError(f"unexpected output of `airflow dags list-runs`: {proc.stdout[-500:]}")
    latest: dict[dt.date, dict] = {}
    for r in sorted(listed, key=lambda r: r.get("run_after") or ""):
        logical = parse_ts(r.get("logical_date"))
        if logical is not None:
            latest[logical.date()] = r
    if all(n in latest and latest[n].get("state") == "success" for n in nights):
        say(f"    all {len(nights)} nights already succeeded: backfill skipped")
        return
    cmd = backfill_command(params)
    proc = airflow_cli(*cmd, what=f"airflow backfill create {INGEST_DAG}", timeout=600, check=False)
    output = proc.stdout + proc.stderr
    if proc.returncode == 0:
        say(f"    backfill created (max {BACKFILL_MAX_ACTIVE_RUNS} active run; failed nights get re-done)")
    elif "Another backfill is running" in output:
        say("    a backfill of this DAG is still in progress: it resumes when the scheduler starts")
    else:
        raise StackError(
            f"airflow backfill create {INGEST_DAG} failed (exit {proc.returncode}): "
            f"`airflow {shlex.join(cmd)}`\n{error_lines(output)}"
        )


def ensure_backfill(api: AirflowAPI, params) -> dict:  # noqa: ANN001
    nights = history_nights(params)
    active = [b for b in api.backfills(INGEST_DAG) if b.get("completed_at") is None]
    if (api.dag(INGEST_DAG) or {}).get("is_paused"):
        # Unpausing makes the scheduler create tonight's scheduled run at once (catchup=False). Hold the
        # backfill until that run is over, so two runs never write the workspace at the same time.
        for b in active:
            if not b.get("is_paused"):
                api.call("PUT", f"/backfills/{b['id']}/pause")
        api.set_paused(INGEST_DAG, False)
        say(f"    unpaused {INGEST_DAG} (@daily, catchup=False)")
        settle_scheduled_runs(api, INGEST_DAG, params)
        for b in active:
            api.call("PUT", f"/backfills/{b['id']}/unpause")
    else:
        settle_scheduled_runs(api, INGEST_DAG, params)

    runs = runs_by_night(api, nights)
    if len(runs) == len(nights) and all(r["state"] == "success" for r in runs.values()):
        say(f"    all {len(nights)} nights succeeded: nothing to wait for")
        return {"nights": len(nights), "skipped": True}
    if active:
        say(
            f"    backfill {active[0]['id']} ({active[0]['from_date'][:10]}..{active[0]['to_date'][:10]}, "
            f"max {active[0]['max_active_runs']} active run) running through the scheduler:"
        )
    else:
        create_backfill_online(api, params)
    return wait_backfill(api, nights)


def create_backfill_online(api: AirflowAPI, params, attempts: int = 20) -> None:  # noqa: ANN001
    """Fallback when Airflow was already running: the DAG paused meanwhile, lock errors retried
    (see create_backfill_offline for why they happen)."""
    cmd = backfill_command(params)
    api.set_paused(INGEST_DAG, True)  # keeps the scheduler away from the runs while they are being created
    try:
        for attempt in range(1, attempts + 1):
            proc = airflow_cli(*cmd, what=f"airflow backfill create {INGEST_DAG}", timeout=600, check=False)
            if proc.returncode == 0:
                say(
                    f"    backfill created (max {BACKFILL_MAX_ACTIVE_RUNS} active run; failed nights get re-done)"
                )
                return
            output = proc.stdout + proc.stderr
            if "database is locked" not in output or attempt == attempts:
                raise StackError(
                    f"airflow backfill create {INGEST_DAG} failed (exit {proc.returncode}, attempt {attempt}): "
                    f"`airflow {shlex.join(cmd)}`\n{error_lines(output)}\n"
                    "    `make stop` then `make run` creates the backfill before the scheduler starts"
                )
            for partial in [b for b in api.backfills(INGEST_DAG) if b.get("completed_at") is None]:
                # The CLI's own clean-up failed too: cancel (its queued runs become failed, so the next
                # attempt, which re-processes failed nights, runs them).
                api.call("PUT", f"/backfills/{partial['id']}/cancel")
                say(f"    cancelled the partial backfill {partial['id']}")
            say(
                f"    SQLite was busy while the backfill runs were created ('database is locked'): retry {attempt}"
            )
            time.sleep(random.uniform(1, 4))
    finally:
        api.set_paused(INGEST_DAG, False)


def error_lines(output: str, lines: int = 15) -> str:
    """A CLI's error without the traceback frames."""
    kept = [ln for ln in output.strip().splitlines() if ln.strip() and not ln.startswith((" ", "\t"))]
    return "\n".join(kept[-lines:])


def wait_backfill(api: AirflowAPI, nights: list[dt.date]) -> dict:
    started = time.monotonic()
    deadline = started + BACKFILL_TIMEOUT
    last_key: tuple | None = None
    last_change = last_print = started
    finished_at_start: int | None = None
    while True:
        runs = runs_by_night(api, nights)
        states = {n: (runs[n]["state"] if n in runs else "missing") for n in nights}
        counts = {
            s: sum(1 for v in states.values() if v == s)
            for s in ("success", "failed", "running", "queued", "missing")
        }
        finished = counts["success"] + counts["failed"]
        if finished_at_start is None:
            finished_at_start = finished
        backfill_active = any(b.get("completed_at") is None for b in api.backfills(INGEST_DAG))
        now = time.monotonic()
        key = tuple(counts.values())
        if key != last_key:
            last_change = now
        if key != last_key or now - last_print >= 60:
            rate = (finished - finished_at_start) / (now - started) if now > started else 0
            eta = (
                f", ~{fmt_duration((len(nights) - finished) / rate)} left"
                if rate > 0 and finished < len(nights)
                else ""
            )
            say(
                f"    [{fmt_duration(now - started):>7}] {finished}/{len(nights)} nights done: "
                f"{counts['success']} success, {counts['failed']} failed, {counts['running']} running, "
                f"{counts['queued']} queued{eta}"
            )
            last_key, last_print = key, now
        if finished == len(nights) and not backfill_active:
            break
        if now > deadline:
            raise StackError(
                f"backfill not finished within {fmt_duration(BACKFILL_TIMEOUT)}", SERVICES["airflow"][1]
            )
        if now - last_change > BACKFILL_STALL_TIMEOUT:
            raise StackError(
                f"backfill made no progress for {fmt_duration(BACKFILL_STALL_TIMEOUT)} (states: {counts})",
                SERVICES["airflow"][1],
            )
        time.sleep(10)
    failed = [n for n in nights if states[n] == "failed"]
    if failed:
        first = runs[failed[0]]
        raise StackError(
            f"{len(failed)} ingestion night(s) failed: {', '.join(map(str, failed))}\n"
            f"    first failure, run {first['dag_run_id']}:\n{explain_run(api, INGEST_DAG, first['dag_run_id'])}\n"
            "    fix the cause and run `make run` again: failed nights are re-processed, successful ones kept"
        )
    say(f"    all {len(nights)} nights succeeded")
    return {"nights": len(nights), "skipped": False, "seconds": time.monotonic() - started}


def initial_training_run(api: AirflowAPI) -> dict | None:
    ours = [
        r
        for r in api.dag_runs(TRAIN_DAG)
        if r.get("run_type") == "manual" and (r.get("conf") or {}).get("reason") == TRAIN_REASON
    ]
    return max(ours, key=lambda r: r.get("run_after") or "", default=None)


def ensure_training(api: AirflowAPI, params) -> None:  # noqa: ANN001
    existing = initial_training_run(api)
    if existing is not None and existing["state"] == "success":
        say(f"    {existing['dag_run_id']} already succeeded: not triggering again")
        return
    if existing is not None and existing["state"] in ACTIVE:
        run_id = existing["dag_run_id"]
        say(f"    {run_id} is {existing['state']}: waiting for it")
    else:
        dag = api.dag(TRAIN_DAG) or {}
        # While train_model is paused the run stays queued. Unpausing also makes the scheduler create
        # today's scheduled run (catchup=False); queued runs start in run_after order and the DAG allows one
        # active run, so this run's run_after is the end of the history: it trains first and the scheduled
        # run afterwards finds nothing new (dvc repro reuses the cache; the version is already champion).
        _, end = backfill_window(params)
        run_after = dt.datetime.combine(end, dt.time(3, 0), tzinfo=dt.UTC)
        now = utcnow().replace(microsecond=0)
        body = {
            "dag_run_id": f"manual__{now.isoformat()}",
            "logical_date": None,
            "run_after": run_after.isoformat(),
            "conf": {"reason": TRAIN_REASON},
            "note": "triggered by scripts/stack.py up after the ingestion backfill",
        }
        created = api.call("POST", f"/dags/{TRAIN_DAG}/dagRuns", body, ok=(200, 201))
        run_id = created["dag_run_id"]
        say(f"    triggered {TRAIN_DAG} run {run_id} with conf {json.dumps(body['conf'])}")
        if dag.get("is_paused"):
            api.set_paused(TRAIN_DAG, False)
            say(f"    unpaused {TRAIN_DAG} (03:00 daily, catchup=False)")
    wait_run(api, TRAIN_DAG, run_id, TRAIN_TIMEOUT)


def ensure_monitoring(api: AirflowAPI) -> None:
    """monitor_nightly scores each night with the champion: unpause it once there is one (make drill needs it)."""
    dag = api.dag(MONITOR_DAG)
    if dag is None or not dag.get("is_paused"):
        return
    info = champion()
    if not info or info.get("champion") is None:
        say(f"    {MONITOR_DAG} stays paused: no champion to score with yet")
        return
    api.set_paused(MONITOR_DAG, False)
    say(f"    unpaused {MONITOR_DAG} (@daily, catchup=False): it scores each night with the champion")


def wait_run(api: AirflowAPI, dag_id: str, run_id: str, timeout: float) -> None:
    started = time.monotonic()
    deadline = started + timeout
    last = ""
    while True:
        state = api.dag_run(dag_id, run_id)["state"]
        tis = {ti["task_id"]: ti.get("state") or "none" for ti in api.task_instances(dag_id, run_id)}
        line = ", ".join(f"{t}={s}" for t, s in tis.items()) or state
        if line != last:
            say(f"    [{fmt_duration(time.monotonic() - started):>7}] {state}: {line}")
            last = line
        if state in TERMINAL:
            break
        if time.monotonic() > deadline:
            raise StackError(
                f"{dag_id} run {run_id} not finished within {fmt_duration(timeout)}", SERVICES["airflow"][1]
            )
        time.sleep(5)
    if state != "success":
        raise StackError(f"{dag_id} run {run_id} {state}:\n{explain_run(api, dag_id, run_id)}")


# ---------------------------------------------------------------------------------------------- summary


def champion() -> dict | None:
    if not mlflow_healthy():
        return None
    proc = run(
        [str(BIN / "python"), "-m", "tabular_mlops", "champion"],
        "reading the champion",
        timeout=180,
        check=False,
    )
    if proc.returncode != 0:
        say(f"    (could not read the champion: {(proc.stderr or proc.stdout).strip()[-500:]})")
        return None
    try:
        return json.loads(proc.stdout)
    except ValueError:
        say(f"    (unexpected output of `tabular_mlops champion`: {proc.stdout.strip()[-300:]})")
        return None


def print_champion(info: dict | None) -> None:
    if info is None:
        return
    if info.get("champion") is None:
        say(f"Champion: none yet for model '{info.get('model')}' (train_model has not promoted a version)")
        return
    tags = info.get("tags", {})
    say(
        f"Champion: {info['model']} version {info['champion']}  (run {info.get('run_id')}; "
        f"challenger {info.get('challenger')}, previous champion {info.get('previous_champion')})"
    )
    metrics = {k.split(".", 1)[1]: v for k, v in tags.items() if k.startswith("holdout.")}
    if metrics:
        say("  holdout metrics: " + ", ".join(f"{k}={float(v):.4f}" for k, v in sorted(metrics.items())))
    say(f"  gate decision:   {tags.get('gate.decision', '?')}")
    for key in sorted(k for k in tags if k.startswith("gate.") and k != "gate.decision"):
        say(f"    {key[5:]:<20} {tags[key]}")
    lineage = (
        "retrain_reason",
        "airflow_dag_id",
        "airflow_run_id",
        "data_window",
        "dvc_data_hash",
        "git_commit",
    )
    say("  lineage: " + ", ".join(f"{k}={tags[k]}" for k in lineage if k in tags))


def print_summary(params) -> None:  # noqa: ANN001
    password = airflow_password() or "(not generated yet)"
    model = params.registry.model_name if params else "credit_default"
    experiment = params.registry.experiment_name if params else "credit_default_training"
    say("\n" + "=" * 100)
    say(f"Airflow  {AIRFLOW_URL}   user: {AIRFLOW_USER}   password: {password}")
    say(f"         (generated by the simple auth manager into {PASSWORDS_FILE})")
    say(f"MLflow   {MLFLOW_URL}")
    say(f"Evidently {EVIDENTLY_URL}  (project '{model} monitoring': nightly drift/performance reports)")
    say("")
    print_champion(champion())
    say("")
    say("Where to look:")
    say(
        f"  Airflow  Dags > {INGEST_DAG}: one backfill run per history night (extract -> validate -> version),"
    )
    say(
        "           Browse > Backfills, the scheduled nightly run, Assets (validated snapshots -> champion model);"
    )
    say(
        f"           Dags > {TRAIN_DAG} > the '{TRAIN_REASON}' run > gate_and_promote (logs, XCom: gate results)."
    )
    if (REPO / "dags" / f"{MONITOR_DAG}.py").exists():
        say(f"           Dags > {MONITOR_DAG}: nightly scoring, drift report and retrain/keep decision.")
    say(f"  MLflow   Experiments > {experiment}: parent run + one child per candidate, holdout metrics,")
    say("           evaluation plots, model_card.md, gate/result.json, lineage/dvc.lock;")
    say(
        f"           Models > {model}: aliases champion / challenger / previous_champion, gate.* tags per version."
    )
    gx_docs = (
        REPO / "include" / "expectations" / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    )
    say(f"  GX       Data Docs: {gx_docs}")
    say(f"  Logs     {LOGS}/airflow.log, {LOGS}/mlflow.log, task logs under {AIRFLOW_HOME / 'logs'}")
    say(
        f"  Shell    `source {ENV_FILE.relative_to(REPO)}` points airflow / mlflow / tabular_mlops at this stack"
    )
    say("Stop it with `make stop` (state stays in var/; `make clean` removes it).")
    say("=" * 100)


# --------------------------------------------------------------------------------------------- commands


def cmd_up() -> int:
    t0 = time.monotonic()
    params = load_params()
    for d in (VAR, PIDS, LOGS, AIRFLOW_HOME, MLFLOW_ARTIFACTS):
        d.mkdir(parents=True, exist_ok=True)
    write_env_file()
    state = read_state()
    ml_pid, af_pid = service_pid("mlflow"), service_pid("airflow")
    if (
        ml_pid
        and af_pid
        and service_pid("evidently")
        and mlflow_healthy()
        and airflow_healthy(airflow_health())
        and state.get("bootstrap_done")
    ):
        say(
            f"The stack is already up (mlflow pid {ml_pid}, airflow pid {af_pid}): not starting a second copy."
        )
        print_summary(params)
        return 0
    timings: dict[str, float] = {}

    t = step(f"MLflow tracking server on {MLFLOW_URL}")
    say(f"    {ensure_mlflow()}; store {MLFLOW_DB} (WAL), artifacts {MLFLOW_ARTIFACTS}")
    timings["mlflow"] = time.monotonic() - t

    t = step(f"Evidently UI on {EVIDENTLY_URL}")
    workspace = REPO / params.paths.evidently_workspace
    say(f"    {ensure_evidently(workspace)}; workspace {workspace}")

    airflow_running = service_pid("airflow") is not None
    if not airflow_running:
        t = step(f"Airflow metadata database {AIRFLOW_DB}")
        prepare_airflow_db()
        done(t, "airflow db migrate + WAL")
        timings["airflow db"] = time.monotonic() - t

    t = step(f"Pool {DVC_POOL} (1 slot)")
    ensure_pool()
    done(t)

    t = step(
        f"Seeding the source database ({params.simulate.history_days} days from "
        f"{params.simulate.history_start}, {params.simulate.rows_per_day} rows/day)"
    )
    seed_source(params)
    done(t)
    timings["seed"] = time.monotonic() - t

    if not airflow_running:
        t = step(f"Backfill of {INGEST_DAG} over the history (created before the scheduler starts)")
        create_backfill_offline(params)
        done(t)
        timings["backfill create"] = time.monotonic() - t

    t = step(f"Airflow standalone on {AIRFLOW_URL} (LocalExecutor, SQLite metadata DB)")
    say(f"    {ensure_airflow()}; log {SERVICES['airflow'][1]}")
    say(f"    UI login: {AIRFLOW_USER} / {airflow_password()}  (from {PASSWORDS_FILE})")
    timings["airflow"] = time.monotonic() - t

    api = AirflowAPI()
    t = step("Waiting for the DAG processor to load the DAGs")
    wait_for_dags(api)
    done(t)

    t = step(f"Backfill {INGEST_DAG}: waiting for the nights to run")
    ensure_backfill(api, params)
    done(t)
    timings["backfill"] = time.monotonic() - t

    t = step(f"First training: {TRAIN_DAG}")
    ensure_training(api, params)
    done(t)
    timings["train"] = time.monotonic() - t

    ensure_monitoring(api)

    write_state(
        bootstrap_done=True,
        last_up_seconds=round(time.monotonic() - t0, 1),
        last_up_at=dt.datetime.now().isoformat(timespec="seconds"),
    )
    print_summary(params)
    say(
        "timings: "
        + ", ".join(f"{k} {fmt_duration(v)}" for k, v in timings.items())
        + f"; total {fmt_duration(time.monotonic() - t0)}"
    )
    return 0


def cmd_down() -> int:
    stopped = [name for name in ("airflow", "mlflow", "evidently") if stop_service(name)]
    if not stopped:
        say("nothing to stop: the stack is not running")
    else:
        say(f"stopped: {', '.join(stopped)}")
    return 0


def cmd_status() -> int:
    any_up = False
    for name, url, healthy in (
        ("mlflow", MLFLOW_URL, lambda: "health OK" if mlflow_healthy() else "not answering"),
        ("evidently", EVIDENTLY_URL, lambda: "API OK" if evidently_healthy() else "not answering"),
        (
            "airflow",
            AIRFLOW_URL,
            lambda: (
                "health: "
                + ", ".join(
                    f"{k} {v.get('status')}"
                    for k, v in (airflow_health() or {}).items()
                    if isinstance(v, dict)
                )
                if airflow_health()
                else "not answering"
            ),
        ),
    ):
        pid = service_pid(name)
        if pid is None:
            port = SERVICES[name][2]
            foreign = (
                f" (port {port} is used by another process: {port_owner(port)})" if port_open(port) else ""
            )
            say(f"{name:9} not running{foreign}")
            continue
        any_up = True
        say(f"{name:9} running, pid {pid}, {url} ({healthy()}), log {SERVICES[name][1]}")
    if not any_up:
        say("The stack is not running: `make run` starts it.")
        return 0
    if airflow_healthy(airflow_health()) and airflow_password():
        try:
            api = AirflowAPI()
            for dag_id in (INGEST_DAG, TRAIN_DAG, MONITOR_DAG):
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
        except StackError as exc:
            say(f"  (Airflow API: {exc})")
        say(f"  UI login: {AIRFLOW_USER} / {airflow_password()}  ({PASSWORDS_FILE})")
    if mlflow_healthy():
        say("")
        print_champion(champion())
    return 0


def main(argv: list[str] | None = None) -> int:
    sys.stdout.reconfigure(line_buffering=True)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("up", "down", "status"))
    args = parser.parse_args(argv)
    try:
        if args.command == "status":
            return cmd_status()
        if args.command == "down":  # never waits for a running `up`: stopping must work at any time
            return cmd_down()
        with stack_lock():
            return cmd_up()
    except StackError as exc:
        say(f"\nERROR: {exc}")
        if exc.log is not None:
            tail = log_tail(exc.log)
            if tail:
                say(f"--- last lines of {exc.log} ---\n{tail}\n---")
        if args.command == "up":
            say("Processes that did start keep running: fix the cause and `make run` again, or `make stop`.")
        return 1
    except BrokenPipeError:  # `make run | head`: the reader went away, the work is done or continues
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        say(
            "\ninterrupted. Processes that did start keep running: `make run` resumes, `make stop` stops them."
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
