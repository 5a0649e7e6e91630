"""The one way a model is loaded from the registry and the one way it scores a frame: used by training's
selection and evaluation, the gate, nightly batch scoring and the online service alike. Preprocessing lives
inside the model (a fitted sklearn Pipeline), so all of them score exactly the same way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tabular_mlops.artifacts import CHAMPION, Tag
from tabular_mlops.config import SchemaConfig, ThresholdRule
from tabular_mlops.model_store import UntrustedModelError, load_sklearn


def model_frame(df: pd.DataFrame, schema: SchemaConfig) -> pd.DataFrame:
    """The model's input: schema features only, numeric as float64 (NaN = missing), categories as str."""
    missing = [c for c in schema.feature_names if c not in df.columns]
    if missing:
        raise KeyError(f"input lacks feature column(s) {missing} required by params.yaml schema.features")
    # Built as arrays and assembled once: per-column pandas operations cost ~2 ms for a single online row.
    columns: dict[str, np.ndarray] = {}
    for f in schema.features:
        col = df[f.name]
        if f.is_categorical:
            values = col.to_numpy(dtype=object)
            present = pd.notna(values)
            text = np.full(len(values), "missing", dtype=object)
            text[present] = [str(v) for v in values[present]]
            columns[f.name] = text
        else:
            columns[f.name] = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(df)))


def score_frame(model: Any, df: pd.DataFrame, schema: SchemaConfig) -> np.ndarray:
    """Probability of the positive class for every row of `df` (any extra columns are ignored)."""
    return np.asarray(model.predict_proba(model_frame(df, schema))[:, 1], dtype=float)


@dataclass(frozen=True)
class LoadedModel:
    """A registered model version, loaded: the fitted pipeline and where it came from."""

    model: Any
    name: str
    version: str
    run_id: str | None
    tags: dict[str, str] = field(default_factory=dict)

    def score(self, df: pd.DataFrame, schema: SchemaConfig) -> np.ndarray:
        return score_frame(self.model, df, schema)

    def threshold(self, rule: ThresholdRule) -> float:
        """This version's decision threshold (see `decision_threshold`)."""
        return decision_threshold(rule, self.tags.get(Tag.DECISION_THRESHOLD), f"{self.name} v{self.version}")


def decision_threshold(rule: ThresholdRule, recorded: str | float | None, owner: str) -> float:
    """The threshold scores are decided with: a `fixed` rule's value as configured now (an operator's policy,
    as it always was), else the value chosen on `owner`'s validation split and recorded with it."""
    if rule.rule == "fixed":
        assert rule.value is not None
        return float(rule.value)
    if recorded is None or recorded == "":
        raise LookupError(
            f"{owner} has no recorded decision threshold (tag '{Tag.DECISION_THRESHOLD}') and "
            f"evaluate.decision_threshold.rule is {rule.rule!r}: train a new version, which records one"
        )
    return float(recorded)


def load_model_uri(model_uri: str, expected_sha256: str | None = None) -> Any:
    """The fitted sklearn pipeline behind an MLflow model URI (runs:/..., models:/...), loaded only as a
    verified skops file (see model_store)."""
    return load_sklearn(model_uri, expected_sha256)


def load_version(model_name: str, version: str) -> LoadedModel:
    """Version `version` of registered model `model_name`, checked against the checksum recorded on it."""
    from mlflow import MlflowClient

    mv = MlflowClient().get_model_version(model_name, version)
    sha = mv.tags.get(Tag.MODEL_SHA256)
    if not sha:
        raise UntrustedModelError(
            f"{model_name} v{mv.version} has no '{Tag.MODEL_SHA256}' tag: it was not registered by this "
            "pipeline, so its file cannot be checked"
        )
    return LoadedModel(
        load_model_uri(f"models:/{model_name}/{mv.version}", sha),
        model_name,
        str(mv.version),
        mv.run_id,
        dict(mv.tags),
    )


def champion_version(model_name: str) -> str | None:
    """The version that holds alias `champion`, or None when there is none yet."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return str(MlflowClient().get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException:
        return None


def load_champion(model_name: str) -> LoadedModel:
    """The current champion; a clear error if there is none yet."""
    version = champion_version(model_name)
    if version is None:
        raise LookupError(
            f"registered model '{model_name}' has no '{CHAMPION}' alias yet: run train_model first"
        )
    # Loaded by number, not by alias: the alias may move between the lookup and the load.
    return load_version(model_name, version)
