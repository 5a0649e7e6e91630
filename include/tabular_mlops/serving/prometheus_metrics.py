"""Prometheus metrics of one service instance, in its own registry (a second app in the same process, as in
tests, does not collide with the first). Latency buckets are fine below 10 ms, where a single row is answered,
so p50/p95/p99 can be read with `histogram_quantile`."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST
SHADOW_OUTCOMES = ("scored", "errors", "timeouts", "dropped")


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "serving_requests",
            "Requests by route, status and model version",
            ["route", "status", "version"],
            registry=r,
        )
        self.latency = Histogram(
            "serving_request_seconds",
            "Request latency by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # Where the time goes inside /predict: the model (frame + predict_proba) and handing rows to the log writer.
        self.stage = Histogram(
            "serving_stage_seconds",
            "Time per stage of a scoring request",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.predictions = Counter("serving_predictions", "Rows scored", ["version"], registry=r)
        self.fallbacks = Counter(
            "serving_fallbacks", "Answers given by the fallback decision", ["reason"], registry=r
        )
        self.validation_errors = Counter(
            "serving_validation_errors", "Requests refused with 422", ["route"], registry=r
        )
        self.reloads = Counter("serving_reloads", "Champion refreshes by outcome", ["outcome"], registry=r)
        self.cache_errors = Counter("serving_cache_errors", "Champions that could not be cached", registry=r)
        self.log_written = Counter(
            "serving_log_written_rows", "Rows written to the prediction log", registry=r
        )
        self.log_dropped = Counter(
            "serving_log_dropped_rows", "Rows dropped because the log buffer was full", registry=r
        )
        self.log_failures = Counter("serving_log_write_failures", "Failed prediction-log inserts", registry=r)
        self.log_buffered = Gauge(
            "serving_log_buffered_rows", "Rows waiting for the prediction log", registry=r
        )
        self.shadow_rows = Counter(
            "serving_shadow_rows",
            "Rows the challenger scored in shadow, by outcome: scored (logged), errors, timeouts, dropped",
            ["outcome"],
            registry=r,
        )
        for outcome in SHADOW_OUTCOMES:  # every series from the start (0), so a rate() has a baseline
            self.shadow_rows.labels(outcome)
        self.model = Gauge(
            "serving_model", "1 for the version that answers", ["name", "version", "origin"], registry=r
        )
        self.degraded = Gauge("serving_degraded", "1 while /health/ready says degraded", registry=r)
        self.champion_refused = Gauge(
            "serving_champion_refused",
            "1 while the registry's champion is a version the service refused (not gate-promoted, checksum, tests)",
            ["version"],
            registry=r,
        )

    def serving(self, name: str, version: str, origin: str) -> None:
        """Exactly one series of `serving_model` is 1: the version answering now."""
        self.model.clear()
        self.model.labels(name, version, origin).set(1)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
