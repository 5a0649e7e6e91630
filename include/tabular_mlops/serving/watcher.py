"""Periodic work on a background thread: the registry poll (every `serving.poll_seconds` the follower asks who is
champion and the challenger slot who is challenger) and the deploy guard. A loop never dies: a failed tick is
logged and tried again at the next one (the follower already reports an unreachable registry in /health/ready)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class RegistryWatcher:
    def __init__(self, tick: Callable[[], object], seconds: float, name: str = "registry-watcher") -> None:
        self.tick, self.seconds, self.name = tick, seconds, name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                self.tick()
            except Exception:  # the loop outlives any one failure; the next tick tries again
                log.exception("%s: tick failed", self.name)
