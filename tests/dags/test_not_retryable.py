"""Issue 22 items 2 and 11: bad input fails a task without retry. The package marks such errors
`NotRetryableError` (unparseable times, unknown labels, values of the wrong type) and the DAG tasks turn them into
Airflow's non-retryable failure; a manual run without a logical date fails the same way, naming what to do."""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest
from airflow.sdk.exceptions import AirflowFailException
from tabular_mlops.store.time_columns import to_naive_utc
from tabular_mlops_airflow.settings import fail_fast

from tests.support.project import REPO


def _dag_module(name: str):
    spec = importlib.util.spec_from_file_location(f"_dag_{name}", REPO / "dags" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bad_input_from_the_package_fails_without_retry():
    with pytest.raises(AirflowFailException, match="time column 'applied_at' holds 1 value"):
        with fail_fast():
            to_naive_utc(pd.Series(["yesterday"]), "applied_at")


def test_other_failures_stay_retryable():
    with pytest.raises(ConnectionError):
        with fail_fast():
            raise ConnectionError("source database 'source_db' is down")


def test_a_manual_ingest_without_a_logical_date_fails_without_retry():
    ingest = _dag_module("ingest")
    with pytest.raises(AirflowFailException, match="no logical date.*window_start and window_end"):
        ingest._interval({"params": {}, "logical_date": None})
    assert ingest._interval({"params": {"window_start": "2026-02-01", "window_end": "2026-02-03"}}) == (
        "2026-02-01",
        "2026-02-03",
    )


def test_a_manual_monitoring_run_without_a_logical_date_fails_without_retry():
    monitor = _dag_module("monitor_nightly")
    with pytest.raises(AirflowFailException, match="no logical date"):
        monitor._night({"logical_date": None, "data_interval_start": None})
