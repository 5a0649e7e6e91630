"""POST /predict and /predict/batch. The request models are generated from the config schema at run time, so
this router is built by a function that receives them (FastAPI reads the annotations as objects to document the
real schema at /docs; no `from __future__ import annotations` here)."""

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from tabular_mlops.serving.api.deps import BatcherDep
from tabular_mlops.serving.middleware import MODEL_VERSION_KEY, RECEIVED_KEY
from tabular_mlops.serving.schema import BatchPrediction, Prediction, ValidationErrors

REFUSED: dict[int | str, dict[str, Any]] = {
    422: {"model": ValidationErrors, "description": "one entry per invalid field; values never echoed"}
}


def json_response(payload: object) -> Response:
    """The answer as JSON, without FastAPI re-validating it against the response model (documentation only)."""
    return Response(json.dumps(payload, separators=(",", ":")), media_type="application/json")


def predict_router(row: type[BaseModel], batch: type[BaseModel]) -> APIRouter:
    """The scoring routes for the request models of this config."""
    router = APIRouter(tags=["scoring"])
    Row, RowBatch = row, batch

    @router.post("/predict", response_model=Prediction, responses=REFUSED)
    async def predict(row: Row, request: Request, batcher: BatcherDep) -> Response:  # type: ignore[valid-type]
        record = row.model_dump(by_alias=True)  # type: ignore[attr-defined]
        answer = (await batcher.score([record], getattr(request.state, RECEIVED_KEY, None)))[0]
        setattr(request.state, MODEL_VERSION_KEY, answer["model_version"])
        return json_response(answer)

    @router.post("/predict/batch", response_model=BatchPrediction, responses=REFUSED)
    async def predict_batch(batch: RowBatch, request: Request, batcher: BatcherDep) -> Response:  # type: ignore[valid-type]
        records = [a.model_dump(by_alias=True) for a in batch.rows]  # type: ignore[attr-defined]
        answers = await batcher.score(records, getattr(request.state, RECEIVED_KEY, None))
        setattr(request.state, MODEL_VERSION_KEY, answers[0]["model_version"])
        return json_response({"predictions": answers})

    return router
