"""evaluate stores the challenger's holdout scores once; the gate takes them only for the same run on the same
holdout, otherwise it scores the model itself."""

import datetime as dt

import numpy as np
from tabular_mlops.core.atomic_files import atomic_write_parquet
from tabular_mlops.core.contracts import Tag
from tabular_mlops.data.extract import conform
from tabular_mlops.data.simulate import generate_day
from tabular_mlops.model.scoring import score_frame
from tabular_mlops.training.features import build_pipeline
from tabular_mlops.training.holdout_scores import score_part, stored_scores, write_scores
from tabular_mlops.training.parts import read_part
from tabular_mlops.training.preprocess import split_window


def _holdout(tmp_path, params):
    for i in range(params.preprocess.window_days):
        day = dt.date(2026, 1, 1) + dt.timedelta(days=i)
        atomic_write_parquet(
            tmp_path / "data" / f"day={day}.parquet",
            conform(generate_day(day, 60, 3), params.schema),
        )
    split_window(params, tmp_path)
    return tmp_path / "processed" / "holdout.parquet"


def test_scores_are_stored_once_and_reused_only_for_the_same_run_and_holdout(tmp_path, repo_params):
    schema = repo_params.schema
    holdout = _holdout(tmp_path, repo_params)
    rows = read_part(holdout, schema)
    model = build_pipeline(schema, {"model": "logistic_regression", "C": 1.0}, 0)
    model.fit(rows[schema.feature_names], rows[schema.target_column].astype(int))
    out = tmp_path / "models" / "holdout_scores.parquet"

    owner = {"run_id": "run-a", "model_uri": "runs:/run-a/model", Tag.MODEL_SHA256: "sha-a"}
    scores = write_scores(model, holdout, schema, out, owner)

    np.testing.assert_allclose(scores, score_frame(model, rows, schema))
    np.testing.assert_array_equal(stored_scores(out, holdout, "run-a", "sha-a"), scores)
    np.testing.assert_array_equal(score_part(model, holdout, schema), scores)
    assert stored_scores(out, holdout, "run-b", "sha-a") is None  # another run's model
    assert stored_scores(out, holdout, "run-a", "sha-b") is None  # another model file than the one scored
    assert stored_scores(tmp_path / "missing.parquet", holdout, "run-a", "sha-a") is None
    # A new holdout (another window) makes the stored scores stale.
    # The day after the window's last (a day after a longer gap would be left out: windows are contiguous).
    next_day = dt.date(2026, 1, 1) + dt.timedelta(days=repo_params.preprocess.window_days)
    atomic_write_parquet(
        tmp_path / "data" / f"day={next_day}.parquet",
        conform(generate_day(next_day, 60, 3), schema),
    )
    split_window(repo_params, tmp_path)
    assert stored_scores(out, holdout, "run-a", "sha-a") is None
