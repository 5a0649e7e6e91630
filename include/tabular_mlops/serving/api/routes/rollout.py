"""Token-protected deployment control: the strategy in force and its figures, a switch (recorded with who, when,
from, to and why), the deploy log, and loading the challenger now."""

from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from tabular_mlops.core.config import Strategy
from tabular_mlops.serving.api.deps import ServiceDep, require_admin
from tabular_mlops.serving.deployment import StrategyRefused

router = APIRouter(prefix="/admin", tags=["deployment"], dependencies=[Depends(require_admin)])


class StrategySwitch(BaseModel):
    """A switch of deployment strategy; `actor` says who asks (the token is shared, so it is declared)."""

    model_config = ConfigDict(extra="forbid")
    strategy: Strategy
    actor: str = Field(min_length=1, max_length=200)
    reason: str = Field(default="", max_length=2000)


@router.get("/deploy")
def deploy_state(service: ServiceDep) -> dict[str, Any]:
    return service.deployment.describe()


@router.put("/strategy")
def switch_strategy(switch: StrategySwitch, response: Response, service: ServiceDep) -> dict[str, Any]:
    try:
        change = service.deployment.switch(switch.strategy, switch.actor, switch.reason or "by the admin API")
    except StrategyRefused as exc:
        response.status_code = 409
        return {"outcome": "refused", "reason": str(exc)}
    return {"outcome": "switched", **change.to_dict()}


@router.get("/deploy/log")
def deploy_log(service: ServiceDep, limit: int = 100) -> list[dict[str, Any]]:
    return [e.to_dict() for e in service.deploy_log().history(service.model_name, min(max(limit, 1), 1000))]


@router.post("/challenger/reload")
def reload_challenger(service: ServiceDep) -> dict[str, Any]:
    champion = service.holder.current.version if service.holder.loaded else None
    reason = service.deployment.challenger.refresh(champion, force=True)
    served = service.deployment.challenger.served
    return {"challenger": served.version if served else None, "reason": reason}
