import datetime as dt

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from tabular_mlops.data.simulate import generate_day
from tabular_mlops.model.classification_metrics import classification_metrics
from tabular_mlops.model.scoring import model_frame
from tabular_mlops.training.features import build_pipeline


def test_model_frame_types_and_missing_values(repo_params):
    df = generate_day(dt.date(2026, 1, 1), 200, 5)
    df.loc[0, "region"] = None
    x = model_frame(df, repo_params.schema)
    assert list(x.columns) == repo_params.schema.feature_names
    assert x["region"].iloc[0] == "missing"
    assert x["income"].dtype == np.float64


def test_model_frame_normalises_every_kind_of_missing_and_dtype(repo_params):
    """What the model sees for each input form (batch frames from SQL or parquet, one-row online frames): numbers
    as float64 with NaN, categories as str with "missing"; the index is reset."""
    import pandas as pd

    df = generate_day(dt.date(2026, 1, 1), 5, 5).set_axis([10, 11, 12, 13, 14])
    df["age"] = pd.Series([30, pd.NA, 40, 50, 60], dtype="Int64", index=df.index)
    df["income"] = ["52000", None, np.nan, 1.5, "n/a"]
    df["region"] = pd.Series(["north", None, pd.NA, np.nan, "south"], dtype=object, index=df.index)
    df["home_ownership"] = pd.Series(["RENT", None, "OWN", "OWN", "RENT"], dtype="category", index=df.index)
    df["loan_purpose"] = pd.Series(["car", pd.NA, "car", "car", "car"], dtype="string", index=df.index)
    x = model_frame(df, repo_params.schema)
    assert list(x.index) == [0, 1, 2, 3, 4]
    assert x["age"].tolist()[:1] == [30.0] and np.isnan(x["age"].iloc[1]) and x["age"].dtype == np.float64
    assert x["income"].iloc[[0, 3]].tolist() == [52000.0, 1.5] and x["income"].iloc[[1, 2, 4]].isna().all()
    assert x["region"].tolist() == ["north", "missing", "missing", "missing", "south"]
    assert x["home_ownership"].tolist() == ["RENT", "missing", "OWN", "OWN", "RENT"]
    assert x["loan_purpose"].tolist() == ["car", "missing", "car", "car", "car"]
    assert all(type(v) is str for c in repo_params.schema.categorical_features for v in x[c])


def test_model_frame_names_missing_columns(repo_params):
    df = generate_day(dt.date(2026, 1, 1), 10, 5).drop(columns=["age"])
    with pytest.raises(KeyError, match="age"):
        model_frame(df, repo_params.schema)


@pytest.mark.parametrize(
    "candidate",
    [
        {"model": "hist_gradient_boosting", "max_iter": 20},
        {"model": "logistic_regression", "C": 1.0},
        {"model": "random_forest", "n_estimators": 20, "min_samples_leaf": 20},
    ],
    ids=lambda c: c["model"],
)
def test_every_estimator_handles_unseen_categories_and_nans(repo_params, candidate):
    df = generate_day(dt.date(2026, 1, 1), 2000, 5)
    model = build_pipeline(repo_params.schema, candidate, 0)
    assert type(model.named_steps["model"]).__name__.lower().startswith(candidate["model"].split("_")[0][:4])
    model.fit(model_frame(df, repo_params.schema), df["defaulted"])
    odd = df.head(3).copy()
    odd["region"] = "atlantis"
    odd["income"] = np.nan
    scores = model.predict_proba(model_frame(odd, repo_params.schema))[:, 1]
    assert np.all((scores >= 0) & (scores <= 1))
    # A real model, not a constant: the training rows are ranked better than chance.
    train_scores = model.predict_proba(model_frame(df, repo_params.schema))[:, 1]
    assert roc_auc_score(df["defaulted"], train_scores) > 0.6


def test_metrics_perfect_and_random():
    y = np.array([0, 0, 1, 1])
    perfect = classification_metrics(y, np.array([0.1, 0.2, 0.8, 0.9]), 0.5)
    assert perfect["roc_auc"] == 1.0 and perfect["f1"] == 1.0
    flat = classification_metrics(y, np.array([0.5, 0.5, 0.5, 0.5]), 0.9)
    assert flat["roc_auc"] == 0.5 and flat["recall"] == 0.0
    assert set(perfect) == {
        "roc_auc",
        "pr_auc",
        "precision",
        "recall",
        "f1",
        "brier",
        "brier_skill",
        "log_loss",
    }
