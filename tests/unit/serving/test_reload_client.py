"""train_model's call to the service after a promotion is best effort: no token, no service or a refusal is a
warning and an outcome in the result, never an exception (the success path runs in tests/integration/
test_serving_e2e.py against a real `tabular-mlops serve`)."""

import logging
import socket
import threading
import time

import pytest
import uvicorn
from tabular_mlops.core.contracts import SERVING_URL_ENV
from tabular_mlops.serving.app import create_app
from tabular_mlops.serving.reload_client import request_reload, service_url

from tests.support.scoring_service import make_service


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def no_token(monkeypatch):
    monkeypatch.delenv("MLOPS_SERVING_ADMIN_TOKEN", raising=False)
    monkeypatch.delenv("MLOPS_SERVING_ADMIN_TOKEN_FILE", raising=False)


def test_the_url_comes_from_the_environment_else_the_serving_config(repo_params, monkeypatch):
    monkeypatch.delenv(SERVING_URL_ENV, raising=False)
    monkeypatch.delenv("MLOPS_SERVING_PORT", raising=False)
    serving = repo_params.serving
    assert service_url(serving) == f"http://{serving.host}:{serving.port}"
    monkeypatch.setenv("MLOPS_SERVING_PORT", "9123")
    assert service_url(serving) == f"http://{serving.host}:9123"
    monkeypatch.setenv(SERVING_URL_ENV, "http://127.0.0.1:8555/")
    assert service_url(serving) == "http://127.0.0.1:8555"


def test_without_a_token_the_reload_is_skipped_with_a_warning(repo_params, no_token, caplog):
    with caplog.at_level(logging.WARNING):
        result = request_reload(repo_params.serving)
    assert result["outcome"] == "skipped" and "MLOPS_SERVING_ADMIN_TOKEN" in result["reason"]
    assert "not reloaded" in caplog.text


def test_a_service_that_is_down_is_a_warning_not_an_error(repo_params, monkeypatch, caplog):
    url = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    monkeypatch.setenv(SERVING_URL_ENV, url)
    monkeypatch.setenv("MLOPS_SERVING_ADMIN_TOKEN", "t")
    with caplog.at_level(logging.WARNING):
        result = request_reload(repo_params.serving, timeout=5)
    assert result["outcome"] == "unreachable" and result["url"] == url
    assert "ConnectError" in result["reason"] and url in caplog.text


def test_a_refusal_of_the_real_service_is_reported(repo_params, tmp_path, fitted, monkeypatch):
    """A real uvicorn serving the app: a wrong token is answered 401, which the client reports, not raises."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(make_service(repo_params, tmp_path, fitted)), "127.0.0.1", port, log_level="error"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        monkeypatch.setenv(SERVING_URL_ENV, f"http://127.0.0.1:{port}")
        monkeypatch.setenv("MLOPS_SERVING_ADMIN_TOKEN", "not-the-token")
        result = request_reload(repo_params.serving)
        assert result["outcome"] == "refused" and "HTTP 401" in result["reason"]
    finally:
        server.should_exit = True
        thread.join(10)
