"""The FastAPI app in front of a ScoringService: scoring, health, model, metrics and admin routes.

No `from __future__ import annotations` here: the request models are built from the config at run time, and
FastAPI reads the route annotations as objects to generate the real schema at /docs.
"""

import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline

from tabular_mlops.serving.batcher import MicroBatcher
from tabular_mlops.serving.middleware import (
    MODEL_VERSION_KEY,
    RECEIVED_KEY,
    BodyLimitMiddleware,
    MetricsMiddleware,
)
from tabular_mlops.serving.prometheus_metrics import CONTENT_TYPE
from tabular_mlops.serving.schema import (
    BatchPrediction,
    Prediction,
    ValidationErrors,
    application_model,
    batch_model,
)
from tabular_mlops.serving.service import ScoringService
from tabular_mlops.serving.settings import ENV_ADMIN_TOKEN
from tabular_mlops.serving.validation_errors import field_errors

DOCS_ASSETS_URL = "/docs-assets"
_bearer = HTTPBearer(auto_error=False, description=f"the token in {ENV_ADMIN_TOKEN}")
_REFUSED: dict[int | str, dict[str, Any]] = {
    422: {"model": ValidationErrors, "description": "one entry per invalid field; values never echoed"}
}


def _json(payload: object) -> Response:
    """The answer as JSON, without FastAPI re-validating it against the response model (documentation only)."""
    return Response(json.dumps(payload, separators=(",", ":")), media_type="application/json")


def _unauthorized(detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=401, headers={"WWW-Authenticate": "Bearer"})


def create_app(service: ScoringService) -> FastAPI:
    """The app; its startup and shutdown start and stop the service's threads (registry watcher, log writer)."""
    Application = application_model(service.schema)
    ApplicationBatch = batch_model(Application, service.serving.max_batch)
    batcher = MicroBatcher(service.score_groups, service.serving.max_batch)

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
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=service.serving.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=service.metrics)

    @app.exception_handler(RequestValidationError)
    async def refused(request: Request, exc: RequestValidationError) -> JSONResponse:
        service.metrics.validation_errors.labels(
            request.url.path if request.url.path in ("/predict", "/predict/batch") else "other"
        ).inc()
        errors = ValidationErrors(detail=field_errors(exc.errors()))
        return JSONResponse(errors.model_dump(), status_code=422)

    def admin(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
        expected = service.env.admin_token
        if expected is None:
            raise _AdminRefused(f"admin endpoints are disabled: {ENV_ADMIN_TOKEN} is not set")
        given = credentials.credentials if credentials is not None else ""
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise _AdminRefused("a valid bearer token is required")

    @app.exception_handler(_AdminRefused)
    async def admin_refused(_: Request, exc: _AdminRefused) -> JSONResponse:
        return _unauthorized(str(exc))

    @app.post("/predict", response_model=Prediction, responses=_REFUSED)
    async def predict(application: Application, request: Request) -> Response:  # type: ignore[valid-type]
        record = application.model_dump(by_alias=True)  # type: ignore[attr-defined]
        answer = (await batcher.score([record], getattr(request.state, RECEIVED_KEY, None)))[0]
        setattr(request.state, MODEL_VERSION_KEY, answer["model_version"])
        return _json(answer)

    @app.post("/predict/batch", response_model=BatchPrediction, responses=_REFUSED)
    async def predict_batch(batch: ApplicationBatch, request: Request) -> Response:  # type: ignore[valid-type]
        records = [a.model_dump(by_alias=True) for a in batch.applications]  # type: ignore[attr-defined]
        answers = await batcher.score(records, getattr(request.state, RECEIVED_KEY, None))
        setattr(request.state, MODEL_VERSION_KEY, answers[0]["model_version"])
        return _json({"predictions": answers})

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/health/ready")
    async def ready(response: Response) -> dict[str, Any]:
        status, reasons = service.readiness()
        response.status_code = 503 if status == "not_ready" else 200
        version = service.holder.current.version if service.holder.loaded else None
        return {"status": status, "reasons": reasons, "model_version": version}

    @app.get("/model")
    async def model() -> dict[str, Any]:
        return service.describe()

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(service.exposition(), media_type=CONTENT_TYPE)

    # Sync routes: loading and testing a model takes seconds; FastAPI runs them in its thread pool, so
    # scoring goes on meanwhile.
    @app.post("/admin/reload", dependencies=[Depends(admin)])
    def reload(response: Response) -> dict[str, Any]:
        result = service.reload(force=True)
        codes = {"refused": 409, "registry_unavailable": 503, "no_champion": 404}
        response.status_code = codes.get(result.outcome, 200)
        return result.as_dict()

    @app.post("/admin/rollback", dependencies=[Depends(admin)])
    def rollback(response: Response) -> dict[str, Any]:
        try:
            now, left = service.rollback()
        except LookupError as exc:
            response.status_code = 409
            return {"outcome": "refused", "reason": str(exc)}
        return {"outcome": "rollback", "serving": now.version, "rolled_back_from": left.version}

    return app


class _AdminRefused(Exception):
    """Raised by the admin dependency; answered 401 with a Bearer challenge."""
