"""Low-volume monitoring that decides: when monitor.window_days nights hold fewer than monitor.min_rows scored
rows, the windows widen (twice, four, eight times the nights) rather than report "too few rows" for ever; the
night's record says how wide they were."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tabular_mlops.core.config import MonitorConfig, SchemaConfig
from tabular_mlops.monitoring import decisions_log
from tabular_mlops.monitoring.results import Decision
from tabular_mlops.store import prediction_log

# The widest window is this many times monitor.window_days.
MAX_WIDENING = 8


@dataclass(frozen=True)
class WindowChoice:
    """How many nights the night's windows cover, and the scored rows (held nights excluded) they hold."""

    configured: int
    nights: int
    rows: int
    configured_rows: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def widened(self) -> bool:
        return self.nights > self.configured

    def note(self, min_rows: int) -> str:
        """The line the decision record carries when the window widened (why, and what it held)."""
        enough = (
            "" if self.rows >= min_rows else f", still fewer than monitor.min_rows {min_rows} (the widest)"
        )
        return (
            f"window widened to {self.nights} nights: the last {self.configured} (monitor.window_days) held "
            f"{self.configured_rows} scored rows < monitor.min_rows {min_rows}; {self.nights} nights hold "
            f"{self.rows}{enough}"
        )


def choose_window(
    engine: sa.Engine, schema: SchemaConfig, monitor: MonitorConfig, night: dt.date
) -> WindowChoice:
    """The narrowest of window_days x 1, 2, 4, 8 nights ending at `night` with at least min_rows scored rows
    outside held nights. An empty configured window stays as it is (no data is not low volume)."""
    widest = monitor.window_days * MAX_WIDENING
    end = dt.datetime.combine(night + dt.timedelta(days=1), dt.time())
    counts = prediction_log.day_counts(engine, schema, end - dt.timedelta(days=widest), end)
    held = decisions_log.held_nights(engine, night - dt.timedelta(days=widest - 1), night)
    kept = counts[~counts["day"].isin(held)]

    def rows_in(nights: int) -> int:
        return int(kept.loc[kept["day"] > night - dt.timedelta(days=nights), "scored"].sum())

    configured = rows_in(monitor.window_days)
    nights = monitor.window_days
    if configured > 0:
        while rows_in(nights) < monitor.min_rows and nights < widest:
            nights *= 2
    return WindowChoice(monitor.window_days, nights, rows_in(nights), configured)


def widened(monitor: MonitorConfig, choice: WindowChoice) -> MonitorConfig:
    return dataclasses.replace(monitor, window_days=choice.nights) if choice.widened else monitor


def noted(decision: Decision, choice: WindowChoice, min_rows: int) -> Decision:
    """The decision with the widening as its first reason (the record says which window it judged)."""
    if not choice.widened:
        return decision
    return dataclasses.replace(decision, reasons=(choice.note(min_rows), *decision.reasons))
