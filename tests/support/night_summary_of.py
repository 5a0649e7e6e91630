"""A night's summary from plain frames, the way monitor_night builds it from the log: the reference profiled (its
rows carry the champion's `score`), drift against it, then the summary (tests and benchmarks on small frames)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from tabular_mlops.core.config import MonitorConfig, SchemaConfig
from tabular_mlops.monitoring.drift import night_drift
from tabular_mlops.monitoring.log_window import Population
from tabular_mlops.monitoring.night_summary import summarize
from tabular_mlops.monitoring.reference_profile import build_profile
from tabular_mlops.monitoring.results import NightSummary


def summary_of(
    schema: SchemaConfig,
    monitor: MonitorConfig,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    labelled: pd.DataFrame,
    night: dt.date,
    population: Population | None = None,
) -> NightSummary:
    """`summarize` of `current` and `labelled` (windows read whole unless `population` says otherwise)."""
    profile = build_profile(reference, schema, monitor)
    counts = population or Population.of_rows(current, labelled, night, schema)
    drift = night_drift(profile, current, labelled, counts, night, schema, monitor)
    return summarize(schema, monitor, profile, drift, current, labelled, night, counts)
