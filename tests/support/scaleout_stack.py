"""Helpers of the scale-out test (tests/scaleout): reaching PostgreSQL and Redis, free ports, the processes it
starts and their logs, throw-away databases and queues, the environment each process gets."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

HOST = "127.0.0.1"
PG_PORT, REDIS_PORT = 5432, 6379
PG_ADMIN_URL = f"postgresql+psycopg2://postgres@{HOST}:{PG_PORT}/postgres"


def reachable(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=3):
        return True
    return False


def require_services() -> None:
    missing = [f"{name} on {HOST}:{port}" for name, port in (("PostgreSQL", PG_PORT), ("Redis", REDIS_PORT))]
    missing = [m for m, port in zip(missing, (PG_PORT, REDIS_PORT), strict=True) if not reachable(port)]
    if not missing:
        return
    reason = f"the scale-out test needs {' and '.join(missing)}, which did not answer"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, so this is an error, not a skip", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass
class Processes:
    """Started processes, each in its own process group with its log file; stop() ends every group."""

    logs: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, cmd: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")
        proc = subprocess.Popen(
            cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.procs[name] = proc
        return proc

    def check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
        if dead:
            raise AssertionError(f"processes exited early {dead}:\n" + "\n".join(self.tail(n) for n in dead))

    def tail(self, name: str, chars: int = 3000) -> str:
        path = self.logs / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return f"--- {name}.log ---\n{text[-chars:]}"

    def stop(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                pass
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)


def wait_http(url: str, procs: Processes, timeout: float, ok=lambda r: r.status_code < 500) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        procs.check_alive()
        try:
            resp = httpx.get(url, timeout=5, trust_env=False)
            if ok(resp):
                return
            last = f"HTTP {resp.status_code}"
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(2)
    raise AssertionError(
        f"{url} did not come up in {timeout:.0f}s ({last})\n" + "\n".join(procs.tail(n) for n in procs.procs)
    )


@contextlib.contextmanager
def databases(suffix: str, names: list[str]) -> Iterator[dict[str, str]]:
    """Fresh PostgreSQL databases `<name>_<suffix>`; dropped (with their connections) afterwards."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    urls = {}
    try:
        with admin.connect() as conn:
            for name in names:
                db = f"{name}_{suffix}"
                conn.execute(sa.text(f'CREATE DATABASE "{db}"'))
                urls[name] = f"postgresql+psycopg2://postgres@{HOST}:{PG_PORT}/{db}"
        yield urls
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}_{suffix}" WITH (FORCE)'))
        admin.dispose()


def clear_redis_queue(queue: str) -> None:
    """Remove the Celery keys of this test's queue from Redis (other users of the server are untouched)."""
    import redis

    client = redis.Redis(host=HOST, port=REDIS_PORT)
    try:
        for key in client.scan_iter(match=f"*{queue}*"):
            client.delete(key)
    finally:
        client.close()


def hostname_module(folder: Path) -> Path:
    """A hostname callable per worker, so the task instances say which worker ran them (both run on one host)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scaleout_hostname.py").write_text(
        "import os\nimport socket\n\n\ndef worker_name():\n"
        "    return os.environ.get('SCALEOUT_WORKER_NAME') or socket.getfqdn()\n"
    )
    return folder


def python_path(*extra: Path) -> str:
    parts = [str(p) for p in extra] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return os.pathsep.join(parts)


def base_env() -> dict[str, str]:
    """The machine's environment without the test session's Airflow/MLflow settings (tests/conftest.py)."""
    drop = ("AIRFLOW", "MLFLOW_", "MLOPS_", "AWS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(
        {
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            "PYTHONUNBUFFERED": "1",
            "NO_COLOR": "1",
            "OMP_NUM_THREADS": "1",
            "DO_NOT_TRACK": "1",
            "NO_PROXY": f"{HOST},localhost",
            "no_proxy": f"{HOST},localhost",
        }
    )
    return env


def tail_all(procs: Processes) -> str:
    return "\n".join(procs.tail(name) for name in procs.procs)


def json_conn(url: str) -> str:
    u = sa.make_url(url)
    return json.dumps(
        {"conn_type": "postgres", "host": u.host, "port": u.port, "login": u.username, "schema": u.database}
    )
