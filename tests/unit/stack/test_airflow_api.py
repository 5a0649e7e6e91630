"""The REST client against a tiny real HTTP server that answers like Airflow 3's /auth/token and /api/v2."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tabular_mlops.stack.airflow_api import AirflowAPI, AirflowAPIError
from tabular_mlops.stack.stack_error import StackError
from tenacity import wait_none


class FakeAirflow(BaseHTTPRequestHandler):
    tokens_issued = 0
    valid_token = ""
    failures_left = 0  # next API calls that answer 503
    requests: list[tuple[str, str, object]] = []
    runs = [{"dag_run_id": f"r{i}", "state": "success"} for i in range(250)]

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, body: object = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        cls = type(self)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        cls.requests.append((method, self.path, body))
        if self.path == "/auth/token":
            if body != {"username": "admin", "password": "secret"}:
                return self._send(401, {"detail": "Invalid credentials"})
            cls.tokens_issued += 1
            cls.valid_token = f"jwt-{cls.tokens_issued}"
            return self._send(201, {"access_token": cls.valid_token})
        if self.headers.get("Authorization") != f"Bearer {cls.valid_token}":
            return self._send(401, {"detail": "Not authenticated"})
        if cls.failures_left:
            cls.failures_left -= 1
            return self._send(503, {"detail": "busy"})
        path, _, query = self.path.partition("?")
        if path == "/api/v2/dags/ingest" and method == "GET":
            return self._send(200, {"dag_id": "ingest", "is_paused": True})
        if path == "/api/v2/dags/ingest" and method == "PATCH":
            return self._send(200, {"dag_id": "ingest", **body})
        if path == "/api/v2/dags/ingest/dagRuns":
            params = dict(p.split("=") for p in query.split("&"))
            offset, limit = int(params["offset"]), int(params["limit"])
            return self._send(
                200, {"dag_runs": cls.runs[offset : offset + limit], "total_entries": len(cls.runs)}
            )
        return self._send(404, {"detail": "Not Found"})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")


@pytest.fixture
def server() -> Iterator[str]:
    FakeAirflow.tokens_issued, FakeAirflow.valid_token, FakeAirflow.failures_left = 0, "", 0
    FakeAirflow.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeAirflow)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def no_retry_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(AirflowAPI.call.retry, "wait", wait_none())


def test_logs_in_once_and_reads_a_dag(server: str) -> None:
    api = AirflowAPI(server, "admin", "secret")
    assert api.dag("ingest")["is_paused"] is True
    assert api.dag("no_such_dag") is None  # 404: not loaded yet
    assert FakeAirflow.tokens_issued == 1


def test_an_expired_token_is_renewed(server: str) -> None:
    api = AirflowAPI(server, "admin", "secret")
    api.login()
    FakeAirflow.valid_token = "rotated"  # the server no longer accepts the first token
    api.set_paused("ingest", False)
    assert FakeAirflow.tokens_issued == 2
    assert ("PATCH", "/api/v2/dags/ingest", {"is_paused": False}) in FakeAirflow.requests


def test_server_errors_are_retried_client_errors_are_not(server: str) -> None:
    api = AirflowAPI(server, "admin", "secret")
    FakeAirflow.failures_left = 2
    assert api.dag("ingest") is not None
    FakeAirflow.failures_left = 10
    with pytest.raises(AirflowAPIError) as err:
        api.dag("ingest")
    assert err.value.status == 503


def test_runs_are_read_page_by_page(server: str) -> None:
    runs = AirflowAPI(server, "admin", "secret").dag_runs("ingest")
    assert [r["dag_run_id"] for r in runs] == [f"r{i}" for i in range(250)]


def test_wrong_password_and_no_password_fail_clearly(server: str) -> None:
    with pytest.raises(StackError, match="login as 'admin' failed .HTTP 401"):
        AirflowAPI(server, "admin", "wrong").dag("ingest")
    with pytest.raises(StackError, match="no password"):
        AirflowAPI(server, "admin", None).dag("ingest")
