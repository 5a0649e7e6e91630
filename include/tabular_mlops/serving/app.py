"""The FastAPI app in front of a ScoringService: the service and its micro-batcher on the app state, the routers
of api/ (scoring, health and model, admin), the middlewares and the error handlers."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline

from tabular_mlops.serving.api.deps import BATCHER_STATE, SERVICE_STATE, AdminRefused
from tabular_mlops.serving.api.main import api_router
from tabular_mlops.serving.batcher import MicroBatcher
from tabular_mlops.serving.host_check import HOST_RULE, TrustedHosts
from tabular_mlops.serving.middleware import BodyLimitMiddleware, MetricsMiddleware
from tabular_mlops.serving.schema import ValidationErrors, batch_model, row_model
from tabular_mlops.serving.service import ScoringService
from tabular_mlops.serving.validation_errors import field_errors

DOCS_ASSETS_URL = "/docs-assets"
_SCORING_ROUTES = ("/predict", "/predict/batch")


def create_app(service: ScoringService) -> FastAPI:
    """The app; its startup and shutdown start and stop the service's threads (registry watcher, log writer)."""
    row = row_model(service.schema)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.stop()

    # FastAPI's /docs page loads Swagger UI from a CDN: the same page with the assets served by the app (the
    # package ships them), so the docs work on a machine without internet, and no page of ours calls outside.
    app = FastAPIOffline(
        static_url=DOCS_ASSETS_URL,
        title="tabular-mlops scoring service",
        description=(
            f"Scores {service.params.wording.rows} with the `{service.model_name}` champion; schema from "
            "params.yaml."
        ),
        lifespan=lifespan,
        responses={400: {"model": ValidationErrors, "description": f"the Host header {HOST_RULE}"}},
    )
    setattr(app.state, SERVICE_STATE, service)
    setattr(app.state, BATCHER_STATE, MicroBatcher(service.score_groups, service.serving.max_batch))
    app.add_middleware(BodyLimitMiddleware, max_bytes=service.serving.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=service.metrics)
    app.add_middleware(TrustedHosts)  # outermost: a request for another host name reaches nothing
    app.add_exception_handler(RequestValidationError, _refused)  # type: ignore[arg-type]
    app.add_exception_handler(AdminRefused, _admin_refused)  # type: ignore[arg-type]
    app.include_router(api_router(row, batch_model(row, service.serving.max_batch)))
    return app


async def _refused(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with one entry per invalid field, the values never echoed; counted per scoring route."""
    service: ScoringService = getattr(request.app.state, SERVICE_STATE)
    path = request.url.path
    service.metrics.validation_errors.labels(path if path in _SCORING_ROUTES else "other").inc()
    return JSONResponse(ValidationErrors(detail=field_errors(exc.errors())).model_dump(), status_code=422)


async def _admin_refused(_: Request, exc: AdminRefused) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
