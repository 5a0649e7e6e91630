"""Only requests addressed to this service by a trusted name get an answer (DNS rebinding: a web page on another
site that resolves its own name to 127.0.0.1 could otherwise post rows into the prediction log that monitoring
reads). Starlette's TrustedHostMiddleware decides; the refusal is a field-level JSON 400 like every other."""

from __future__ import annotations

import json

from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tabular_mlops.core.trusted_hosts import allowed_hosts

_PASSED = "tabular_mlops.host_checked"
HOST_RULE = "must name this service: 127.0.0.1, localhost or a name of $MLOPS_ALLOWED_HOSTS"


def host_refusal() -> dict:
    """The 400 body (the schema's ValidationErrors): the header's value is never echoed."""
    return {"detail": [{"field": "(header) host", "value_type": "string", "rule": HOST_RULE}]}


class TrustedHosts:
    """ASGI middleware: TrustedHostMiddleware's check, with the service's JSON 400 instead of its plain text."""

    def __init__(self, app: ASGIApp, hosts: list[str] | None = None) -> None:
        self.app = app
        self.hosts = hosts if hosts is not None else allowed_hosts()
        self.check = TrustedHostMiddleware(self._passed, allowed_hosts=self.hosts, www_redirect=False)

    async def _passed(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[_PASSED] = True
        await self.app(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def unless_refused(message: Message) -> None:
            if scope.get(_PASSED):
                await send(message)

        await self.check(scope, receive, unless_refused)
        if not scope.get(_PASSED):
            body = json.dumps(host_refusal()).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 400, "headers": headers})
            await send({"type": "http.response.body", "body": body})
