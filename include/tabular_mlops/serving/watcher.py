"""The registry poll loop: every `serving.poll_seconds` the follower asks who is champion. It never dies: a
failed refresh is logged and tried again at the next tick (the follower already reports an unreachable registry
in /health/ready)."""

from __future__ import annotations

import logging
import threading

from tabular_mlops.serving.follower import ChampionFollower

log = logging.getLogger(__name__)


class RegistryWatcher:
    def __init__(self, follower: ChampionFollower, poll_seconds: float) -> None:
        self.follower, self.poll_seconds = follower, poll_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="registry-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.follower.refresh()
            except Exception:  # the loop outlives any one failure; the next tick tries again
                log.exception("champion refresh failed")
