"""A thin client of the Airflow 3 REST API (/api/v2) on httpx, for the endpoints the stack uses.

Login: the simple auth manager (what `airflow standalone` runs) issues a JWT from POST /auth/token for a user and
the password it generated; an expired token (401) is renewed once. Transport errors and 5xx answers are retried
with tenacity (the API server restarts its workers, SQLite is briefly locked); 4xx are not.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

import httpx
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_fixed

from tabular_mlops.stack.stack_error import StackError

ACTIVE = frozenset({"queued", "running"})
TERMINAL = frozenset({"success", "failed"})


class AirflowAPIError(StackError):
    """The API answered with an error status."""

    def __init__(self, method: str, path: str, status: int, text: str) -> None:
        super().__init__(f"Airflow API {method} {path} -> HTTP {status}: {text[:500]}")
        self.status = status


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, AirflowAPIError):
        return exc.status >= 500
    return isinstance(exc, httpx.TransportError)


def parse_ts(value: str | None) -> dt.datetime | None:
    """An API timestamp (ISO 8601, maybe with Z) as an aware datetime."""
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


class AirflowAPI:
    """Authenticated calls to one Airflow API server."""

    def __init__(self, base_url: str, username: str, password: str | None, timeout: float = 30) -> None:
        self.username = username
        self.password = password
        # trust_env=False: the server is on 127.0.0.1, never reach it through a proxy from the environment
        self.client = httpx.Client(base_url=base_url, timeout=timeout, trust_env=False)
        self.token: str | None = None

    def close(self) -> None:
        self.client.close()

    def login(self) -> None:
        if not self.password:
            raise StackError(f"no password for Airflow user '{self.username}' (airflow standalone writes it)")
        resp = self.client.post("/auth/token", json={"username": self.username, "password": self.password})
        if resp.status_code not in (200, 201):
            raise StackError(
                f"Airflow login as '{self.username}' failed (HTTP {resp.status_code}): {resp.text[:300]}"
            )
        self.token = resp.json()["access_token"]

    @retry(retry=retry_if_exception(_transient), stop=stop_after_attempt(5), wait=wait_fixed(3), reraise=True)
    def call(self, method: str, path: str, body: dict | None = None, params: dict | None = None) -> Any:
        """One request to /api/v2{path}; the decoded JSON answer (None when empty)."""
        if self.token is None:
            self.login()
        for attempt in (1, 2):
            resp = self.client.request(
                method,
                f"/api/v2{path}",
                json=body,
                params=params,
                headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"},
            )
            if resp.status_code == 401 and attempt == 1:
                self.login()
                continue
            break
        if resp.status_code >= 400:
            raise AirflowAPIError(method, path, resp.status_code, resp.text)
        return resp.json() if resp.content else None

    # ------------------------------------------------------------------------------------------ DAGs

    def dag(self, dag_id: str) -> dict | None:
        """The DAG, or None while the DAG processor has not loaded it."""
        try:
            return self.call("GET", f"/dags/{dag_id}")
        except AirflowAPIError as exc:
            if exc.status == 404:
                return None
            raise

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.call("PATCH", f"/dags/{dag_id}", {"is_paused": paused})

    def import_errors(self) -> list[dict]:
        return self.call("GET", "/importErrors", params={"limit": 100})["import_errors"]

    # -------------------------------------------------------------------------------------- DAG runs

    def dag_runs(self, dag_id: str) -> list[dict]:
        """All runs of a DAG, oldest first (paged)."""
        runs: list[dict] = []
        while True:
            params = {"limit": 100, "offset": len(runs), "order_by": "id"}
            page = self.call("GET", f"/dags/{dag_id}/dagRuns", params=params)
            runs += page["dag_runs"]
            if not page["dag_runs"] or len(runs) >= page["total_entries"]:
                return runs

    def dag_run(self, dag_id: str, run_id: str) -> dict:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")

    def set_run_state(self, dag_id: str, run_id: str, state: str) -> None:
        """Mark a run success, failed or queued (the UI's "Mark as" action)."""
        self.call("PATCH", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}", {"state": state})

    def trigger(self, dag_id: str, body: dict) -> dict:
        return self.call("POST", f"/dags/{dag_id}/dagRuns", body)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances"
        return self.call("GET", path, params={"limit": 100})["task_instances"]

    # ------------------------------------------------------------------------------ backfills, pools

    def backfills(self, dag_id: str) -> list[dict]:
        return self.call("GET", "/backfills", params={"dag_id": dag_id, "limit": 100})["backfills"]

    def backfill_action(self, backfill_id: int, action: str) -> None:
        """pause, unpause or cancel."""
        self.call("PUT", f"/backfills/{backfill_id}/{action}")

    def ensure_pool(self, name: str, slots: int, description: str) -> bool:
        """Create the pool unless it exists; True when created."""
        try:
            self.call("GET", f"/pools/{name}")
            return False
        except AirflowAPIError as exc:
            if exc.status != 404:
                raise
        self.call("POST", "/pools", {"name": name, "slots": slots, "description": description})
        return True
