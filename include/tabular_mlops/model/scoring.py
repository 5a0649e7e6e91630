"""The one way a model is loaded from the registry and the one way it scores a frame: used by training's
selection and evaluation, the gate, nightly batch scoring and the online service alike. Preprocessing lives
inside the model (a fitted sklearn Pipeline), so all of them score exactly the same way."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from tabular_mlops.core.config import SchemaConfig, ThresholdRule
from tabular_mlops.core.contracts import CHAMPION, Tag
from tabular_mlops.model.trusted_files import UntrustedModelError, load_sklearn

# A frame, or plain columns (name -> values) as the online service has them.
Columns: TypeAlias = pd.DataFrame | Mapping[str, Sequence[Any]]


def model_columns(df: Columns, schema: SchemaConfig) -> dict[str, np.ndarray]:
    """The model's input as one array per schema feature: numeric as float64 (NaN = missing), categories as str
    ("missing" for a missing one). `df` is a frame, or plain columns (name -> values, None = missing) as the
    online service has them; any extra columns are ignored."""
    missing = [c for c in schema.feature_names if c not in df]
    if missing:
        raise KeyError(f"input lacks feature column(s) {missing} required by params.yaml schema.features")
    # Built as arrays: per-column pandas operations cost ~2 ms for a single online row.
    columns: dict[str, np.ndarray] = {}
    for f in schema.features:
        col = df[f.name]
        if f.is_categorical and isinstance(col, pd.Series) and isinstance(col.dtype, pd.CategoricalDtype):
            # A pandas categorical (training and evaluation read parts so): each category's text once, then
            # picked by code; code -1 (missing) picks the last entry.
            labels = np.array([str(v) for v in col.cat.categories] + ["missing"], dtype=object)
            columns[f.name] = labels[col.cat.codes.to_numpy()]
        elif f.is_categorical:
            values = col.to_numpy(dtype=object) if isinstance(col, pd.Series) else _objects(col)
            present = pd.notna(values)
            text = np.full(len(values), "missing", dtype=object)
            text[present] = [str(v) for v in values[present]]
            columns[f.name] = text
        elif isinstance(col, pd.Series):
            columns[f.name] = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            # Plain values are numbers or None (validated upstream): None becomes NaN, ints exact floats.
            columns[f.name] = np.array(col, dtype=np.float64)
    return columns


def _objects(values: Sequence[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def model_frame(df: Columns, schema: SchemaConfig) -> pd.DataFrame:
    """The model's input frame: `model_columns` assembled once (what the fitted pipeline was trained on)."""
    return _frame(model_columns(df, schema))


def _frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    rows = len(next(iter(columns.values()))) if columns else 0
    return pd.DataFrame(columns, index=pd.RangeIndex(rows))


def score_frame(model: Any, df: Columns, schema: SchemaConfig) -> np.ndarray:
    """Probability of the positive class for every row of `df` (any extra columns are ignored).

    A model that offers `predict_proba_columns` (the serving's compiled pipeline, verified equal to the pipeline
    it wraps when loaded) takes the same input arrays without the DataFrame around them.
    """
    columns = model_columns(df, schema)
    direct = getattr(model, "predict_proba_columns", None)
    if direct is not None:
        proba = direct(columns)
    else:
        proba = model.predict_proba(_frame(columns))
    return np.asarray(proba[:, 1], dtype=float)


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
    record = version_record(model_name, version)
    return LoadedModel(
        load_model_uri(f"models:/{model_name}/{record.version}", record.tags[Tag.MODEL_SHA256]),
        model_name,
        record.version,
        record.run_id,
        record.tags,
    )


def version_record(model_name: str, version: str) -> LoadedModel:
    """Version `version`'s registry record (model not loaded: `model` is None), refused when it carries no
    checksum to check its file against."""
    from mlflow import MlflowClient

    mv = MlflowClient().get_model_version(model_name, version)
    sha = mv.tags.get(Tag.MODEL_SHA256)
    if not sha:
        raise UntrustedModelError(
            f"{model_name} v{mv.version} has no '{Tag.MODEL_SHA256}' tag: it was not registered by this "
            "pipeline, so its file cannot be checked"
        )
    return LoadedModel(None, model_name, str(mv.version), mv.run_id, dict(mv.tags))


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
