"""The scoring service without HTTP: start from the registry or the cache, answer applications with the shared
scoring function, log every answer, report readiness. `app.py` puts FastAPI in front of it."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tabular_mlops.artifacts import CHAMPION, ONLINE_SOURCE, Tag
from tabular_mlops.config import Params
from tabular_mlops.model_store import UntrustedModelError
from tabular_mlops.scoring import score_frame
from tabular_mlops.serving.cache import ModelCache
from tabular_mlops.serving.candidate import check_candidate
from tabular_mlops.serving.follower import ChampionFollower, Reload
from tabular_mlops.serving.holder import ModelHolder, Served
from tabular_mlops.serving.logwriter import PredictionLogWriter
from tabular_mlops.serving.metrics import ServingMetrics
from tabular_mlops.serving.watcher import RegistryWatcher

log = logging.getLogger(__name__)

ENV_MONITORING_DB = "MLOPS_MONITORING_DB_URL"
ENV_ADMIN_TOKEN = "MLOPS_SERVING_ADMIN_TOKEN"
# Or a file holding it (what the local stack uses: the token stays out of process listings and config files).
ENV_ADMIN_TOKEN_FILE = "MLOPS_SERVING_ADMIN_TOKEN_FILE"
# The embedded default of the monitoring database, as for the CLI and the stack (relative to the project).
DEFAULT_MONITORING_DB = "var/monitoring.db"


Records = list[dict[str, Any]]
Answer = dict[str, Any]  # the fields of schema.Prediction


class StartupError(RuntimeError):
    """The service cannot answer: no champion from the registry and none in the cache. The message says why."""


@dataclass(frozen=True)
class ServiceEnv:
    """What the environment decides: where the registry and the log are, and the admin token (never a default)."""

    tracking_uri: str
    monitoring_db_url: str
    admin_token: str | None

    @classmethod
    def from_environ(cls, root: Path) -> ServiceEnv:
        return cls(
            tracking_uri=os.environ.get("MLFLOW_TRACKING_URI")
            or f"sqlite:///{root / 'var' / 'mlflow' / 'mlflow.db'}",
            monitoring_db_url=os.environ.get(ENV_MONITORING_DB)
            or f"sqlite:///{root / DEFAULT_MONITORING_DB}",
            admin_token=os.environ.get(ENV_ADMIN_TOKEN)
            or _token_from_file(os.environ.get(ENV_ADMIN_TOKEN_FILE)),
        )


def _token_from_file(path: str | None) -> str | None:
    if not path:
        return None
    try:
        return Path(path).read_text().strip() or None
    except OSError as exc:
        raise StartupError(
            f"{ENV_ADMIN_TOKEN_FILE}={path}: cannot read the admin token ({exc.strerror})"
        ) from exc


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ScoringService:
    def __init__(self, params: Params, env: ServiceEnv, root: Path) -> None:
        self.params, self.env = params, env
        self.schema, self.serving = params.schema, params.serving
        self.model_name = params.registry.model_name
        self.threshold = params.evaluate.decision_threshold
        self.metrics = ServingMetrics()
        self.holder = ModelHolder()
        self.cache = ModelCache(root / self.serving.cache_dir, self.model_name)
        self.follower = ChampionFollower(params, self.holder, self.cache, self.metrics)
        self.writer = PredictionLogWriter(env.monitoring_db_url, self.schema, self.serving, self.metrics)
        self.watcher = RegistryWatcher(self.follower, self.serving.poll_seconds)
        self.started_at = _utcnow()
        self.instance = (
            f"{ONLINE_SOURCE}:{socket.gethostname()}:{os.getpid()}:{self.started_at:%Y%m%dT%H%M%S}"
        )
        self.cache_reason: str | None = None

    # ------------------------------------------------------------------ lifecycle

    def load_initial(self) -> Reload:
        """The champion from the registry, else the last good one from the cache; StartupError when neither."""
        first = self.follower.refresh()
        if self.holder.loaded:
            self._announce()
            return first
        try:
            cached = self.cache.load_last_good()
        except UntrustedModelError as exc:
            raise StartupError(f"{self._no_registry(first)}, and the cached model is refused: {exc}") from exc
        if cached is None:
            raise StartupError(
                f"{self._no_registry(first)}, and no champion is cached in {self.cache.root} "
                "(the service caches each champion it loads: start it once while the registry is reachable)"
            )
        tests = check_candidate(cached.loaded.model, self.schema, self.serving, self.params.gate)
        if not tests.passed:
            raise StartupError(
                f"{self._no_registry(first)}, and the cached v{cached.loaded.version} fails: {tests.reason}"
            )
        self.cache_reason = f"{first.reason} (cached {cached.cached_at})"
        self.holder.swap(Served(cached.loaded, "cache", _utcnow(), tests.reason))
        self._announce()
        return first

    def _no_registry(self, first: Reload) -> str:
        return f"cannot start: no champion of '{self.model_name}' from the registry at {self.env.tracking_uri} ({first.reason})"

    def _announce(self) -> None:
        served = self.holder.current
        log.warning("serving %s v%s from the %s", self.model_name, served.version, served.origin)

    def exposition(self) -> bytes:
        """The metrics text; gauges of state (version, degraded, buffer) are read now, whichever thread changed it."""
        served = self.holder.current
        self.metrics.serving(self.model_name, served.version, served.origin)
        self.metrics.log_buffered.set(self.writer.buffered)
        self.readiness()
        return self.metrics.exposition()

    def start(self) -> None:
        self.writer.start()
        self.watcher.start()

    def stop(self) -> None:
        self.watcher.stop()
        self.writer.close()

    def reload(self, force: bool = True) -> Reload:
        return self.follower.refresh(force=force)

    def rollback(self) -> tuple[Served, Served]:
        now, left = self.holder.rollback()
        self._announce()
        return now, left

    # ------------------------------------------------------------------ answers
    # Answers are plain dicts shaped like `schema.Prediction` (the route's documented model): building and
    # re-validating a pydantic object per row costs more than the JSON itself on a batch.

    def score(self, records: Records) -> list[Answer]:
        """Score applications (validated, keyed by column name) with the model serving now."""
        return self.score_groups([records])[0]

    def score_groups(self, groups: list[Records]) -> list[list[Answer]]:
        """Several requests' applications in one model call (see batcher.py), answers split back per request.

        A model failure answers the fallback decision and the process goes on; when several requests were
        scored together, each is tried alone first, so only the one the model fails on gets the fallback.
        """
        served = self.holder.current
        records = [r for group in groups for r in group]
        started = time.perf_counter()
        try:
            scores = self._scores(served, records)
        except Exception as exc:  # noqa: BLE001 - whatever the model raises, the applicant gets the safe decision
            if len(groups) > 1:
                return [self.score_groups([group])[0] for group in groups]
            return [self._fallback(served, records, exc)]
        self.metrics.stage.labels("model").observe(time.perf_counter() - started)
        self.metrics.predictions.labels(served.version).inc(len(records))
        answers = [self._answer(served, r, float(s)) for r, s in zip(records, scores, strict=True)]
        logged = time.perf_counter()
        self.writer.submit(self._log_rows(served, records, answers))
        self.metrics.stage.labels("log").observe(time.perf_counter() - logged)
        out, i = [], 0
        for group in groups:
            out.append(answers[i : i + len(group)])
            i += len(group)
        return out

    def _scores(self, served: Served, records: Records) -> np.ndarray:
        frame = pd.DataFrame.from_records(records, columns=self.schema.feature_names)
        scores = score_frame(served.loaded.model, frame, self.schema)
        if (
            scores.shape != (len(records),)
            or not np.all(np.isfinite(scores))
            or np.any((scores < 0) | (scores > 1))
        ):
            raise ValueError(f"the model returned {scores.shape} scores that are not probabilities in [0, 1]")
        return scores

    def _application_id(self, record: dict[str, Any]) -> str:
        return str(record.get(self.schema.id_column) or uuid.uuid4().hex)

    def _answer(self, served: Served, record: dict[str, Any], score: float) -> Answer:
        high = score >= self.threshold  # the batch rule: decision 1 when the score reaches the threshold
        return {
            "prediction_id": f"{ONLINE_SOURCE}:{uuid.uuid4().hex}",
            "application_id": self._application_id(record),
            "score": score,
            "decision": self.serving.high_risk_decision if high else self.serving.low_risk_decision,
            "fallback": False,
            "model_name": self.model_name,
            "model_version": served.version,
        }

    def _fallback(self, served: Served, records: Records, exc: Exception) -> list[Answer]:
        self.metrics.fallbacks.labels(type(exc).__name__).inc(len(records))
        # The payload is not logged (credit data), only what failed.
        log.error("model v%s failed on %d application(s), answered %r: %s: %s", served.version, len(records),
                  self.serving.fallback_decision, type(exc).__name__, str(exc)[:300])  # fmt: skip
        return [
            {
                "prediction_id": f"{ONLINE_SOURCE}:{uuid.uuid4().hex}",
                "application_id": self._application_id(r),
                "score": None,
                "decision": self.serving.fallback_decision,
                "fallback": True,
                "model_name": self.model_name,
                "model_version": served.version,
            }
            for r in records
        ]

    def _log_rows(self, served: Served, records: Records, answers: list[Answer]) -> list[dict[str, Any]]:
        at = _utcnow().replace(tzinfo=None)  # the log's timestamps are naive UTC, as the batch rows
        rows = []
        for record, answer in zip(records, answers, strict=True):
            row = {f: record.get(f) for f in self.schema.feature_names}
            row.update(
                {
                    "prediction_id": answer["prediction_id"],
                    self.schema.id_column: answer["application_id"],
                    self.schema.timestamp_column: at,
                    "score": answer["score"],
                    "decision": int(answer["decision"] == self.serving.high_risk_decision),
                    "model_name": self.model_name,
                    "model_version": served.version,
                    "scoring_run_id": self.instance,
                    "source": ONLINE_SOURCE,
                }
            )
            rows.append(row)
        return rows

    # ------------------------------------------------------------------ state

    def readiness(self) -> tuple[str, list[str]]:
        """ "ready", "degraded" (answering, with the reasons) or "not_ready" (no model)."""
        if not self.holder.loaded:
            return "not_ready", ["no model loaded"]
        served, reasons = self.holder.current, []
        if served.origin == "cache":
            reasons.append(f"serving v{served.version} from the local cache: {self.cache_reason}")
        if self.follower.registry_error:
            since = self.follower.registry_error_since
            reasons.append(f"registry unreachable since {since:%Y-%m-%dT%H:%M:%SZ}, the champion alias is not "
                           f"followed: {self.follower.registry_error}")  # fmt: skip
        if self.holder.rolled_back_from:
            reasons.append(
                f"rolled back in-process from v{self.holder.rolled_back_from}, which the registry still names "
                f"{CHAMPION} (`tabular-mlops rollback` moves the alias; POST /admin/reload follows it again)"
            )
        if self.writer.down_since:
            reasons.append(
                f"prediction log database unreachable since {self.writer.down_since:%Y-%m-%dT%H:%M:%SZ}: "
                f"{self.writer.buffered} row(s) buffered, {self.writer.dropped} dropped ({self.writer.last_error})"
            )
        self.metrics.degraded.set(1 if reasons else 0)
        return ("degraded" if reasons else "ready"), reasons

    def describe(self) -> dict[str, Any]:
        served, previous = self.holder.current, self.holder.previous
        tags = served.loaded.tags
        return {
            "name": self.model_name,
            "version": served.version,
            "alias": CHAMPION if served.version == self.follower.last_champion else None,
            "registry_champion": self.follower.last_champion,
            "run_id": served.loaded.run_id,
            "data_hash": tags.get(Tag.DVC_DATA_HASH),
            "sha256": tags.get(Tag.MODEL_SHA256),
            "loaded_at": served.loaded_at.isoformat(),
            "origin": served.origin,
            "model_tests": served.tests,
            "previous_version": previous.version if previous else None,
            "rolled_back_from": self.holder.rolled_back_from,
            "decision_threshold": self.threshold,
        }
