"""Shadow scoring off the critical path: the request's answer is already computed when its records are handed
here; a small pool of worker threads scores them with the challenger and logs the answers (source shadow).

Nothing here can reach the primary answer: `submit` never blocks and never raises. At most `max_in_flight`
shadow jobs exist; beyond that a request is not shadowed (counted as skipped), so a hanging challenger costs a
few stuck threads, never a growing queue. A job whose answer is ready after `timeout_ms` is abandoned (not
logged, counted): a thread cannot be killed, but its late answer is never used.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tabular_mlops.serving.answers import Answer, Answerer, Records
from tabular_mlops.serving.holder import Served

log = logging.getLogger(__name__)

WORKERS = 2
MAX_IN_FLIGHT = 8


@dataclass
class ShadowCounts:
    """What happened to the shadow jobs since the start: logged, failed, timed out, skipped (pool full)."""

    logged: int = 0
    failed: int = 0
    timed_out: int = 0
    skipped: int = 0
    last_error: str | None = None


class ShadowRunner:
    def __init__(self, answers: Answerer, timeout_ms: float, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self.answers, self.timeout_seconds = answers, timeout_ms / 1000.0
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="shadow")
        self.counts = ShadowCounts()
        self._lock = threading.Lock()

    def submit(self, served: Served, records: Records, primary: list[Answer], arrived: list[float]) -> bool:
        """Hand a request's records to the shadow model; False (and counted) when every slot is busy."""
        if not self._slots.acquire(blocking=False):
            self._count("skipped")
            return False
        try:
            self._pool.submit(self._run, served, records, primary, arrived, time.perf_counter())
        except RuntimeError:  # the pool is shut down: the service is stopping
            self._slots.release()
            return False
        return True

    def _run(
        self, served: Served, records: Records, primary: list[Answer], arrived: list[float], queued: float
    ) -> None:
        try:
            if time.perf_counter() - queued > self.timeout_seconds:
                self._count("timed_out")
                return
            try:
                # Scored, then judged against the deadline before logging: a late answer is never used.
                job = _Deadline(queued + self.timeout_seconds)
                self.answers.shadow(served, records, primary, arrived, job.in_time)
            except _Late:
                self._count("timed_out")
                return
            except Exception as exc:  # noqa: BLE001 - a failing challenger is counted, never raised anywhere
                self._count("failed", f"{type(exc).__name__}: {str(exc)[:200]}")
                return
            self._count("logged", n=len(records))
        finally:
            self._slots.release()

    def _count(self, what: str, error: str | None = None, n: int = 1) -> None:
        with self._lock:
            setattr(self.counts, what, getattr(self.counts, what) + n)
            if error is not None:
                self.counts.last_error = error

    def close(self) -> None:
        """Stop taking jobs; running ones are not waited for (a hung challenger must not hold the shutdown)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


class _Late(Exception):
    """The shadow answer was ready after its deadline."""


@dataclass(frozen=True)
class _Deadline:
    at: float

    def in_time(self) -> None:
        """Raise _Late when the deadline has passed (called between scoring and logging)."""
        if time.perf_counter() > self.at:
            raise _Late
