"""Token-protected operations: follow the registry now, roll back in-process.

Sync routes: loading and testing a model takes seconds; FastAPI runs them in its thread pool, so scoring goes
on meanwhile.
"""

from typing import Any

from fastapi import APIRouter, Depends, Response

from tabular_mlops.serving.api.deps import ServiceDep, require_admin

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)])

_RELOAD_STATUS = {"refused": 409, "registry_unavailable": 503, "no_champion": 404}


@router.post("/reload")
def reload(response: Response, service: ServiceDep) -> dict[str, Any]:
    result = service.reload(force=True)
    response.status_code = _RELOAD_STATUS.get(result.outcome, 200)
    return result.as_dict()


@router.post("/rollback")
def rollback(response: Response, service: ServiceDep) -> dict[str, Any]:
    try:
        now, left = service.rollback()
    except LookupError as exc:
        response.status_code = 409
        return {"outcome": "refused", "reason": str(exc)}
    return {"outcome": "rollback", "serving": now.version, "rolled_back_from": left.version}
