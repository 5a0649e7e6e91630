"""A load generator: replays the simulator's rows against the scoring service's POST /predict at a
given rate with at most `concurrency` requests in flight, re-submitting a share of earlier rows with
the same id (so sticky routing can be seen), and summarises statuses, latencies and answering versions.

Open loop: request i is due at start + i / rate whatever the answers do, as real clients arrive; when every
connection is busy it waits, and the summary's achieved rate shows it. Used to rehearse every deployment
strategy on the local stack.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import math
import random
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from tabular_mlops.data.simulate import generate_day

TRANSPORT_ERROR = "transport_error"
# Distinct error texts kept in the summary: enough to see what failed without a log in the JSON.
_ERROR_SAMPLES = 5


@dataclass(frozen=True)
class TrafficPlan:
    """Where and how hard: the service's base URL, requests per second, connections, how many requests, the
    share that re-submits an earlier row (same id and body), the per-request timeout, the seed."""

    url: str
    rate_per_second: float
    concurrency: int
    requests: int
    resubmit_share: float = 0.1
    timeout_seconds: float = 10.0
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {
            "rate_per_second": math.isfinite(self.rate_per_second) and self.rate_per_second > 0,
            "concurrency": self.concurrency >= 1,
            "requests": self.requests >= 1,
            "resubmit_share": 0 <= self.resubmit_share < 1,
            "timeout_seconds": self.timeout_seconds > 0,
        }
        bad = [f"{k}={getattr(self, k)}" for k, ok in checks.items() if not ok]
        if bad or not self.url.startswith(("http://", "https://")):
            raise ValueError(f"traffic plan: out of range: {', '.join(bad) or f'url={self.url!r}'}")


@dataclass(frozen=True)
class TrafficSummary:
    """What the service answered: counts by HTTP status (or `transport_error`), latency percentiles in ms,
    answers by model version, fallbacks, re-submissions and ids answered by more than one version."""

    requests: int
    seconds: float
    achieved_rate: float
    statuses: dict[str, int]
    latency_ms: dict[str, float]
    by_model_version: dict[str, int]
    fallbacks: int
    resubmitted: int
    ids_answered_by_several_versions: int
    errors: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"errors": list(self.errors)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrafficSummary:
        return cls(**{**data, "errors": tuple(data["errors"])})


@dataclass
class _Answer:
    entity_id: str
    resubmitted: bool
    status: str
    latency_ms: float | None
    model_version: str | None = None
    fallback: bool = False
    error: str | None = None


def simulated_rows(
    day: dt.date,
    rows: int,
    seed: int,
    *,
    id_column: str,
    feature_columns: Sequence[str],
    scenario: str = "stable",
) -> list[dict[str, Any]]:
    """One simulated day as request bodies: the id and the features, missing values as null."""
    frame = generate_day(day, rows, seed, scenario)
    missing = sorted(set([id_column, *feature_columns]) - set(frame.columns))
    if missing:
        raise ValueError(f"traffic: the simulator's rows lack columns {missing} (scenario {scenario!r})")
    return [
        {k: _json_value(v) for k, v in row.items()}
        for row in frame[[id_column, *feature_columns]].to_dict("records")
    ]


def run_traffic(plan: TrafficPlan, records: Sequence[dict[str, Any]], *, id_column: str) -> TrafficSummary:
    """Replay `records` per `plan` and wait for every answer (blocking; see `replay` for async code)."""
    return asyncio.run(replay(plan, records, id_column=id_column))


async def replay(plan: TrafficPlan, records: Sequence[dict[str, Any]], *, id_column: str) -> TrafficSummary:
    """The async load generator behind `run_traffic`."""
    bodies = _request_bodies(plan, records, id_column)
    limits = httpx.Limits(max_connections=plan.concurrency, max_keepalive_connections=plan.concurrency)
    slots = asyncio.Semaphore(plan.concurrency)
    answers: list[_Answer] = []
    async with httpx.AsyncClient(
        base_url=plan.url, timeout=plan.timeout_seconds, limits=limits, trust_env=False
    ) as client:
        start = time.perf_counter()
        tasks = []
        for i, (body, again) in enumerate(bodies):
            await asyncio.sleep(max(0.0, start + i / plan.rate_per_second - time.perf_counter()))
            await slots.acquire()
            tasks.append(
                asyncio.create_task(_send(client, body, str(body[id_column]), again, slots, answers))
            )
        await asyncio.gather(*tasks)
        seconds = time.perf_counter() - start
    return _summary(answers, seconds)


def _request_bodies(
    plan: TrafficPlan, records: Sequence[dict[str, Any]], id_column: str
) -> list[tuple[dict[str, Any], bool]]:
    """The bodies in sending order, each with whether it re-submits an earlier one. Past the end of
    `records` they are reused under new ids (`<id>~2`, ...), so a fresh request is a fresh id."""
    if not records or any(id_column not in a for a in records):
        raise ValueError(f"traffic: every row needs its id column {id_column!r}")
    rng = random.Random(plan.seed)
    sent: list[dict[str, Any]] = []
    bodies: list[tuple[dict[str, Any], bool]] = []
    for _ in range(plan.requests):
        if sent and rng.random() < plan.resubmit_share:
            bodies.append((rng.choice(sent), True))
            continue
        lap, index = divmod(len(sent), len(records))
        body = dict(records[index])
        if lap:
            body[id_column] = f"{body[id_column]}~{lap + 1}"
        sent.append(body)
        bodies.append((body, False))
    return bodies


async def _send(
    client: httpx.AsyncClient,
    body: dict[str, Any],
    entity_id: str,
    resubmitted: bool,
    slots: asyncio.Semaphore,
    answers: list[_Answer],
) -> None:
    began = time.perf_counter()
    try:
        response = await client.post("/predict", json=body)
        elapsed_ms = (time.perf_counter() - began) * 1e3
    except httpx.HTTPError as exc:
        answers.append(_Answer(entity_id, resubmitted, TRANSPORT_ERROR, None, error=type(exc).__name__))
        return
    finally:
        slots.release()
    answer = _Answer(entity_id, resubmitted, str(response.status_code), elapsed_ms)
    if response.status_code == 200:
        payload = response.json()
        answer.model_version, answer.fallback = (
            str(payload.get("model_version")),
            bool(payload.get("fallback")),
        )
    else:
        answer.error = f"HTTP {response.status_code}: {response.text[:200]}"
    answers.append(answer)


def _summary(answers: list[_Answer], seconds: float) -> TrafficSummary:
    latencies = sorted(a.latency_ms for a in answers if a.latency_ms is not None)
    versions_by_id: dict[str, set[str]] = defaultdict(set)
    for a in answers:
        if a.model_version is not None:
            versions_by_id[a.entity_id].add(a.model_version)
    return TrafficSummary(
        requests=len(answers),
        seconds=round(seconds, 3),
        achieved_rate=round(len(answers) / seconds, 2) if seconds > 0 else 0.0,
        statuses=dict(sorted(Counter(a.status for a in answers).items())),
        latency_ms=_percentiles(latencies),
        by_model_version=dict(sorted(Counter(a.model_version for a in answers if a.model_version).items())),
        fallbacks=sum(a.fallback for a in answers),
        resubmitted=sum(a.resubmitted for a in answers),
        ids_answered_by_several_versions=sum(len(v) > 1 for v in versions_by_id.values()),
        errors=tuple(dict.fromkeys(a.error for a in answers if a.error))[:_ERROR_SAMPLES],
    )


def _percentiles(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {}
    cuts = (
        statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else latencies * 99
    )
    return {
        k: round(v, 3)
        for k, v in (("p50", cuts[49]), ("p95", cuts[94]), ("p99", cuts[98]), ("max", latencies[-1]))
    }


def _json_value(value: Any) -> Any:
    """A simulator cell as JSON: numpy scalars as Python numbers, NaN and NaT as null."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
