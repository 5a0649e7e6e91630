"""Follow the registry's champion alias: load a new champion beside the serving one, test it, cache it, swap.

A version that fails to load (checksum, format, allow-list) or fails its model tests is never swapped in and is
remembered as refused, so the poll loop does not download it again every few seconds; POST /admin/reload
(force) tries again. While an in-process rollback is in force the version rolled back from is not reloaded.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from tabular_mlops.core.config import Params
from tabular_mlops.core.contracts import CHAMPION
from tabular_mlops.model.scoring import load_version
from tabular_mlops.model.trusted_files import UntrustedModelError
from tabular_mlops.serving.cache import ModelCache
from tabular_mlops.serving.candidate import prepare
from tabular_mlops.serving.holder import ModelHolder, Served
from tabular_mlops.serving.prometheus_metrics import ServingMetrics

log = logging.getLogger(__name__)

Outcome = Literal["swapped", "unchanged", "refused", "pinned", "no_champion", "registry_unavailable"]
# MLflow's answers for "no such model" / "no such alias": the registry works, there is just no champion.
_NOT_FOUND_CODES = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}


class RegistryUnavailableError(ConnectionError):
    """The registry did not answer (server down, store unreadable)."""


@dataclass(frozen=True)
class Reload:
    outcome: Outcome
    serving: str | None
    champion: str | None
    reason: str

    def as_dict(self) -> dict[str, str | None]:
        return {
            "outcome": self.outcome,
            "serving": self.serving,
            "champion": self.champion,
            "reason": self.reason,
        }


def registry_champion(model_name: str) -> str | None:
    """The champion version, None when there is none; unlike `scoring.champion_version`, an unreachable
    registry raises instead of looking like "no champion" (the service must tell the two apart)."""
    return registry_alias(model_name, CHAMPION)


def registry_alias(model_name: str, alias: str) -> str | None:
    """The version an alias names, None when it names none; RegistryUnavailableError when the registry is down."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return str(MlflowClient().get_model_version_by_alias(model_name, alias).version)
    except MlflowException as exc:
        if exc.error_code in _NOT_FOUND_CODES:
            return None
        raise RegistryUnavailableError(f"registry unreachable: {exc}") from exc
    except OSError as exc:
        raise RegistryUnavailableError(f"registry unreachable: {exc}") from exc


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ChampionFollower:
    """One refresh at a time (poll loop and /admin/reload share the lock)."""

    def __init__(
        self,
        params: Params,
        holder: ModelHolder,
        cache: ModelCache,
        metrics: ServingMetrics,
        gate_check: Callable[[str], str | None] | None = None,
    ) -> None:
        self.params, self.holder, self.cache, self.metrics = params, holder, cache, metrics
        # Why a version must not serve although the alias names it (PromotionGuard.refusal); None: no such check
        self.gate_check = gate_check
        self.model_name = params.registry.model_name
        self.refused: dict[str, str] = {}
        self.registry_error: str | None = None
        self.registry_error_since: dt.datetime | None = None
        self.last_champion: str | None = None
        self._lock = threading.Lock()

    def refresh(self, force: bool = False) -> Reload:
        with self._lock:
            result = self._refresh(force)
        self.metrics.reloads.labels(result.outcome).inc()
        if result.outcome in ("swapped", "refused"):
            log.warning("champion refresh: %s", result.as_dict())
        return result

    def _refresh(self, force: bool) -> Reload:
        serving = self.holder.current.version if self.holder.loaded else None
        try:
            champion = registry_champion(self.model_name)
        except RegistryUnavailableError as exc:
            self.registry_error = str(exc)[:500]
            self.registry_error_since = self.registry_error_since or now()
            return Reload("registry_unavailable", serving, None, self.registry_error)
        self.registry_error, self.registry_error_since = None, None
        self.last_champion = champion
        if champion is None:
            return Reload("no_champion", serving, None, f"'{self.model_name}' has no '{CHAMPION}' alias")
        if serving == champion:
            self.holder.clear_rollback()
            if self.holder.current.origin == "cache":
                # The cached copy was verified against this version's registered checksum: same bytes.
                self.holder.relabel("registry")
            return Reload("unchanged", serving, champion, f"v{champion} is champion and serving")
        if self.holder.rolled_back_from == champion and not force:
            return Reload(
                "pinned",
                serving,
                champion,
                f"rolled back from v{champion} in-process; reload to follow it again",
            )
        if champion in self.refused and not force:
            return Reload("refused", serving, champion, self.refused[champion])
        if self.gate_check is not None:
            try:
                why = self.gate_check(champion)
            except ConnectionError as exc:  # cannot tell: keep serving, ask again at the next poll
                return Reload(
                    "registry_unavailable", serving, champion, f"v{champion} cannot be checked: {exc}"
                )
            if why is not None:
                return self._refuse(champion, serving, why)
        previous = self.holder.previous
        if previous is not None and previous.version == champion:
            self.holder.swap(previous)  # the alias moved back: the warm model answers at once
            self.remember_served()
            return Reload("swapped", champion, champion, f"v{champion} was still warm: swapped back")
        return self._load(champion, serving)

    def _load(self, champion: str, serving: str | None) -> Reload:
        try:
            loaded = load_version(self.model_name, champion)
        except UntrustedModelError as exc:
            return self._refuse(champion, serving, f"refused to load: {exc}")
        except Exception as exc:  # noqa: BLE001 - a download or registry failure leaves the serving model in place
            return Reload(
                "registry_unavailable", serving, champion, f"v{champion} could not be loaded: {exc}"
            )
        ready = prepare(loaded.model, self.params.schema, self.params.serving, self.params.gate)
        tests = ready.tests
        if not tests.passed:
            return self._refuse(champion, serving, f"failed its model tests: {tests.reason}")
        self.holder.swap(Served(loaded, "registry", now(), tests.reason, ready.scorer, ready.scoring))
        self.refused.pop(champion, None)
        try:
            self.cache.store(loaded, now().isoformat())
        except Exception as exc:  # noqa: BLE001 - the cache is a fallback for restarts; serving goes on without it
            log.warning("could not cache v%s: %s", champion, exc)
            self.metrics.cache_errors.inc()
        return Reload("swapped", champion, champion, f"v{champion} loaded and tested: {tests.reason}")

    def remember_served(self) -> None:
        """Point the disk cache at the version serving now (a swap back to a warm model, a rollback): a restart
        during a registry outage then serves what served last, not a version the registry moved away from."""
        served = self.holder.current
        try:
            # the version's folder is still cached (two are kept): only the pointer moves, nothing is downloaded
            self.cache.store(served.loaded, now().isoformat())
        except Exception as exc:  # noqa: BLE001 - the cache is a fallback for restarts; serving goes on without it
            log.warning("could not point the cache at v%s: %s", served.version, exc)
            self.metrics.cache_errors.inc()

    def refused_champion(self) -> tuple[str, str] | None:
        """(version, reason) while the registry's champion is a version this service refused and does not serve."""
        champion = self.last_champion
        serving = self.holder.current.version if self.holder.loaded else None
        if champion is None or champion == serving or champion not in self.refused:
            return None
        return champion, self.refused[champion]

    def _refuse(self, champion: str, serving: str | None, reason: str) -> Reload:
        self.refused[champion] = reason[:1000]
        return Reload("refused", serving, champion, f"v{champion} {reason}; v{serving} keeps serving")
