"""Every router of the service in one: what `create_app` mounts."""

from fastapi import APIRouter
from pydantic import BaseModel

from tabular_mlops.serving.api.routes import admin, health, rollout
from tabular_mlops.serving.api.routes.predict import predict_router


def api_router(row: type[BaseModel], batch: type[BaseModel]) -> APIRouter:
    """Scoring (for this config's request models), health and model, admin, deployment."""
    router = APIRouter()
    router.include_router(predict_router(row, batch))
    router.include_router(health.router)
    router.include_router(admin.router)
    router.include_router(rollout.router)
    return router
