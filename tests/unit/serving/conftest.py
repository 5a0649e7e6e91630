"""A real fitted pipeline (the project's own preprocessing and estimator, trained on simulated applications) and a
scoring service around it, without a registry: the routes, validation, logging and metrics are under test here;
following the registry is tested against a real MLflow store in tests/model/test_serving_follow.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from tabular_mlops.core.contracts import ALLOWED_HOSTS_ENV, Tag
from tabular_mlops.data.simulate import generate_day
from tabular_mlops.model.scoring import LoadedModel, model_frame
from tabular_mlops.serving.holder import Served
from tabular_mlops.serving.service import ScoringService
from tabular_mlops.serving.settings import ServiceEnv
from tabular_mlops.training.features import build_pipeline

CANDIDATE = {"model": "hist_gradient_boosting", "max_iter": 30, "max_depth": 3}


@pytest.fixture(autouse=True)
def _testclient_host(monkeypatch):
    """Starlette's TestClient sends `Host: testserver`: a configured name here, as a deployment would add its own."""
    monkeypatch.setenv(ALLOWED_HOSTS_ENV, "testserver")


@pytest.fixture(scope="session")
def applications() -> pd.DataFrame:
    return pd.concat([generate_day(dt.date(2026, 1, 1) + dt.timedelta(days=i), 1500, 5) for i in range(3)])


@pytest.fixture(scope="session")
def fitted(repo_params, applications):
    schema = repo_params.schema
    model = build_pipeline(schema, CANDIDATE, 0)
    return model.fit(model_frame(applications, schema), applications[schema.target_column].astype(int))


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
