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
    Days,
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
    """Seed of the simulator: the same seed and dates give the same rows."""
    history_start: IsoDate
    """First day of the seeded history."""
    history_days: Count
    """Days of seeded history (label_delay_days + preprocess.window_days fills the first training's
    window)."""
    rows_per_day: Annotated[int, Strict(), Field(ge=1, le=1_000_000)]
    """Applications per simulated day."""
    scenario: Text
    """What the simulator injects, checked when it runs (`tabular-mlops simulate --help` lists the scenarios)."""
    scenario_start: IsoDate | None = None
    """The day the scenario starts (null: from the first day)."""
    live_source: StrictBool = False
    """On a running stack, the simulate_source DAG writes each next night's applications; set false
    when the source is your own table."""


@dataclass(frozen=True, config=_STRICT)
class IngestConfig:
    """How extraction reads the source: `chunk_rows` rows at a time, each chunk one Parquet row group, so its
    memory stays flat whatever a day's size (at most 1M: one chunk must stay one row group)."""

    chunk_rows: Annotated[int, Strict(), Field(ge=1, le=1_000_000)] = 100_000
    """Rows extraction reads at a time, each written as one Parquet row group, so its memory stays flat
    whatever a day's size."""


@dataclass(frozen=True, config=_STRICT)
class PathsConfig:
    raw_dir: Text
    """Validated daily snapshots only; what data.dvc versions."""
    landing_dir: Text
    """Where extraction stages a night's batch before validation."""
    quarantine_dir: Text
    """Batches that failed validation, with their validation result."""
    processed_dir: Text
    """The preprocess stage's output (training and holdout parts)."""
    model_dir: Text
    """The train stage's output (the fitted pipeline, the run's metadata, holdout scores)."""
    metrics_dir: Text
    """The evaluate stage's metrics (dvc metrics show)."""
    plots_dir: Text
    """The evaluate stage's figures (dvc plots show)."""
    reports_dir: Text
    """Nightly Evidently HTML reports, a folder per night."""
    expectations_dir: Text
    """The Great Expectations project (the suite, checkpoint and Data Docs)."""
    evidently_workspace: Text
    """Nightly report snapshots for the Evidently UI (dashboards over nights)."""
    reference_cache_dir: Text
    """Reference statistics and report samples per champion version, built on its first monitored night."""
    mlflow_dir: Text
    """The embedded MLflow store (SQLite and artifacts) used when MLFLOW_TRACKING_URI is not set."""


@dataclass(frozen=True, config=_STRICT)
class ValidateConfig:
    max_null_fraction: Share
    """Largest share of missing values in a nullable column."""
    min_rows: Count
    """Fewest rows a daily batch may have."""
    max_rows: Count
    """Most rows a daily batch may have."""

    @model_validator(mode="after")
    def _ordered(self) -> ValidateConfig:
        if self.min_rows > self.max_rows:
            _raise_if([("min_rows", f"must be <= validate.max_rows {self.max_rows} (got {self.min_rows})")])
        return self


@dataclass(frozen=True, config=_STRICT)
class PreprocessConfig:
    window_days: Annotated[int, Strict(), Field(ge=2)]
    """Daily snapshots in the training window, ending at the newest snapshot in data/."""
    holdout_days: Count
    """The window's last days, held out for the gate (must be fewer than window_days)."""
    validation_fraction: OpenFraction
    """The latest share of the training part, on which the candidates are compared."""
    max_gap_days: Days = 3
    """Missing days a training window may step over (quarantined nights). A longer run of days without
    snapshots is a gap: a window never spans one, it starts after it (the gap is recorded in window.json and
    the model card)."""
    min_window_days: Count | None = None
    """Fewest snapshots after the newest gap to train on (null: twice holdout_days, at most window_days).
    With fewer (a live day months after the seeded history), the window is the newest run of snapshots
    before the gap that has them, and the newer days are recorded as left out until enough arrive."""

    @model_validator(mode="after")
    def _holdout_inside_window(self) -> PreprocessConfig:
        if self.holdout_days >= self.window_days:
            msg = f"must be < preprocess.window_days {self.window_days}, to leave days to train on"
            _raise_if([("holdout_days", f"{msg} (got {self.holdout_days})")])
        if (
            self.min_window_days is not None
            and not self.holdout_days < self.min_window_days <= self.window_days
        ):
            msg = f"must be > holdout_days {self.holdout_days} and <= window_days {self.window_days}"
            _raise_if([("min_window_days", f"{msg} (got {self.min_window_days})")])
        return self

    def fewest_days(self) -> int:
        """min_window_days, or its default: twice holdout_days, at most window_days."""
        return self.min_window_days or min(self.window_days, 2 * self.holdout_days)


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

    ingest: Schedule
    """Schedule of the ingest DAG: extract, validate and version a night's batch."""
    train_model: Schedule
    """Schedule of train_model: dvc repro, register, gate and promote."""
    monitor_nightly: Schedule
    """Schedule of monitor_nightly: score, join matured labels, report and decide."""
    simulate_source: Schedule
    """Schedule of simulate_source, the example's live source (before the other DAGs: they read what it
    wrote)."""
    deploy_model: Schedule = "0 4 * * *"
    """Schedule of deploy_model: one rollout step a night (shadow, canary, full) for a handed-over challenger."""

    @model_validator(mode="after")
    def _backfilled_dags_are_periodic(self) -> DagSchedules:
        # Nights of these DAGs are backfilled (make run, drills): Airflow refuses to backfill a DAG without a
        # periodic schedule (DagNonPeriodicScheduleException), so null would fail only much later, mid-run.
        _raise_if([
            (name, "must be a schedule, not null: a DAG without one cannot be backfilled (Airflow's "
             "DagNonPeriodicScheduleException); keep a schedule and pause the DAG to stop its runs "
             f"(`airflow dags pause {name}` or the toggle in the UI)")
            for name in ("ingest", "monitor_nightly")
            if getattr(self, name) is None
        ])  # fmt: skip
        return self


@dataclass(frozen=True, config=_STRICT)
class DagsConfig:
    """When the DAGs run. Read by the DAG files when Airflow parses them (a bad value is a DAG import error)."""

    start_date: IsoDate
    """The first night the pipeline processes; a run for an earlier night fails naming both dates."""
    schedules: DagSchedules
    """Per DAG: an Airflow preset (@daily), a 5-field cron expression, or null (runs only when triggered; not
    for ingest and monitor_nightly, which are backfilled)."""
    retrain_stale_after_days: Count
    """A retraining that monitoring triggered and that is still queued this many nights later never
    started (no scheduler): it no longer counts as in flight."""

    def schedule(self, dag_id: str) -> str | None:
        return getattr(self.schedules, dag_id)


# --------------------------------------------------------------------------- training
