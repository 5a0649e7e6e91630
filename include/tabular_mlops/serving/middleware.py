"""Two pure ASGI middlewares (Starlette's BaseHTTPMiddleware costs a task per request): a body size limit
enforced before anything parses the body, and request metrics by route, status and model version."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from tabular_mlops.serving.prometheus_metrics import ServingMetrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Route label of a request: its path if it is one of ours, else "other" (fuzzers must not grow the label set).
ROUTES = frozenset(
    {"/predict", "/predict/batch", "/health/live", "/health/ready", "/model", "/metrics", "/admin/reload",
     "/admin/rollback", "/admin/deploy", "/admin/deploy/log", "/admin/strategy", "/admin/challenger/reload",
     "/docs", "/redoc", "/openapi.json"}
)  # fmt: skip
MODEL_VERSION_KEY = "model_version"  # request.state.model_version, set by the scoring routes
RECEIVED_KEY = "received"  # request.state.received: time.perf_counter() when the request arrived


async def _reply(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """413 for a body above `max_bytes`: a declared Content-Length is checked before reading; a chunked body
    is read up to the limit, then replayed to the app."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.max_bytes:
                await self._too_large(send)
                return
            await self.app(scope, receive, send)  # the server never delivers more than it declared
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        rule = f"must be at most {self.max_bytes} bytes (serving.max_body_bytes)"
        await _reply(send, 413, {"detail": [{"field": "(body)", "value_type": "body", "rule": rule}]})


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: ServingMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500
        scope.setdefault("state", {})[RECEIVED_KEY] = started  # the scoring routes log latency from here
        path = scope.get("path", "")
        route = path if path in ROUTES else "other"

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            version = str((scope.get("state") or {}).get(MODEL_VERSION_KEY, "none"))
            self.metrics.requests.labels(route, str(status), version).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)
