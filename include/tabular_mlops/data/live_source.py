"""The example's live source: on a running local stack the simulator keeps producing each new day's
applications, so every scheduled night has data (`simulate.live_source` switches it on; it only ever writes the
example credit table, never a table of your own).

Night D writes the applications of day D+1 (scored by the next night's monitoring) and of day
D+1-label_delay_days (extracted by the next night's ingestion, its labels matured). Days are seeded, so writing
a day again gives the same rows and replaces, never duplicates.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from tabular_mlops.core.config import SchemaConfig, SimulateConfig
from tabular_mlops.data.simulate import check_example_schema, generate_day, scenario_for
from tabular_mlops.store import source_db


def days_ahead_of(night: dt.date, label_delay_days: int) -> list[dt.date]:
    """The days night `night` writes: the next night's scoring day and its ingestion day."""
    tomorrow = night + dt.timedelta(days=1)
    return sorted({tomorrow - dt.timedelta(days=label_delay_days), tomorrow})


def simulate_ahead(sim: SimulateConfig, schema: SchemaConfig, engine: sa.Engine, night: dt.date) -> dict:
    """Write the simulated applications of the days the next night needs; returns what was written."""
    check_example_schema(schema)
    start = dt.date.fromisoformat(sim.scenario_start) if sim.scenario_start else None
    written = {}
    for day in days_ahead_of(night, schema.label_delay_days):
        batch = generate_day(day, sim.rows_per_day, sim.seed, scenario_for(day, sim.scenario, start))
        written[day.isoformat()] = source_db.write_day(engine, schema, day, batch)
    return {"night": night.isoformat(), "rows_by_day": written}
