"""Sections of the data side: simulate, ingest, paths, validate, preprocess, dags."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    Strict,
    StrictBool,
    model_validator,
)
from pydantic.dataclasses import dataclass

from tabular_mlops.core.config.fields import (
    _STRICT,
    Count,
    IsoDate,
    OpenFraction,
    Seed,
    Share,
    Text,
    _raise_if,
)


@dataclass(frozen=True, config=_STRICT)
class SimulateConfig:
    seed: Seed
    history_start: IsoDate
    history_days: Count
    rows_per_day: Annotated[int, Strict(), Field(ge=1, le=1_000_000)]
    # Checked against the simulator's scenario names when it runs (`tabular-mlops simulate --scenario` lists them).
    scenario: Text
    scenario_start: IsoDate | None = None
    # On a running stack, the simulate_source DAG writes each next day's applications (example table only).
    live_source: StrictBool = False


@dataclass(frozen=True, config=_STRICT)
class IngestConfig:
    """How extraction reads the source: `chunk_rows` rows at a time, each chunk one Parquet row group, so its
    memory stays flat whatever a day's size (at most 1M: one chunk must stay one row group)."""

    chunk_rows: Annotated[int, Strict(), Field(ge=1, le=1_000_000)] = 100_000


@dataclass(frozen=True, config=_STRICT)
class PathsConfig:
    raw_dir: Text
    landing_dir: Text
    quarantine_dir: Text
    processed_dir: Text
    model_dir: Text
    metrics_dir: Text
    plots_dir: Text
    reports_dir: Text
    expectations_dir: Text
    evidently_workspace: Text
    reference_cache_dir: Text
    mlflow_dir: Text


@dataclass(frozen=True, config=_STRICT)
class ValidateConfig:
    max_null_fraction: Share
    min_rows: Count
    max_rows: Count

    @model_validator(mode="after")
    def _ordered(self) -> ValidateConfig:
        if self.min_rows > self.max_rows:
            _raise_if([("min_rows", f"must be <= validate.max_rows {self.max_rows} (got {self.min_rows})")])
        return self


@dataclass(frozen=True, config=_STRICT)
class PreprocessConfig:
    window_days: Annotated[int, Strict(), Field(ge=2)]
    holdout_days: Count
    validation_fraction: OpenFraction

    @model_validator(mode="after")
    def _holdout_inside_window(self) -> PreprocessConfig:
        if self.holdout_days >= self.window_days:
            msg = f"must be < preprocess.window_days {self.window_days}, to leave days to train on"
            _raise_if([("holdout_days", f"{msg} (got {self.holdout_days})")])
        return self


# --------------------------------------------------------------------------- orchestration

SCHEDULE_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")


def _schedule(value: Any) -> Any:
    """An Airflow preset, a 5-field cron expression, or null (runs only when triggered)."""
    if value is None:
        return None
    if isinstance(value, str):
        from croniter import croniter

        if value in SCHEDULE_PRESETS or (len(value.split()) == 5 and croniter.is_valid(value)):
            return value
    raise ValueError(
        f"must be one of {', '.join(SCHEDULE_PRESETS)}, a 5-field cron expression or null (got {value!r})"
    )


Schedule = Annotated[str | None, BeforeValidator(_schedule)]


@dataclass(frozen=True, config=_STRICT)
class DagSchedules:
    """One schedule per DAG (the field names are orchestration.DAG_IDS; tests/dags checks they agree)."""

    ingest_applications: Schedule
    train_model: Schedule
    monitor_nightly: Schedule
    simulate_source: Schedule


@dataclass(frozen=True, config=_STRICT)
class DagsConfig:
    """When the DAGs run. Read by the DAG files when Airflow parses them (a bad value is a DAG import error)."""

    # The first night the pipeline processes; a run for an earlier night fails and names both dates.
    start_date: IsoDate
    # DAG id -> schedule (preset, cron, or null = triggered only).
    schedules: DagSchedules
    # A train_model run that monitoring triggered and that is still queued this many nights later never started
    # (no scheduler, e.g. headless `airflow dags test`): it no longer counts as a retraining in flight.
    retrain_stale_after_days: Count

    def schedule(self, dag_id: str) -> str | None:
        return getattr(self.schedules, dag_id)


# --------------------------------------------------------------------------- training
