"""Every answer goes to the prediction log, off the request's path: requests put rows on a bounded queue, one
background thread inserts them in batches. While the database is down the thread keeps its failed batch and
retries with backoff; the queue fills up to `serving.log_buffer_rows` and what does not fit is dropped and
counted (metric `serving_log_dropped_rows_total`), never silently. At most buffer + one batch rows wait.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from typing import Any

import sqlalchemy as sa

from tabular_mlops.core.config import SchemaConfig, ServingConfig
from tabular_mlops.serving.prometheus_metrics import ServingMetrics
from tabular_mlops.store.prediction_log import ensure_table, keyed

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 10.0


class PredictionLogWriter:
    def __init__(
        self, url: str, schema: SchemaConfig, serving: ServingConfig, metrics: ServingMetrics
    ) -> None:
        self.url, self.schema, self.metrics = url, schema, metrics
        self.batch_rows, self.flush_seconds = serving.log_batch_rows, serving.log_flush_seconds
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=serving.log_buffer_rows)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prediction-log-writer", daemon=True)
        self._engine: sa.Engine | None = None
        self._table: sa.Table | None = None
        self._pending: list[dict[str, Any]] = []
        self.written = 0
        self.dropped = 0
        self._drop_lock = threading.Lock()
        self.down_since: dt.datetime | None = None
        self.last_error: str | None = None

    # ------------------------------------------------------------------ request side (never blocks)

    def submit(self, rows: list[dict[str, Any]]) -> int:
        """Queue rows for the log; returns how many were accepted (the rest are dropped and counted)."""
        for i, row in enumerate(rows):
            try:
                self._queue.put_nowait(row)
            except queue.Full:
                lost = len(rows) - i
                with self._drop_lock:
                    self.dropped += lost
                self.metrics.log_dropped.inc(lost)
                return i
        return len(rows)

    @property
    def buffered(self) -> int:
        return self._queue.qsize() + len(self._pending)

    # ------------------------------------------------------------------ writer thread

    def start(self) -> None:
        self._thread.start()

    def close(self, timeout: float = 5.0) -> int:
        """Stop after flushing what is buffered (at most `timeout` seconds); returns the rows left unwritten."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        left = self.buffered
        if left:
            log.error(
                "prediction log: %d row(s) not written at shutdown (database: %s)", left, self.last_error
            )
        return left

    def _run(self) -> None:
        backoff = self.flush_seconds
        while not (self._stop.is_set() and not self.buffered):
            if not self._pending:
                self._pending = self._take()
            self.metrics.log_buffered.set(self.buffered)
            if not self._pending:
                continue
            try:
                self._insert(self._pending)
            except Exception as exc:  # noqa: BLE001 - any database failure: keep the rows, retry later
                self._failed(exc)
                if self._stop.wait(backoff):
                    return  # shutting down while the database is down: close() reports what is left
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            self.written += len(self._pending)
            self.metrics.log_written.inc(len(self._pending))
            self._pending = []
            backoff = self.flush_seconds
            if self.down_since is not None:
                log.warning("prediction log database is back (down since %s)", self.down_since.isoformat())
            self.down_since, self.last_error = None, None

    def _take(self) -> list[dict[str, Any]]:
        """Up to one batch: wait for the first row at most `flush_seconds`, then gather rows for up to
        `flush_seconds` more. One insert (one commit) per interval instead of one per few requests: each insert
        holds the GIL while SQLAlchemy builds it, and those pauses were the single-row latency tail."""
        try:
            rows = [self._queue.get(timeout=self.flush_seconds)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.flush_seconds
        while len(rows) < self.batch_rows:
            # Shutting down: no more waiting, but whole batches, so close() drains a backlog in few inserts.
            remaining = 0.0 if self._stop.is_set() else deadline - time.monotonic()
            try:
                rows.append(self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait())
            except queue.Empty:
                break
        return rows

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        if self._engine is None:
            # pre_ping: after an outage the pool's old connections are dead; test one before using it.
            self._engine = sa.create_engine(self.url, pool_pre_ping=True)
        if self._table is None:
            self._table = ensure_table(self._engine, self.schema)
        with self._engine.begin() as conn:
            conn.execute(self._table.insert(), keyed(rows))

    def _failed(self, exc: Exception) -> None:
        self.metrics.log_failures.inc()
        first = self.down_since is None
        self.down_since = self.down_since or dt.datetime.now(dt.UTC)
        self.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        if first:
            log.warning(
                "prediction log database unreachable, %d row(s) buffered: %s", self.buffered, self.last_error
            )
