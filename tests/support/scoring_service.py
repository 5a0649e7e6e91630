"""A scoring service around a fitted model, without a registry (routes, validation, logging and metrics under
test), and request bodies made from simulated applications."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pandas as pd
from tabular_mlops.core.contracts import Tag
from tabular_mlops.model.scoring import LoadedModel
from tabular_mlops.serving.holder import Served
from tabular_mlops.serving.service import ScoringService
from tabular_mlops.serving.settings import ServiceEnv

# The estimator the serving tests fit (small: the routes are under test, not the model).
CANDIDATE = {"model": "hist_gradient_boosting", "max_iter": 30, "max_depth": 3}


def served(model, version: str = "1") -> Served:
    loaded = LoadedModel(model, "credit_default", version, f"run-{version}", {Tag.DVC_DATA_HASH: "abc123"})
    return Served(loaded, "registry", dt.datetime.now(dt.UTC), "tested")


def make_service(params, tmp_path: Path, model, token: str | None = "s3cret", **serving) -> ScoringService:
    """A service whose watcher never ticks during a test (no registry here) and whose log is a SQLite file."""
    serving = {"poll_seconds": 3600.0, "log_flush_seconds": 0.05, **serving}
    params = dataclasses.replace(params, serving=dataclasses.replace(params.serving, **serving))
    env = ServiceEnv("sqlite:///unused", f"sqlite:///{tmp_path / 'monitoring.db'}", token)
    service = ScoringService(params, env, tmp_path)
    service.holder.swap(served(model))
    return service


def example(applications: pd.DataFrame, schema, i: int = 0) -> dict:
    """Row i of the simulated applications as a JSON request body (nulls as null, ints as ints)."""
    row = applications.iloc[i]
    body = {}
    for f in schema.features:
        value = row[f.name]
        if pd.isna(value):
            body[f.name] = None
        elif f.type == "int":
            body[f.name] = int(value)
        elif f.type == "float":
            body[f.name] = float(value)
        else:
            body[f.name] = str(value)
    body[schema.id_column] = str(row[schema.id_column])
    return body
