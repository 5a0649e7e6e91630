"""Shadow scoring off the critical path, in micro-batches: a request's answer is already computed when its rows are
handed here; `submit` only appends them to a bounded queue. One worker thread wakes every `batch_ms`, takes what
is queued and scores it with the challenger in one model call, then logs the answers (source shadow).

Why batches: a model call costs mostly per call (building the columns, the trees' set-up), not per row, and each
call holds the interpreter lock the primary's requests need. One call per few milliseconds instead of one per
request keeps the shadow's cost on the primary small (benchmarks/bench_shadow.py measures it).

Nothing here can reach the primary answer: `submit` never blocks and never raises. The queue holds at most
`max_queued_rows`; beyond that rows are dropped (counted), so a hanging challenger costs one stuck thread and a
full queue, never growing memory. Rows whose answer is ready later than `timeout_ms` after they were queued are
abandoned (not logged, counted): a thread cannot be killed, but a late answer is never used.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from tabular_mlops.serving.answers import Answer, Answerer, Records
from tabular_mlops.serving.holder import Served
from tabular_mlops.serving.prometheus_metrics import ServingMetrics

log = logging.getLogger(__name__)


@dataclass
class ShadowCounts:
    """Shadow rows since the start: scored and logged, failed in the model, timed out, dropped (queue full)."""

    scored: int = 0
    errors: int = 0
    timeouts: int = 0
    dropped: int = 0
    batches: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class _Queued:
    served: Served
    records: Records
    primary: list[Answer]
    arrived: list[float]
    queued: float = field(default_factory=time.perf_counter)


class ShadowRunner:
    def __init__(
        self,
        answers: Answerer,
        timeout_ms: float,
        batch_ms: float,
        max_queued_rows: int,
        metrics: ServingMetrics | None = None,
    ) -> None:
        self.answers, self.timeout_seconds = answers, timeout_ms / 1000.0
        self.batch_seconds, self.max_queued_rows = batch_ms / 1000.0, max_queued_rows
        self.metrics = metrics
        self.counts = ShadowCounts()
        self._queue: deque[_Queued] = deque()
        self._queued_rows = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None

    def submit(self, served: Served, records: Records, primary: list[Answer], arrived: list[float]) -> bool:
        """Queue a request's rows for the shadow model; False (and counted as dropped) when the queue is full."""
        with self._lock:
            if self._stop.is_set() or self._queued_rows + len(records) > self.max_queued_rows:
                self._count_locked("dropped", len(records))
                return False
            self._queue.append(_Queued(served, records, primary, arrived))
            self._queued_rows += len(records)
            if self._worker is None:  # started on first use: a service that never shadows has no such thread
                self._worker = threading.Thread(target=self._loop, name="shadow", daemon=True)
                self._worker.start()
        return True

    def _loop(self) -> None:
        while not self._stop.wait(self.batch_seconds):
            with self._lock:
                taken, self._queue = list(self._queue), deque()
                self._queued_rows = 0
            if taken:
                self._score(taken)

    def _score(self, taken: list[_Queued]) -> None:
        now = time.perf_counter()
        fresh = [q for q in taken if now - q.queued <= self.timeout_seconds]
        self._count("timeouts", sum(len(q.records) for q in taken if now - q.queued > self.timeout_seconds))
        # One model call per challenger version (a batch straddles a challenger change only at the moment it loads).
        by_version: dict[str, list[_Queued]] = {}
        for q in fresh:
            by_version.setdefault(q.served.version, []).append(q)
        for batch in by_version.values():
            rows = sum(len(q.records) for q in batch)
            deadline = min(q.queued for q in batch) + self.timeout_seconds
            try:
                # Scored, then judged against the oldest row's deadline before logging: a late answer is never used.
                self.answers.shadow(
                    batch[-1].served,
                    [r for q in batch for r in q.records],
                    [a for q in batch for a in q.primary],
                    [t for q in batch for t in q.arrived],
                    _Deadline(deadline).in_time,
                )
            except _Late:
                self._count("timeouts", rows)
                continue
            except Exception as exc:  # noqa: BLE001 - a failing challenger is counted, never raised anywhere
                self._count("errors", rows, f"{type(exc).__name__}: {str(exc)[:200]}")
                continue
            self._count("scored", rows)
            self._count("batches", 1)

    def _count(self, what: str, n: int, error: str | None = None) -> None:
        with self._lock:
            self._count_locked(what, n, error)

    def _count_locked(self, what: str, n: int, error: str | None = None) -> None:
        if n == 0:
            return
        setattr(self.counts, what, getattr(self.counts, what) + n)
        if error is not None:
            self.counts.last_error = error
        if self.metrics is not None and what != "batches":
            self.metrics.shadow_rows.labels(what).inc(n)

    def close(self) -> None:
        """Stop taking rows; a batch being scored is not waited for (a hung challenger must not hold the
        shutdown)."""
        self._stop.set()


class _Late(Exception):
    """The shadow answer was ready after its deadline."""


@dataclass(frozen=True)
class _Deadline:
    at: float

    def in_time(self) -> None:
        """Raise _Late when the deadline has passed (called between scoring and logging)."""
        if time.perf_counter() > self.at:
            raise _Late
