"""Step 1 of a night: read the prediction log's windows the night is judged on.

The current window (the last `monitor.window_days` nights), the matured-label window (the same span a label
delay earlier), the online service's answers of the night, and what the decision record says about the span
(nights held for data quality, the last retraining). Rows are filtered here once, for every later step: fallback
answers (no score) are left out of drift, held nights out of everything, and the matured rows are rescored by the
current champion and kept only after its training window.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from tabular_mlops.core.config import MonitorConfig, SchemaConfig
from tabular_mlops.core.contracts import ONLINE_SOURCE, Tag, parse_window
from tabular_mlops.model.scoring import LoadedModel
from tabular_mlops.monitoring import decisions_log
from tabular_mlops.monitoring.results import OnlineServing
from tabular_mlops.store import prediction_log
from tabular_mlops.store.prediction_log import FALLBACK_COLUMN, LATENCY_COLUMN


@dataclass(frozen=True)
class Population:
    """Exact row counts behind windows whose statistics run on a sample (predictions.read_window): the volumes
    reported and the row-count rules use these, the statistics the sampled rows."""

    rows: int  # the current window's scored rows
    night_rows: int  # of which on the night being judged
    nights: int  # nights with rows in the current window
    labelled_rows: int  # the matured-label window's rows

    @classmethod
    def of_rows(
        cls, current: pd.DataFrame, labelled: pd.DataFrame, night: dt.date, schema: SchemaConfig
    ) -> Population:
        """The counts of windows read whole (no sample): the rows themselves."""
        if current.empty:
            return cls(0, 0, 0, len(labelled))
        days = current[schema.timestamp_column].dt.normalize()
        night_rows = int((current[schema.timestamp_column].dt.date == night).sum())
        return cls(len(current), night_rows, int(days.nunique()), len(labelled))

    def matured(self, labelled: pd.DataFrame, monitor: MonitorConfig) -> bool:
        """Performance and label drift only on enough matured labels (a few dozen defaults are noise)."""
        return self.labelled_rows >= monitor.min_rows and len(labelled) > 0


@dataclass(frozen=True)
class NightLog:
    """What the log holds for one night: the rows every later step reads, and their exact counts."""

    night: dt.date
    label_night: dt.date  # the newest night whose labels have matured
    current: pd.DataFrame  # scored rows of the current window, held nights left out
    labelled: pd.DataFrame  # matured rows after the champion's training window: `score` by today's champion
    population: Population
    online: OnlineServing | None
    last_retrain: dt.date | None  # the last night that triggered a retraining, before this one
    trained_until: dt.date | None  # the champion's last training day (None when its version does not say)


def night_bounds(night: dt.date, days: int) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of the `days` nights ending with `night`."""
    end = dt.datetime.combine(night + dt.timedelta(days=1), dt.time())
    return end - dt.timedelta(days=days), end


def trained_until(champion: LoadedModel) -> dt.date | None:
    """The champion's last training day, from its reference window tag (None when it has none)."""
    try:
        return parse_window(champion.tags.get(Tag.REFERENCE_WINDOW, ""))[1]
    except ValueError:
        return None


def unseen_by(champion: LoadedModel, rows: pd.DataFrame, schema: SchemaConfig) -> pd.DataFrame:
    """`rows` from days after the champion's training window: it is never judged on what it trained on."""
    until = trained_until(champion)
    if until is None or rows.empty:
        return rows
    return rows[rows[schema.timestamp_column].dt.date > until].reset_index(drop=True)


def without_held(schema: SchemaConfig, held: set[dt.date], rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` without those of earlier nights held for data quality (a broken night must not read as drift, or
    as performance, for the nights after it). `held` never holds the night being judged."""
    if rows.empty or not held:
        return rows
    return rows[~rows[schema.timestamp_column].dt.date.isin(held)].reset_index(drop=True)


def _kept_days(counts: pd.DataFrame, held: set[dt.date], after: dt.date | None = None) -> pd.DataFrame:
    """The day counts (prediction_log.LogWindow.day_counts) of the days the statistics keep: not held, and, for
    the matured-label window, after the champion's training window."""
    keep = ~counts["day"].isin(held)
    if after is not None:
        keep &= counts["day"] > after
    return counts[keep]


def population(
    current: prediction_log.LogWindow,
    matured: prediction_log.LogWindow,
    held: set[dt.date],
    night: dt.date,
    until: dt.date | None,
) -> Population:
    """The exact counts behind the night's (possibly sampled) windows, with the same filters as their rows:
    scored rows of days not held; of the matured window, scored and labelled ones after the training window."""
    days = _kept_days(current.day_counts, held)
    return Population(
        rows=int(days["scored"].sum()),
        night_rows=int(days.loc[days["day"] == night, "scored"].sum()),
        nights=int((days["scored"] > 0).sum()),
        labelled_rows=int(_kept_days(matured.day_counts, held, until)["labelled"].sum()),
    )


def scored_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows the model scored (a fallback answer is logged without a score)."""
    if rows.empty or rows["score"].notna().all():
        return rows
    return rows[rows["score"].notna()].reset_index(drop=True)


def online_night(rows: pd.DataFrame, schema: SchemaConfig, night: dt.date) -> OnlineServing | None:
    """The online answers logged on `night` (UTC) among `rows` (prediction-log rows); None when there are none.
    The service logs every answer with its latency (fallback answers too, without a score)."""
    if rows.empty or "source" not in rows:
        return None
    on = rows[(rows["source"] == ONLINE_SOURCE) & (rows[schema.timestamp_column].dt.date == night)]
    if on.empty:
        return None
    fallback = (
        on[FALLBACK_COLUMN].fillna(False).astype(bool)
        if FALLBACK_COLUMN in on
        else pd.Series(False, index=on.index)
    )
    latency = pd.to_numeric(on.get(LATENCY_COLUMN), errors="coerce").dropna().to_numpy(float)
    p50, p95, p99 = (
        (round(float(v), 4) for v in np.percentile(latency, [50, 95, 99]))
        if latency.size
        else (None, None, None)
    )
    return OnlineServing(
        answers=len(on),
        fallbacks=int(fallback.sum()),
        fallback_rate=round(float(fallback.mean()), 6),
        latency_p50_ms=p50,
        latency_p95_ms=p95,
        latency_p99_ms=p99,
        model_versions=tuple(sorted(str(v) for v in on["model_version"].unique())),
    )


def read_night_log(
    log_engine: sa.Engine,
    schema: SchemaConfig,
    monitor: MonitorConfig,
    champion: LoadedModel,
    night: dt.date,
) -> NightLog:
    """The night's windows from the log, filtered as every later step wants them."""
    label_night = night - dt.timedelta(days=schema.label_delay_days)
    span = monitor.window_days
    current_window = prediction_log.read_window(
        log_engine, schema, *night_bounds(night, span), monitor.max_window_rows
    )
    matured_window = prediction_log.read_window(
        log_engine, schema, *night_bounds(label_night, span), monitor.max_window_rows
    )
    online = online_night(
        prediction_log.read_source(log_engine, schema, *night_bounds(night, 1), ONLINE_SOURCE), schema, night
    )
    held = decisions_log.held_nights(log_engine, night_bounds(min(night, label_night), span)[0].date(), night)
    # Fallback answers have no score: counted in `online`, left out of score and feature drift.
    current = without_held(schema, held, scored_rows(current_window.rows))
    labelled = without_held(schema, held, scored_rows(matured_window.rows))
    labelled = unseen_by(champion, labelled[labelled["label"].notna()].reset_index(drop=True), schema)
    until = trained_until(champion)
    if len(labelled):
        # Judge the current champion, not whichever model logged these scores a label delay ago (after a
        # promotion the old scores would keep condemning a model that may already handle the change).
        labelled = labelled.assign(logged_score=labelled["score"], score=champion.score(labelled, schema))
    return NightLog(
        night=night,
        label_night=label_night,
        current=current,
        labelled=labelled,
        population=population(current_window, matured_window, held, night, until),
        online=online,
        last_retrain=decisions_log.last_retrain(log_engine, night),
        trained_until=until,
    )
