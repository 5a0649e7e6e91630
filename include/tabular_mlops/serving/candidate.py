"""Model tests on a model before it serves: the gate's own `model_tests` (schema accepted, scores in [0, 1],
missing values in nullable columns, p95 single-row latency) with the service's latency budget, on rows made
from the config schema (the service has no holdout data)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tabular_mlops.core.config import GateConfig, SchemaConfig, ServingConfig
from tabular_mlops.model.model_tests import GateResult, model_tests
from tabular_mlops.model.scoring import score_frame
from tabular_mlops.serving.compiled import compile_pipeline

PROBE_ROWS = 64
_GOLDEN = 0.6180339887  # a different stride per column, so the probe rows mix low and high values


def probe_frame(schema: SchemaConfig, rows: int = PROBE_ROWS) -> pd.DataFrame:
    """Deterministic rows inside every feature's range and category set (no nulls: model_tests adds them)."""
    data: dict[str, Any] = {}
    for k, spec in enumerate(schema.features):
        if spec.is_categorical:
            data[spec.name] = [spec.categories[(i * (k + 1)) % len(spec.categories)] for i in range(rows)]
            continue
        low = spec.min if spec.min is not None else 0.0
        high = spec.max if spec.max is not None else low + 1.0
        values = low + (high - low) * ((np.arange(rows) * _GOLDEN * (k + 1)) % 1.0)
        data[spec.name] = np.round(values) if spec.type == "int" else values
    return pd.DataFrame(data)


@dataclass(frozen=True)
class Prepared:
    """A loaded model made ready to serve: what will score (compiled or the pipeline), how, and its tests."""

    scorer: Any
    scoring: str
    tests: GateResult


def prepare(model: Any, schema: SchemaConfig, serving: ServingConfig, gate: GateConfig) -> Prepared:
    """Compile the pipeline's preprocessing if it verifies equal, then run the model tests on what will serve."""
    compiled, scoring = compile_pipeline(model, schema, probe_frame(schema))
    scorer = model if compiled is None else compiled
    return Prepared(compiled, scoring, check_candidate(scorer, schema, serving, gate))


def check_candidate(model: Any, schema: SchemaConfig, serving: ServingConfig, gate: GateConfig) -> GateResult:
    """The gate's model tests, scored through the shared scoring function, with the serving latency budget."""
    budget = dataclasses.replace(
        gate, latency_p95_ms=serving.latency_p95_ms, latency_samples=serving.latency_samples
    )
    return model_tests(lambda x: score_frame(model, x, schema), probe_frame(schema), schema, budget)
