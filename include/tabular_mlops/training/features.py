"""The one preprocessing code path, fitted inside the model: batch scoring and serving get it with the model
(the input frame itself is built by `tabular_mlops.scoring.model_frame`)."""

from __future__ import annotations

from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from tabular_mlops.config import SchemaConfig


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
