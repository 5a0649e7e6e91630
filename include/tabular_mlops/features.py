"""The one preprocessing code path: fitted inside the model, used by training, batch scoring and serving."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from tabular_mlops.config import SchemaConfig


def model_frame(df: pd.DataFrame, schema: SchemaConfig) -> pd.DataFrame:
    """The model's input: schema features only, numeric as float64 (NaN = missing), categories as str."""
    missing = [c for c in schema.feature_names if c not in df.columns]
    if missing:
        raise KeyError(f"input lacks feature column(s) {missing} required by params.yaml schema.features")
    out = pd.DataFrame(index=range(len(df)))
    for f in schema.features:
        col = df[f.name].reset_index(drop=True)
        if f.is_categorical:
            out[f.name] = (
                col.astype(object).where(col.notna(), None).astype(str).where(col.notna(), "missing")
            )
        else:
            out[f.name] = pd.to_numeric(col, errors="coerce").astype(np.float64)
    return out


def build_pipeline(schema: SchemaConfig, hyperparams: dict, seed: int) -> Pipeline:
    """Imputation + one-hot encoding + gradient boosting, as one sklearn Pipeline saved with the model."""
    pre = ColumnTransformer(
        [
            ("num", SimpleImputer(strategy="median", add_indicator=True), schema.numeric_features),
            (
                "cat",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                schema.categorical_features,
            ),
        ],
        verbose_feature_names_out=False,
    )
    clf = HistGradientBoostingClassifier(random_state=seed, early_stopping=False, **hyperparams)
    return Pipeline([("preprocess", pre), ("model", clf)])
