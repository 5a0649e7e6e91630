"""The scoring service without HTTP: start from the registry or the cache, keep following the champion, answer
(answers.py), log every answer, report readiness. `app.py` puts FastAPI in front of it."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tabular_mlops.core.config import Params, ThresholdRule
from tabular_mlops.core.contracts import CHAMPION, ONLINE_SOURCE, Tag
from tabular_mlops.model.trusted_files import UntrustedModelError
from tabular_mlops.serving.answers import Answer, Answerer, Records
from tabular_mlops.serving.cache import ModelCache
from tabular_mlops.serving.candidate import prepare
from tabular_mlops.serving.deployment import Deployment
from tabular_mlops.serving.follower import ChampionFollower, Reload
from tabular_mlops.serving.holder import ModelHolder, Served
from tabular_mlops.serving.logwriter import PredictionLogWriter
from tabular_mlops.serving.prometheus_metrics import ServingMetrics
from tabular_mlops.serving.promotion_guard import PromotionGuard
from tabular_mlops.serving.readiness import readiness_reasons
from tabular_mlops.serving.settings import ServiceEnv, StartupError
from tabular_mlops.serving.watcher import RegistryWatcher
from tabular_mlops.store.deploy_log import DeployLog
from tabular_mlops.store.source_db import ensure_sqlite_folder

log = logging.getLogger(__name__)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ScoringService:
    def __init__(self, params: Params, env: ServiceEnv, root: Path) -> None:
        self.params, self.env = params, env
        self.schema, self.serving = params.schema, params.serving
        self.model_name = params.registry.model_name
        self.rule = params.evaluate.decision_threshold
        self.metrics = ServingMetrics()
        self.holder = ModelHolder()
        self.cache = ModelCache(root / self.serving.cache_dir, self.model_name)
        self.promotion_guard = PromotionGuard(env.monitoring_db_url, self.model_name)
        self.follower = ChampionFollower(
            params, self.holder, self.cache, self.metrics, self.promotion_guard.refusal
        )
        self.writer = PredictionLogWriter(env.monitoring_db_url, self.schema, self.serving, self.metrics)
        self.started_at = _utcnow()
        # The prediction log's scoring_run_id of this process's answers.
        self.instance = (
            f"{ONLINE_SOURCE}:{socket.gethostname()}:{os.getpid()}:{self.started_at:%Y%m%dT%H%M%S}"
        )
        self.answers = Answerer(params, self.holder, self.writer, self.metrics, self.instance)
        self.cache_reason: str | None = None
        self._deploy_log: DeployLog | None = None
        self.deployment = Deployment(
            params,
            self.holder,
            self.answers,
            self.deploy_log,
            functools.partial(tag_version, self.model_name),
        )
        self.watcher = RegistryWatcher(self.poll, self.serving.poll_seconds)
        self.guard = RegistryWatcher(
            self.deployment.check, params.deploy.canary.guard.check_seconds, "deploy-guard"
        )

    # ------------------------------------------------------------------ lifecycle

    def load_initial(self) -> Reload:
        """The champion from the registry, else the last good one from the cache; StartupError when neither."""
        first = self.follower.refresh()
        if self.holder.loaded:
            self._announce()
            self.deployment.challenger.refresh(self.follower.last_champion)
            self.deployment.restore()
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
        ready = prepare(cached.loaded.model, self.schema, self.serving, self.params.gate)
        if not ready.tests.passed:
            raise StartupError(
                f"{self._no_registry(first)}, and the cached v{cached.loaded.version} fails: {ready.tests.reason}"
            )
        self.cache_reason = f"{first.reason} (cached {cached.cached_at})"
        self.holder.swap(
            Served(cached.loaded, "cache", _utcnow(), ready.tests.reason, ready.scorer, ready.scoring)
        )
        self._announce()
        return first

    def _no_registry(self, first: Reload) -> str:
        return f"cannot start: no champion of '{self.model_name}' from the registry at {self.env.tracking_uri} ({first.reason})"

    def _announce(self) -> None:
        served = self.holder.current
        log.warning(
            "serving %s v%s from the %s (%s)", self.model_name, served.version, served.origin, served.scoring
        )

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
        self.guard.start()

    def stop(self) -> None:
        self.guard.stop()
        self.watcher.stop()
        self.deployment.shadow.close()
        self.writer.close()
        self.promotion_guard.close()

    def poll(self) -> None:
        """One registry poll: the champion alias, then the challenger alias (kept warm beside it)."""
        self.follower.refresh()
        self.deployment.challenger.refresh(self.follower.last_champion)

    def deploy_log(self) -> DeployLog:
        """The deploy log tables in the monitoring database, created on first use."""
        if self._deploy_log is None:
            ensure_sqlite_folder(self.env.monitoring_db_url)  # the embedded default's var/ may not exist yet
            self._deploy_log = DeployLog(sa.create_engine(self.env.monitoring_db_url, pool_pre_ping=True))
        return self._deploy_log

    def reload(self, force: bool = True) -> Reload:
        return self.follower.refresh(force=force)

    def rollback(self) -> tuple[Served, Served]:
        now, left = self.holder.rollback()
        self.follower.remember_served()
        self._announce()
        return now, left

    # ------------------------------------------------------------------ answers

    def score(self, records: Records) -> list[Answer]:
        """Score rows (validated, keyed by column name) with the model serving now."""
        return self.answers.score_groups([records])[0]

    def score_groups(self, groups: list[Records], received: list[float] | None = None) -> list[list[Answer]]:
        """Answers per the deployment strategy in force (the champion alone unless deploy says otherwise)."""
        arrived = received if received is not None else [time.perf_counter()] * len(groups)
        return self.deployment.score_groups(groups, arrived)

    # ------------------------------------------------------------------ state

    def readiness(self) -> tuple[str, list[str]]:
        """ "ready", "degraded" (answering, with the reasons) or "not_ready" (no model)."""
        if not self.holder.loaded:
            return "not_ready", ["no model loaded"]
        reasons = readiness_reasons(self.follower, self.writer, self.cache_reason)
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
            "scoring": served.scoring,
            "previous_version": previous.version if previous else None,
            "rolled_back_from": self.holder.rolled_back_from,
            Tag.DECISION_THRESHOLD: _threshold_or_none(served, self.rule),
        }


def _threshold_or_none(served: Served, rule: ThresholdRule) -> float | None:
    """The served version's decision threshold, or None when it has none for this rule (answers fall back)."""
    try:
        return served.loaded.threshold(rule)
    except LookupError:
        return None


def tag_version(model_name: str, version: str, tags: dict[str, str]) -> None:
    """Set tags on a registered version (the deployment records its strategy and rollbacks there)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version, key, value)
