"""A real fitted pipeline (the project's own preprocessing and estimator, trained on simulated applications) and a
scoring service around it, without a registry: the routes, validation, logging and metrics are under test here;
following the registry is tested against a real MLflow store in tests/model/test_serving_follow.py."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from tabular_mlops.core.contracts import ALLOWED_HOSTS_ENV
from tabular_mlops.data.simulate import generate_day
from tabular_mlops.model.scoring import model_frame
from tabular_mlops.training.features import build_pipeline

from tests.support.scoring_service import CANDIDATE


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
