"""The challenger kept warm beside the champion: the version the registry's `challenger` alias names, loaded
through the same trusted loading and model tests as a champion (candidate.py). A version that fails either is
refused and remembered (not downloaded again every poll); no alias, or an alias on the champion itself, empties
the slot."""

from __future__ import annotations

import logging
import threading

from tabular_mlops.core.config import Params
from tabular_mlops.core.contracts import CHALLENGER
from tabular_mlops.model.scoring import load_version
from tabular_mlops.model.trusted_files import UntrustedModelError
from tabular_mlops.serving.candidate import prepare
from tabular_mlops.serving.follower import RegistryUnavailableError, now, registry_alias
from tabular_mlops.serving.holder import Served

log = logging.getLogger(__name__)


class ChallengerSlot:
    """`served` is the warm challenger or None; `refresh(champion)` follows the alias (one refresh at a time)."""

    def __init__(self, params: Params) -> None:
        self.params = params
        self.model_name = params.registry.model_name
        self.served: Served | None = None
        self.refused: dict[str, str] = {}
        self.last_reason = "not asked yet"
        self._lock = threading.Lock()

    def refresh(self, champion: str | None, force: bool = False) -> str:
        """Follow the `challenger` alias; returns what happened, in words (also kept in `last_reason`)."""
        with self._lock:
            self.last_reason = self._refresh(champion, force)
        return self.last_reason

    def _refresh(self, champion: str | None, force: bool) -> str:
        try:
            version = registry_alias(self.model_name, CHALLENGER)
        except RegistryUnavailableError as exc:
            return f"registry unavailable, the challenger slot is unchanged: {exc}"
        if version is None or version == champion:
            self.served = None
            return f"no {CHALLENGER} other than the champion"
        if self.served is not None and self.served.version == version:
            return f"v{version} is warm"
        if version in self.refused and not force:
            return self.refused[version]
        try:
            loaded = load_version(self.model_name, version)
        except UntrustedModelError as exc:
            return self._refuse(version, f"v{version} refused to load: {exc}")
        except Exception as exc:  # noqa: BLE001 - a download failure leaves the slot as it was; the next poll retries
            return f"v{version} could not be loaded: {exc}"
        ready = prepare(loaded.model, self.params.schema, self.params.serving, self.params.gate)
        if not ready.tests.passed:
            return self._refuse(version, f"v{version} failed its model tests: {ready.tests.reason}")
        self.served = Served(loaded, "registry", now(), ready.tests.reason, ready.scorer, ready.scoring)
        log.warning("challenger v%s loaded and tested (%s)", version, ready.scoring)
        return f"v{version} loaded and tested: {ready.tests.reason}"

    def _refuse(self, version: str, reason: str) -> str:
        self.refused[version] = reason[:1000]
        log.warning("challenger %s", reason)
        return reason
