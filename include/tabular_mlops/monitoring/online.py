"""The online service's night, from the prediction log: answers, latency percentiles and fallback rate, and
their MLflow metric names (spelled here only). The service logs every answer with its latency (fallback answers
too, without a score), so the log alone tells how the night went online."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from tabular_mlops.core.config import SchemaConfig
from tabular_mlops.core.contracts import ONLINE_SOURCE
from tabular_mlops.monitoring.results import OnlineServing
from tabular_mlops.store.prediction_log import FALLBACK_COLUMN, LATENCY_COLUMN

# MLflow metric names of the night's online figures (logged next to drift, step = night).
ONLINE_ANSWERS = "online.answers"
ONLINE_FALLBACKS = "online.fallbacks"
ONLINE_FALLBACK_RATE = "online.fallback_rate"
ONLINE_LATENCY_MS = {50: "online.latency_p50_ms", 95: "online.latency_p95_ms", 99: "online.latency_p99_ms"}


def online_night(rows: pd.DataFrame, schema: SchemaConfig, night: dt.date) -> OnlineServing | None:
    """The online answers logged on `night` (UTC) among `rows` (prediction-log rows); None when there are none."""
    if rows.empty or "source" not in rows:
        return None
    on = rows[(rows["source"] == ONLINE_SOURCE) & (rows[schema.timestamp_column].dt.date == night)]
    if on.empty:
        return None
    fallback = (
        on[FALLBACK_COLUMN].fillna(False).astype(bool)
        if FALLBACK_COLUMN in on
        else pd.Series(False, index=on.index)
    )
    latency = pd.to_numeric(on.get(LATENCY_COLUMN), errors="coerce").dropna().to_numpy(float)
    p50, p95, p99 = (
        (round(float(v), 4) for v in np.percentile(latency, [50, 95, 99]))
        if latency.size
        else (None, None, None)
    )
    return OnlineServing(
        answers=len(on),
        fallbacks=int(fallback.sum()),
        fallback_rate=round(float(fallback.mean()), 6),
        latency_p50_ms=p50,
        latency_p95_ms=p95,
        latency_p99_ms=p99,
        model_versions=tuple(sorted(str(v) for v in on["model_version"].unique())),
    )


def online_metrics(online: OnlineServing | None) -> dict[str, float]:
    """The night's online figures as MLflow metrics (none on a night without online answers)."""
    if online is None:
        return {}
    metrics = {
        ONLINE_ANSWERS: float(online.answers),
        ONLINE_FALLBACKS: float(online.fallbacks),
        ONLINE_FALLBACK_RATE: online.fallback_rate,
    }
    for q, value in ((50, online.latency_p50_ms), (95, online.latency_p95_ms), (99, online.latency_p99_ms)):
        if value is not None:
            metrics[ONLINE_LATENCY_MS[q]] = value
    return metrics
