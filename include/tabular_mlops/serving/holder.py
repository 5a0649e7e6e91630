"""Blue-green in one process: the model that answers and the one before it, kept warm for an instant rollback.

A request reads `holder.current` once and scores with that object to the end, so a swap never mixes two
versions inside one answer; swapping is one reference assignment under a lock (readers take no lock).
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, replace
from typing import Any, Literal

from tabular_mlops.model.scoring import LoadedModel

Origin = Literal["registry", "cache"]


@dataclass(frozen=True)
class Served:
    """A loaded model that passed its model tests, and how it got here."""

    loaded: LoadedModel
    origin: Origin
    loaded_at: dt.datetime
    tests: str
    # What answers: the pipeline with its preprocessing compiled (verified equal on load, serving/compiled.py),
    # or None for the pipeline itself; `scoring` says which and why.
    scorer: Any = None
    scoring: str = "pipeline"

    @property
    def version(self) -> str:
        return self.loaded.version

    @property
    def predictor(self) -> Any:
        """The object whose `predict_proba` the shared scoring function calls."""
        return self.loaded.model if self.scorer is None else self.scorer


class ModelHolder:
    """Current and previous model; `rolled_back_from` is set while an in-process rollback is in force."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: Served | None = None
        self._previous: Served | None = None
        self.rolled_back_from: str | None = None

    @property
    def current(self) -> Served:
        served = self._current
        if served is None:
            raise LookupError("no model loaded yet")
        return served

    @property
    def previous(self) -> Served | None:
        return self._previous

    @property
    def loaded(self) -> bool:
        return self._current is not None

    def swap(self, new: Served) -> Served | None:
        """Serve `new` from the next request on; the model it replaces stays warm as the previous one."""
        with self._lock:
            old = self._current
            if old is not None and old.version != new.version:
                self._previous = old
            self._current = new
            self.rolled_back_from = None
            return old

    def relabel(self, origin: Origin) -> None:
        """The same model, confirmed by another source (a cached model the registry names champion again)."""
        with self._lock:
            if self._current is not None:
                self._current = replace(self._current, origin=origin)

    def clear_rollback(self) -> None:
        """The registry names the served version champion again: the rollback is no longer in force."""
        self.rolled_back_from = None

    def rollback(self) -> tuple[Served, Served]:
        """Swap current and previous at once; returns (now serving, rolled back from)."""
        with self._lock:
            if self._current is None or self._previous is None:
                raise LookupError("no previous model is loaded: nothing to roll back to")
            self._current, self._previous = self._previous, self._current
            self.rolled_back_from = self._previous.version
            return self._current, self._previous
