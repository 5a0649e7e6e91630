"""Dependencies of the routes: the service and the micro-batcher from the app state, and the admin check.

`create_app` puts the service on `app.state`; a route asks for it by type (`ServiceDep`), so routes are plain
module functions, testable with any app that carries a service, instead of closures over one.
"""

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tabular_mlops.serving.batcher import MicroBatcher
from tabular_mlops.serving.service import ScoringService
from tabular_mlops.serving.settings import ENV_ADMIN_TOKEN

SERVICE_STATE = "service"
BATCHER_STATE = "batcher"

_bearer = HTTPBearer(auto_error=False, description=f"the token in {ENV_ADMIN_TOKEN}")


class AdminRefused(Exception):
    """Raised by the admin dependency; answered 401 with a Bearer challenge (see app.py)."""


def get_service(request: Request) -> ScoringService:
    service: ScoringService = getattr(request.app.state, SERVICE_STATE)
    return service


def get_batcher(request: Request) -> MicroBatcher:
    batcher: MicroBatcher = getattr(request.app.state, BATCHER_STATE)
    return batcher


ServiceDep = Annotated[ScoringService, Depends(get_service)]
BatcherDep = Annotated[MicroBatcher, Depends(get_batcher)]


def require_admin(
    service: ServiceDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """The bearer token must equal the configured one (compared in constant time); no token configured: refused."""
    expected = service.env.admin_token
    if expected is None:
        raise AdminRefused(f"admin endpoints are disabled: {ENV_ADMIN_TOKEN} is not set")
    given = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise AdminRefused("a valid bearer token is required")
