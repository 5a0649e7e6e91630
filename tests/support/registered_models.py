"""Small real models logged and registered the way training does (trusted skops file, sha256 tag), for tests that
need a service to load and test them (deployment strategies, deploy_model against a live service)."""

from __future__ import annotations

import datetime as dt

import mlflow
import pandas as pd
from tabular_mlops.core.config import SchemaConfig
from tabular_mlops.core.contracts import Tag
from tabular_mlops.data.simulate import generate_day
from tabular_mlops.model.scoring import model_frame
from tabular_mlops.model.trusted_files import verified_copy
from tabular_mlops.training.features import build_pipeline
from tabular_mlops.training.train import log_model

from tests.support.project import REPO


def register_small_model(
    name: str, schema: SchemaConfig, seed: int, max_iter: int, rows_per_day: int = 1000
) -> str:
    """A gradient-boosting model on two simulated days, registered under `name`; returns its version."""
    days = [generate_day(dt.date(2026, 2, 1) + dt.timedelta(days=i), rows_per_day, seed) for i in range(2)]
    df = pd.concat(days)
    model = build_pipeline(schema, {"model": "hist_gradient_boosting", "max_iter": max_iter}, seed)
    model.fit(model_frame(df, schema), df[schema.target_column].astype(int))
    with mlflow.start_run():
        info = log_model(model, model_frame(df.head(50), schema), REPO)
    with verified_copy(info.model_uri) as verified:
        sha = verified.sha256
    return str(mlflow.register_model(info.model_uri, name, tags={Tag.MODEL_SHA256: sha}).version)
