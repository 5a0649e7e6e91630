"""Liveness, readiness, the model being served, and the Prometheus metrics."""

from typing import Any

from fastapi import APIRouter, Response

from tabular_mlops.serving.api.deps import ServiceDep
from tabular_mlops.serving.prometheus_metrics import CONTENT_TYPE

router = APIRouter(tags=["health"])


@router.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "alive"}


@router.get("/health/ready")
async def ready(response: Response, service: ServiceDep) -> dict[str, Any]:
    status, reasons = service.readiness()
    response.status_code = 503 if status == "not_ready" else 200
    version = service.holder.current.version if service.holder.loaded else None
    return {"status": status, "reasons": reasons, "model_version": version}


@router.get("/model")
async def model(service: ServiceDep) -> dict[str, Any]:
    return service.describe()


@router.get("/metrics")
async def metrics(service: ServiceDep) -> Response:
    return Response(service.exposition(), media_type=CONTENT_TYPE)
