"""The one preprocessing code path, fitted inside the model: batch scoring and serving get it with the model
(the input frame itself is built by `tabular_mlops.model.scoring.model_frame`). Each search-space candidate names its
estimator (`model:` in params.yaml `train.search_space`); the rest of the candidate is its hyperparameters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklearn.base import ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from tabular_mlops.core.config import SchemaConfig

# What the model card says about each estimator (config.ESTIMATORS lists the same names).
ESTIMATOR_DESCRIPTIONS = {
    "hist_gradient_boosting": "histogram gradient boosting (sklearn HistGradientBoostingClassifier)",
    "logistic_regression": "logistic regression on standardised features (sklearn LogisticRegression)",
    "random_forest": "random forest (sklearn RandomForestClassifier)",
}


def _estimator(name: str, hyperparams: dict[str, Any], seed: int) -> ClassifierMixin:
    if name == "hist_gradient_boosting":
        return HistGradientBoostingClassifier(random_state=seed, early_stopping=False, **hyperparams)
    if name == "logistic_regression":
        return LogisticRegression(random_state=seed, **hyperparams)
    if name == "random_forest":
        # One job: training runs beside other tasks on small machines; n_jobs=-1 would oversubscribe them.
        return RandomForestClassifier(random_state=seed, n_jobs=1, **hyperparams)
    raise ValueError(f"unknown estimator {name!r} (train.search_space[].model)")


def build_pipeline(schema: SchemaConfig, candidate: Mapping[str, Any], seed: int) -> Pipeline:
    """Imputation (+ scaling for linear models) and one-hot encoding, then the candidate's estimator, as one
    sklearn Pipeline saved with the model."""
    name = candidate["model"]
    hyperparams = {k: v for k, v in candidate.items() if k != "model"}
    numeric: Any = SimpleImputer(strategy="median", add_indicator=True)
    if name == "logistic_regression":
        # lbfgs does not converge on raw incomes and amounts; trees do not need it.
        numeric = make_pipeline(numeric, StandardScaler())
    pre = ColumnTransformer(
        [
            ("num", numeric, schema.numeric_features),
            (
                "cat",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                schema.categorical_features,
            ),
        ],
        verbose_feature_names_out=False,
    )
    return Pipeline([("preprocess", pre), ("model", _estimator(name, hyperparams, seed))])
