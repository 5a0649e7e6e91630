"""The compiled preprocessing of the single-row path: equal to the fitted pipeline bit for bit on every
estimator the project trains (or not used at all), and refused when it would differ or cannot be compiled."""

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from tabular_mlops.model.scoring import model_columns, model_frame, score_frame
from tabular_mlops.serving import compiled as compiled_module
from tabular_mlops.serving.candidate import prepare, probe_frame
from tabular_mlops.serving.compiled import compile_pipeline
from tabular_mlops.training.features import build_pipeline

from tests.support.scoring_service import example

CANDIDATES = [
    {"model": "hist_gradient_boosting", "max_iter": 30, "max_depth": 3},
    {"model": "logistic_regression", "C": 1.0, "max_iter": 500},
    {"model": "random_forest", "n_estimators": 20, "max_depth": 6},
]


@pytest.mark.parametrize("candidate", CANDIDATES, ids=[c["model"] for c in CANDIDATES])
def test_compiled_scores_equal_the_pipeline_on_every_application(repo_params, applications, candidate):
    schema = repo_params.schema
    frame = model_frame(applications, schema)
    pipeline = build_pipeline(schema, candidate, 0).fit(frame, applications[schema.target_column].astype(int))
    compiled, how = compile_pipeline(pipeline, schema, probe_frame(schema))
    assert compiled is not None, how
    columns = model_columns(applications, schema)
    assert np.array_equal(compiled.transform_columns(columns), pipeline.steps[0][1].transform(frame))
    # the shared scoring function on all rows at once (batch scoring) and one row at a time (online)
    assert np.array_equal(
        score_frame(compiled, applications, schema), score_frame(pipeline, applications, schema)
    )
    for i in range(0, len(applications), 97):
        row = applications.iloc[[i]]
        # Equal to the pipeline on the same call. (Logistic regression's own one-row and many-row scores can
        # differ in the last bit: a matrix-vector vs matrix-matrix product; trees do not.)
        assert score_frame(compiled, row, schema)[0] == score_frame(pipeline, row, schema)[0]


def test_a_pipeline_it_does_not_know_is_scored_by_the_pipeline_itself(repo_params, fitted):
    wrapped = make_pipeline(FunctionTransformer(lambda x: x), fitted)
    compiled, how = compile_pipeline(wrapped, repo_params.schema, probe_frame(repo_params.schema))
    assert compiled is None and "not compiled" in how
    ready = prepare(wrapped, repo_params.schema, repo_params.serving, repo_params.gate)
    assert ready.scorer is None and ready.tests.passed


def test_a_compiled_transform_that_differs_by_one_ulp_is_refused(repo_params, fitted, monkeypatch):
    exact = compiled_module._Numeric.transform

    def off_by_one_ulp(self, frame):
        out = exact(self, frame)
        out[-1, 0] = np.nextafter(out[-1, 0], np.inf)
        return out

    monkeypatch.setattr(compiled_module._Numeric, "transform", off_by_one_ulp)
    compiled, how = compile_pipeline(fitted, repo_params.schema, probe_frame(repo_params.schema))
    assert compiled is None and "differs" in how


def test_the_served_model_uses_the_compiled_scorer(repo_params, fitted):
    ready = prepare(fitted, repo_params.schema, repo_params.serving, repo_params.gate)
    assert isinstance(ready.scorer, compiled_module.CompiledPipeline) and ready.tests.passed
    assert ready.scoring.startswith("compiled preprocessing")


def test_plain_columns_from_json_score_as_the_batch_frame_does(repo_params, applications, fitted):
    """The service scores validated JSON values as plain columns (no DataFrame); nightly batch scoring scores the
    source frame: the model input arrays and the scores are the same, for the pipeline and compiled alike."""
    schema = repo_params.schema
    rows = applications.head(400)
    bodies = [example(rows, schema, i) for i in range(len(rows))]
    assert any(b[f.name] is None for b in bodies for f in schema.features)  # missing values are covered
    columns = {name: [b[name] for b in bodies] for name in schema.feature_names}
    from_json, from_frame = model_columns(columns, schema), model_columns(rows, schema)
    for name in schema.feature_names:
        assert from_json[name].dtype == from_frame[name].dtype
        assert np.array_equal(from_json[name], from_frame[name], equal_nan=from_json[name].dtype.kind == "f")
    compiled, how = compile_pipeline(fitted, schema, probe_frame(schema))
    assert compiled is not None, how
    batch = score_frame(fitted, rows, schema)
    assert np.array_equal(score_frame(fitted, columns, schema), batch)
    assert np.array_equal(score_frame(compiled, columns, schema), batch)
    one = {name: [bodies[7][name]] for name in schema.feature_names}
    assert score_frame(compiled, one, schema)[0] == batch[7]
