"""A fitted HistGradientBoostingClassifier's trees as flat numpy arrays, walked for all trees at once.

For one row, the estimator's `predict_proba` is the largest cost of an answer (about two thirds of the
served model call): input validation, then one call into compiled code per tree (200 for the default
candidate), each with its own set-up. The fitted trees are plain arrays already (`_predictors[i][0].nodes`):
here they are concatenated once per loaded model, and a request walks every tree one level per numpy step
(depth 3: three steps), then adds the leaf values in the estimator's own order and applies the estimator's own
link function (`_loss.predict_proba`), so the result is the same floating-point sum and the same function.

The walk mirrors sklearn's `_predict_one_from_raw_data` for numeric splits: a missing value goes the way the
node learned for missing values, otherwise `value <= threshold` goes left. Categorical splits, multi-class and
a built-in preprocessor are refused (the estimator then scores). `verify_trees` compares the walk with the
estimator on every split threshold of every feature, the next float above it and a missing value, bit for bit;
a difference refuses the compiled trees.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class NotCompilableError(ValueError):
    """The model is not one the serving can compile exactly; the message says which part."""


class CompiledTrees:
    """`predict_proba` of a binary HistGradientBoostingClassifier on a dense float64 matrix."""

    def __init__(self, estimator: Any) -> None:
        if type(estimator).__name__ != "HistGradientBoostingClassifier":
            raise NotCompilableError(
                f"estimator {type(estimator).__name__} is not HistGradientBoostingClassifier"
            )
        if getattr(estimator, "n_trees_per_iteration_", None) != 1 or len(estimator.classes_) != 2:
            raise NotCompilableError("only a binary classifier is compiled")
        if estimator.is_categorical_ is not None and bool(np.any(estimator.is_categorical_)):
            raise NotCompilableError("categorical splits are not compiled")
        if getattr(estimator, "_preprocessor", None) is not None:
            raise NotCompilableError("the estimator has its own preprocessor")
        trees = [iteration[0].nodes for iteration in estimator._predictors]
        offsets = np.cumsum([0] + [len(t) for t in trees[:-1]])
        nodes = np.concatenate(trees)
        base = np.repeat(offsets, [len(t) for t in trees])
        index = np.arange(len(nodes))
        leaf = nodes["is_leaf"].astype(bool)
        # A leaf points to itself both ways, so every tree can be walked the same number of steps.
        self.left = np.where(leaf, index, nodes["left"].astype(np.intp) + base)
        self.right = np.where(leaf, index, nodes["right"].astype(np.intp) + base)
        self.feature = np.where(leaf, 0, nodes["feature_idx"]).astype(np.intp)
        self.threshold = nodes["num_threshold"].astype(np.float64)
        self.missing_left = nodes["missing_go_to_left"].astype(bool)
        self.value = nodes["value"].astype(np.float64)
        self.roots = offsets.astype(np.intp)
        self.depth = int(nodes["depth"].max())
        self.n_features = int(estimator.n_features_in_)
        self.baseline = float(np.asarray(estimator._baseline_prediction).reshape(-1)[0])
        self.loss = estimator._loss

    def raw(self, x: np.ndarray) -> np.ndarray:
        rows = np.arange(len(x))[:, None]
        node = np.broadcast_to(self.roots, (len(x), len(self.roots)))
        for _ in range(self.depth):
            value = x[rows, self.feature[node]]
            go_left = np.where(np.isnan(value), self.missing_left[node], value <= self.threshold[node])
            node = np.where(go_left, self.left[node], self.right[node])
        # The estimator starts from 0, adds the baseline, then each tree in order: a running sum is that order.
        terms = np.hstack([np.zeros((len(x), 1)), np.full((len(x), 1), self.baseline), self.value[node]])
        return np.cumsum(terms, axis=1)[:, -1:]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"expected {self.n_features} features, got shape {x.shape}")
        return self.loss.predict_proba(np.asfortranarray(self.raw(np.asarray(x, dtype=np.float64))))


def boundary_matrix(trees: CompiledTrees, rows: np.ndarray, seed: int = 0) -> np.ndarray:
    """Rows that put every split threshold, the next float above it and a missing value into every feature it
    splits on, the rest of each row taken from `rows` (transformed probe rows): the walk's every comparison."""
    internal = trees.left != np.arange(len(trees.left))
    values: list[np.ndarray] = []
    for feature in np.unique(trees.feature[internal]):
        t = np.unique(trees.threshold[internal & (trees.feature == feature)])
        values.append(np.column_stack([np.full(len(t), feature), t]))
        values.append(np.column_stack([np.full(len(t), feature), np.nextafter(t, np.inf)]))
        values.append(np.array([[feature, np.nan]]))
    cases = np.vstack(values) if values else np.empty((0, 2))
    rng = np.random.default_rng(seed)
    out = rows[rng.integers(0, len(rows), size=len(cases))].copy()
    out[np.arange(len(cases)), cases[:, 0].astype(np.intp)] = cases[:, 1]
    return np.vstack([rows, out])


def verify_trees(trees: CompiledTrees, estimator: Any, rows: np.ndarray) -> str | None:
    """None when the walk equals the estimator bit for bit on `boundary_matrix`, one at a time and all at once;
    otherwise why not."""
    matrix = boundary_matrix(trees, rows)
    if not np.array_equal(trees.predict_proba(matrix), estimator.predict_proba(matrix)):
        return "compiled trees differ from the estimator on boundary rows"
    for i in range(0, len(matrix), max(1, len(matrix) // 50)):
        if not np.array_equal(
            trees.predict_proba(matrix[i : i + 1]), estimator.predict_proba(matrix[i : i + 1])
        ):
            return "compiled trees differ from the estimator on a single row"
    return None
