"""The fitted pipeline's preprocessing compiled to a few numpy operations, for the single-row path.

A one-row `predict_proba` of the registered Pipeline spends most of its time in the ColumnTransformer's
per-call machinery (input checks, column selection by name, output containers, hstack), not in arithmetic. On
load, the fitted preprocessing (median imputation with missing indicators, optionally standard scaling, one-hot
encoding with unknown categories ignored) is read into arrays: fill values, indicator columns, scaling, a
category -> column lookup. The estimator is the pipeline's own fitted estimator, called as the pipeline calls it.

It is never trusted on its structure alone: `compile_pipeline` transforms probe rows (every category, unknown
categories, a missing value in every nullable column) both ways and scores them both ways, and returns the
compiled scorer only when the matrices and the scores are exactly equal (bit for bit); otherwise it returns the
reason and the service scores with the pipeline itself. Anything it does not recognise (another transformer,
another option) is refused the same way. Rows are independent in both, so equality on the probe rows is
equality of the same operations on any row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from tabular_mlops.core.config import SchemaConfig
from tabular_mlops.model.scoring import model_columns, model_frame
from tabular_mlops.serving.compiled_trees import CompiledTrees, NotCompilableError, verify_trees


@dataclass(frozen=True)
class _Numeric:
    columns: list[str]
    statistics: np.ndarray  # the imputer's fill value per column (NaN for a column it drops)
    keep: np.ndarray  # indexes of the columns the imputer keeps (a column never seen at fit is dropped)
    indicators: np.ndarray  # indexes of the columns that get a missing indicator
    mean: np.ndarray | None  # StandardScaler after the imputer, if any
    scale: np.ndarray | None

    def transform(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        x = np.column_stack([columns[c] for c in self.columns]).astype(np.float64, copy=False)
        missing = np.isnan(x)
        kept = np.where(missing, self.statistics, x)[:, self.keep]
        out = (
            np.hstack([kept, missing[:, self.indicators].astype(np.float64)])
            if len(self.indicators)
            else kept
        )
        if self.mean is not None:
            out -= self.mean
        if self.scale is not None:
            out /= self.scale
        return out


@dataclass(frozen=True)
class _Categorical:
    columns: list[str]
    lookup: tuple[dict[Any, int], ...]  # per column: category -> output column
    width: int

    def transform(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        out = np.zeros((len(columns[self.columns[0]]), self.width), dtype=np.float64)
        for values, lookup in zip((columns[c] for c in self.columns), self.lookup, strict=True):
            for i, value in enumerate(values):
                j = lookup.get(value)
                if j is not None:  # handle_unknown="ignore": an unseen category is all zeros
                    out[i, j] = 1.0
        return out


class CompiledPipeline:
    """The pipeline's `predict_proba` on `scoring.model_columns` arrays, with the preprocessing compiled (see the
    module docstring); `scoring.score_frame` calls `predict_proba_columns`."""

    def __init__(
        self, pipeline: Pipeline, parts: list[_Numeric | _Categorical], trees: CompiledTrees | None = None
    ) -> None:
        self.pipeline, self.parts, self.trees = pipeline, parts, trees
        self.estimator = pipeline.steps[-1][1]

    def transform_columns(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.hstack([part.transform(columns) for part in self.parts])

    def predict_proba_columns(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        return (self.trees or self.estimator).predict_proba(self.transform_columns(columns))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """As the pipeline's, on a model frame (what `model_frame` returns)."""
        return self.predict_proba_columns({c: frame[c].to_numpy() for c in frame.columns})


def _numeric(transformer: Any, columns: list[str]) -> _Numeric:
    steps = transformer.steps if isinstance(transformer, Pipeline) else [(None, transformer)]
    imputer, scaler = steps[0][1], None
    if len(steps) == 2:
        scaler = steps[1][1]
    if len(steps) > 2 or not isinstance(imputer, SimpleImputer) or type(imputer) is not SimpleImputer:
        raise NotCompilableError(f"numeric part {transformer!r} is not SimpleImputer [+ StandardScaler]")
    if imputer.strategy not in ("median", "mean", "constant", "most_frequent") or not (
        isinstance(imputer.missing_values, float) and np.isnan(imputer.missing_values)
    ):
        raise NotCompilableError(f"imputer {imputer!r}: only NaN as the missing value")
    if imputer.keep_empty_features:
        raise NotCompilableError("imputer keeps empty features")
    statistics = np.asarray(imputer.statistics_, dtype=np.float64)
    keep = np.flatnonzero(~np.isnan(statistics))
    indicators = np.array([], dtype=int)
    if imputer.add_indicator:
        indicator = imputer.indicator_
        if indicator.features != "missing-only" or indicator.sparse not in ("auto", False):
            raise NotCompilableError(f"missing indicator {indicator!r}")
        indicators = np.asarray(indicator.features_, dtype=int)
    mean = scale = None
    if scaler is not None:
        if type(scaler) is not StandardScaler:
            raise NotCompilableError(f"numeric scaling {scaler!r} is not StandardScaler")
        mean = np.asarray(scaler.mean_, dtype=np.float64) if scaler.with_mean else None
        scale = np.asarray(scaler.scale_, dtype=np.float64) if scaler.with_std else None
    return _Numeric(list(columns), statistics, keep, indicators, mean, scale)


def _categorical(encoder: Any, columns: list[str]) -> _Categorical:
    if type(encoder) is not OneHotEncoder:
        raise NotCompilableError(f"categorical part {encoder!r} is not OneHotEncoder")
    if encoder.handle_unknown != "ignore" or encoder.drop is not None or encoder.sparse_output:
        raise NotCompilableError(f"encoder {encoder!r}: only handle_unknown='ignore', no drop, dense output")
    if encoder.min_frequency is not None or encoder.max_categories is not None:
        raise NotCompilableError(f"encoder {encoder!r}: infrequent categories are not compiled")
    lookups, offset = [], 0
    for categories in encoder.categories_:
        lookups.append({value: offset + k for k, value in enumerate(categories.tolist())})
        offset += len(categories)
    return _Categorical(list(columns), tuple(lookups), offset)


def _parts(pipeline: Any) -> list[_Numeric | _Categorical]:
    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
        raise NotCompilableError("the model is not a two-step Pipeline (preprocessing, estimator)")
    pre = pipeline.steps[0][1]
    if type(pre) is not ColumnTransformer or pre.sparse_output_:
        raise NotCompilableError("the preprocessing is not a dense ColumnTransformer")
    parts: list[_Numeric | _Categorical] = []
    for name, transformer, columns in pre.transformers_:
        if name == "remainder":
            if transformer != "drop":
                raise NotCompilableError("the ColumnTransformer passes remaining columns through")
            continue
        if transformer == "drop":
            continue
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise NotCompilableError(f"part {name!r} selects columns other than by name")
        if isinstance(transformer, OneHotEncoder):
            parts.append(_categorical(transformer, columns))
        else:
            parts.append(_numeric(transformer, columns))
    return parts


def verification_frame(schema: SchemaConfig, probe: pd.DataFrame) -> pd.DataFrame:
    """The probe rows, the same rows with every nullable value missing, with categories never seen in training,
    and every known category of every categorical column: the cases the compiled operations must get right."""
    base: list[dict[str, Any]] = probe[schema.feature_names].to_dict("records")
    nullable = [f.name for f in schema.features if f.nullable]
    categorical = schema.categorical_features
    rows = list(base)
    rows += [{**r, **dict.fromkeys(nullable)} for r in base]
    rows += [{**r, **dict.fromkeys(categorical, "__never_seen_in_training__")} for r in base]
    for f in schema.features:
        if f.is_categorical:
            rows += [{**base[0], f.name: value} for value in f.categories]
    return pd.DataFrame.from_records(rows, columns=schema.feature_names)


def compile_pipeline(
    pipeline: Any, schema: SchemaConfig, probe: pd.DataFrame
) -> tuple[CompiledPipeline | None, str]:
    """The compiled scorer and how it was verified, or None and why the pipeline itself must score."""
    try:
        compiled = CompiledPipeline(pipeline, _parts(pipeline))
        rows = verification_frame(schema, probe)
        columns, frame = model_columns(rows, schema), model_frame(rows, schema)
        expected = pipeline.steps[0][1].transform(frame)
        got = compiled.transform_columns(columns)
        if got.shape != expected.shape or got.dtype != expected.dtype or not np.array_equal(got, expected):
            return None, "pipeline scores: compiled preprocessing differs from the pipeline's on probe rows"
        trees, trees_how = _trees(compiled.estimator, expected)
        compiled = CompiledPipeline(pipeline, compiled.parts, trees)
        # Both ways the scoring function goes: the input arrays (online) and a model frame.
        reference = pipeline.predict_proba(frame)
        for scores in (compiled.predict_proba_columns(columns), compiled.predict_proba(frame)):
            if not np.array_equal(scores, reference):
                return None, "pipeline scores: compiled scores differ from the pipeline's on probe rows"
    except NotCompilableError as exc:
        return None, f"pipeline scores: not compiled ({exc})"
    except Exception as exc:  # noqa: BLE001 - whatever fails here, the pipeline itself still scores
        return None, f"pipeline scores: compiling failed ({type(exc).__name__}: {exc})"
    return compiled, f"compiled preprocessing{trees_how}, equal to the pipeline on {len(frame)} probe rows"


def _trees(estimator: Any, matrix: np.ndarray) -> tuple[CompiledTrees | None, str]:
    """The estimator's trees compiled and verified on `matrix` (the transformed probe rows) and every split
    boundary, or None (the estimator itself scores) and the reason, as text to append to how it scores."""
    try:
        trees = CompiledTrees(estimator)
        refused = verify_trees(trees, estimator, matrix)
    except NotCompilableError as exc:
        return None, f" (estimator not compiled: {exc})"
    except Exception as exc:  # noqa: BLE001 - e.g. a private sklearn attribute renamed: the estimator scores
        return None, f" (estimator not compiled: {type(exc).__name__}: {exc})"
    return (None, f" (estimator not compiled: {refused})") if refused else (trees, " and trees")
