"""What `up`, `down` and `status` print: step headers, durations."""

from __future__ import annotations

import time


def say(message: str = "") -> None:
    print(message, flush=True)


def step(title: str) -> float:
    """Print a step header; returns the start time for `done`."""
    say(f"\n==> {title}")
    return time.monotonic()


def done(started: float, what: str = "done") -> None:
    say(f"    {what} in {fmt_duration(time.monotonic() - started)}")


def fmt_duration(seconds: float) -> str:
    """42s, 3m07s, 1h02m03s."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s"
