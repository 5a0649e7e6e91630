"""The online service's night from the prediction log: answers, fallback rate and latency percentiles of the
night's online rows only, and their MLflow metrics next to drift."""

import datetime as dt

import numpy as np
import pandas as pd
from tabular_mlops.monitoring.log_window import online_night, scored_rows
from tabular_mlops.monitoring.night_record import ONLINE_LATENCY_MS, night_metrics, online_metrics
from tabular_mlops.monitoring.results import NightSummary, Status

NIGHT = dt.date(2026, 3, 1)


def _log(schema) -> pd.DataFrame:
    """100 online answers on NIGHT (latency 1..100 ms, 4 of them fallbacks without a score), online answers of
    the night before and batch rows of NIGHT (no latency): only the first 100 count."""
    at = dt.datetime.combine(NIGHT, dt.time(12))
    rows = [
        {"source": "online", "latency_ms": float(i), "fallback": i % 25 == 0, "score": None if i % 25 == 0 else 0.2,
         "model_version": "3" if i < 50 else "4", schema.timestamp_column: at}
        for i in range(1, 101)
    ]  # fmt: skip
    rows += [
        {"source": "online", "latency_ms": 999.0, "fallback": True, "score": None, "model_version": "3",
         schema.timestamp_column: at - dt.timedelta(days=1)}
    ] * 5  # fmt: skip
    rows += [
        {"source": "batch", "latency_ms": None, "fallback": False, "score": 0.4, "model_version": "3",
         schema.timestamp_column: at}
    ] * 20  # fmt: skip
    return pd.DataFrame(rows)


def test_the_nights_online_answers_latency_and_fallback_rate(repo_params):
    online = online_night(_log(repo_params.schema), repo_params.schema, NIGHT)
    assert online is not None and online.answers == 100 and online.fallbacks == 4
    assert online.fallback_rate == 0.04 and online.model_versions == ("3", "4")
    expected = np.percentile(np.arange(1, 101, dtype=float), [50, 95, 99])
    assert [online.latency_p50_ms, online.latency_p95_ms, online.latency_p99_ms] == [
        round(float(v), 4) for v in expected
    ]


def test_a_night_without_online_answers_has_no_online_figures(repo_params):
    log = _log(repo_params.schema)
    assert online_night(log[log["source"] == "batch"], repo_params.schema, NIGHT) is None
    assert online_night(log.iloc[0:0], repo_params.schema, NIGHT) is None
    assert online_metrics(None) == {}


def test_online_figures_are_mlflow_metrics_next_to_drift_and_survive_the_json_round_trip(repo_params):
    online = online_night(_log(repo_params.schema), repo_params.schema, NIGHT)
    summary = NightSummary(NIGHT, Status.NO_DATA, 0, 0, 10, 10.0, 0, online=online)
    metrics = night_metrics(summary)
    assert metrics["online.answers"] == 100 and metrics["online.fallback_rate"] == 0.04
    assert metrics[ONLINE_LATENCY_MS[99]] == online.latency_p99_ms
    assert NightSummary.from_dict(summary.to_dict()) == summary


def test_fallback_answers_are_left_out_of_drift(repo_params):
    scored = scored_rows(_log(repo_params.schema))
    assert len(scored) == 96 + 20 and scored["score"].notna().all()
