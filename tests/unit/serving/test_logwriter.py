"""The prediction-log writer against a real SQLite file: batched inserts, a database that is down (its folder
does not exist yet) keeps rows buffered and flushes them when it comes back, overflow is dropped and counted."""

import dataclasses
import datetime as dt
import time

import sqlalchemy as sa
from tabular_mlops.serving.logwriter import PredictionLogWriter
from tabular_mlops.serving.prometheus_metrics import ServingMetrics


def rows(schema, n: int, start: int = 0) -> list[dict]:
    at = dt.datetime(2026, 5, 1, 12)
    return [
        {
            "prediction_id": f"online:{i}",
            schema.id_column: f"app-{i}",
            schema.timestamp_column: at,
            **{f.name: None for f in schema.features},
            "score": 0.5,
            "decision": 1,
            "model_name": "credit_default",
            "model_version": "1",
            "scoring_run_id": "test",
            "source": "online",
        }
        for i in range(start, start + n)
    ]


def until(predicate, timeout=10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.02)
    return predicate()


def count(url: str) -> int:
    with sa.create_engine(url).connect() as conn:
        return conn.execute(sa.text("select count(*) from prediction_log")).scalar()


def writer_for(params, url: str, **serving) -> PredictionLogWriter:
    cfg = dataclasses.replace(params.serving, log_flush_seconds=0.02, **serving)
    return PredictionLogWriter(url, params.schema, cfg, ServingMetrics())


def test_rows_are_written_in_batches(repo_params, tmp_path):
    url = f"sqlite:///{tmp_path / 'log.db'}"
    writer = writer_for(repo_params, url, log_batch_rows=50)
    writer.start()
    assert writer.submit(rows(repo_params.schema, 120)) == 120
    assert until(lambda: writer.written == 120)
    assert writer.close() == 0 and count(url) == 120


def test_a_database_that_is_down_keeps_rows_until_it_returns(repo_params, tmp_path):
    folder = tmp_path / "not-yet"
    url = f"sqlite:///{folder / 'log.db'}"  # SQLite cannot open a file in a missing folder: the database is down
    writer = writer_for(repo_params, url, log_batch_rows=10, log_buffer_rows=100)
    writer.start()
    writer.submit(rows(repo_params.schema, 30))
    assert until(lambda: writer.down_since is not None)
    assert writer.written == 0 and writer.buffered == 30 and "OperationalError" in writer.last_error
    folder.mkdir()  # the database is back
    assert until(lambda: writer.written == 30, timeout=30)
    assert writer.down_since is None and writer.close() == 0 and count(url) == 30


def test_overflow_is_dropped_and_counted_never_blocking(repo_params, tmp_path):
    url = f"sqlite:///{tmp_path / 'missing' / 'log.db'}"
    writer = writer_for(repo_params, url, log_batch_rows=5, log_buffer_rows=20)
    writer.start()
    writer.submit(rows(repo_params.schema, 5))
    assert until(lambda: writer.down_since is not None)  # the writer holds one failed batch of 5
    started = time.perf_counter()
    accepted = writer.submit(rows(repo_params.schema, 30, start=5))
    assert time.perf_counter() - started < 0.5
    assert accepted == 20 and writer.dropped == 10
    assert writer.metrics.log_dropped._value.get() == 10
    assert writer.close(timeout=0.5) == 25  # at most buffer + one batch wait; the rest is reported
