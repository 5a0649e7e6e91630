"""The compiled trees of the single-row path: the estimator's own scores bit for bit on every split boundary,
or refused (and the estimator scores)."""

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from tabular_mlops.model.scoring import model_frame
from tabular_mlops.serving import compiled_trees
from tabular_mlops.serving.candidate import probe_frame
from tabular_mlops.serving.compiled import compile_pipeline
from tabular_mlops.serving.compiled_trees import (
    CompiledTrees,
    NotCompilableError,
    boundary_matrix,
    verify_trees,
)


def _transformed(fitted, repo_params, applications):
    return fitted.steps[0][1].transform(model_frame(applications, repo_params.schema))


def test_the_walk_equals_the_estimator_on_every_boundary_and_every_row(fitted, repo_params, applications):
    estimator = fitted.steps[-1][1]
    x = _transformed(fitted, repo_params, applications)
    trees = CompiledTrees(estimator)
    assert verify_trees(trees, estimator, x[:50]) is None
    assert np.array_equal(trees.predict_proba(x), estimator.predict_proba(x))
    boundaries = boundary_matrix(trees, x[:50])
    # every threshold, the float above it and a missing value: more rows than the probe rows alone
    assert len(boundaries) > 50 + 2 * len(np.unique(trees.threshold))
    assert np.isnan(boundaries).any()
    compiled, how = compile_pipeline(fitted, repo_params.schema, probe_frame(repo_params.schema))
    assert compiled is not None and compiled.trees is not None and "trees" in how, how


def test_a_walk_that_differs_at_one_threshold_is_refused(fitted, repo_params, applications, monkeypatch):
    estimator = fitted.steps[-1][1]
    x = _transformed(fitted, repo_params, applications)
    trees = CompiledTrees(estimator)
    internal = np.flatnonzero(trees.left != np.arange(len(trees.left)))
    trees.threshold[internal[0]] = np.nextafter(trees.threshold[internal[0]], -np.inf)  # `<` instead of `<=`
    assert (
        verify_trees(trees, estimator, x[:50]) == "compiled trees differ from the estimator on boundary rows"
    )

    original = compiled_trees.CompiledTrees.raw

    def off_by_one_ulp(self, matrix):
        out = original(self, matrix)
        out[-1, 0] = np.nextafter(out[-1, 0], np.inf)
        return out

    monkeypatch.setattr(compiled_trees.CompiledTrees, "raw", off_by_one_ulp)
    compiled, how = compile_pipeline(fitted, repo_params.schema, probe_frame(repo_params.schema))
    # the preprocessing stays compiled; the estimator scores
    assert compiled is not None and compiled.trees is None
    assert "estimator not compiled: compiled trees differ" in how


def test_categorical_splits_and_multiclass_are_not_compiled(applications, repo_params):
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.integers(0, 4, 400), rng.normal(size=400)])
    categorical = HistGradientBoostingClassifier(max_iter=5, categorical_features=[0]).fit(
        x, rng.integers(0, 2, 400)
    )
    with pytest.raises(NotCompilableError, match="categorical"):
        CompiledTrees(categorical)
    multiclass = HistGradientBoostingClassifier(max_iter=5).fit(x, rng.integers(0, 3, 400))
    with pytest.raises(NotCompilableError, match="binary"):
        CompiledTrees(multiclass)
