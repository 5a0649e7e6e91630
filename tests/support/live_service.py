"""A real uvicorn serving a ScoringService in a thread of the test process, on a free 127.0.0.1 port: the test
can reach the service object (fault injection into a model) while clients talk HTTP to it."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from tabular_mlops.core.config import Params
from tabular_mlops.serving.app import create_app
from tabular_mlops.serving.service import ScoringService
from tabular_mlops.serving.settings import ServiceEnv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_service(service: ScoringService) -> Iterator[str]:
    """The service's base URL while uvicorn runs it; stopped (and its log flushed) on leaving."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(service), "127.0.0.1", port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise AssertionError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def admin_client(url: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=url, timeout=60, trust_env=False, headers={"Authorization": f"Bearer {token}"}
    )


def asked_service(
    params: Params, tracking_uri: str, monitor_db: Path, token: str, root: Path
) -> ScoringService:
    """A service on the registry at `tracking_uri`, loaded, that follows the registry only when asked (its poll is
    an hour) and flushes its log often: every switch in a test is the test's or the DAG's doing."""
    serving = dataclasses.replace(params.serving, poll_seconds=3600.0, log_flush_seconds=0.05)
    service = ScoringService(
        dataclasses.replace(params, serving=serving),
        ServiceEnv(tracking_uri, f"sqlite:///{monitor_db}", token),
        root,
    )
    service.load_initial()
    return service
