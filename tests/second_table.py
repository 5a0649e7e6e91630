"""A second, differently shaped source table for the bring-your-own-data tests (not the credit simulator).

A household survey panel in SQLite: one row per interview, a string yes/no target (`moved_out`), integer-coded
US state FIPS codes, an int feature without missing values, a nullable text category, source columns the
pipeline must ignore, and interview days in 2019 (long before the example's 2026 start date). Seeded: the same
arguments give the same rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

TABLE = "household_survey"
ID, TIME, TARGET = "respondent_id", "interviewed_at", "moved_out"
START = dt.date(2019, 3, 1)
STATES = (6, 12, 17, 36, 48)  # FIPS codes: CA, FL, IL, NY, TX
TENURE = ("owner", "renter", "other")
EXTRA = ("interviewer", "survey_weight", "free_text_note")


def table(metadata: sa.MetaData) -> sa.Table:
    """The source table as an upstream system would define it: its own types, extra columns included."""
    return sa.Table(
        TABLE,
        metadata,
        sa.Column(ID, sa.String(32), primary_key=True),
        sa.Column(TIME, sa.DateTime(), nullable=False, index=True),
        sa.Column("state_fips", sa.Integer(), nullable=False),
        sa.Column("household_size", sa.Integer(), nullable=False),
        sa.Column("monthly_rent", sa.Float(), nullable=True),
        sa.Column("years_at_address", sa.Float(), nullable=False),
        sa.Column("tenure", sa.String(16), nullable=True),
        sa.Column(TARGET, sa.String(3), nullable=False),
        sa.Column("interviewer", sa.String(16), nullable=False),
        sa.Column("survey_weight", sa.Float(), nullable=False),
        sa.Column("free_text_note", sa.Text(), nullable=True),
    )


def generate_day(day: dt.date, rows: int, seed: int = 7) -> pd.DataFrame:
    """One day of interviews; about a quarter of the households moved out within the year."""
    rng = np.random.default_rng([seed, day.toordinal()])
    state = rng.choice(STATES, rows)
    size = rng.integers(1, 8, rows)
    rent = np.round(rng.lognormal(7.0, 0.4, rows), 2)
    rent[rng.random(rows) < 0.03] = np.nan
    years = np.round(rng.exponential(6.0, rows), 1)
    tenure = rng.choice(np.array(TENURE, dtype=object), rows, p=[0.55, 0.4, 0.05])
    tenure[rng.random(rows) < 0.02] = None
    logit = -0.6 - 0.25 * years + 0.9 * (tenure == "renter") + 0.15 * (state == 48) - 0.1 * size + 0.4
    moved = rng.random(rows) < 1 / (1 + np.exp(-logit))
    seconds = np.sort(rng.integers(0, 86_400, rows))
    start = dt.datetime.combine(day, dt.time())
    return pd.DataFrame(
        {
            ID: [f"{day:%Y%m%d}-{i:05d}" for i in range(rows)],
            TIME: [start + dt.timedelta(seconds=int(s)) for s in seconds],
            "state_fips": state.astype(int),
            "household_size": size.astype(int),
            "monthly_rent": rent,
            "years_at_address": years,
            "tenure": tenure,
            TARGET: np.where(moved, "yes", "no"),
            "interviewer": rng.choice(["a17", "b02", "c44"], rows),
            "survey_weight": np.round(rng.uniform(0.5, 2.0, rows), 3),
            "free_text_note": [f"note {i} {rng.integers(1_000_000)}" for i in range(rows)],
        }
    )


def write(url: str, days: int, rows: int = 300, start: dt.date = START, seed: int = 7) -> sa.Engine:
    """Create the table (if needed) and write `days` days of interviews from `start`."""
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    survey = table(metadata)
    metadata.create_all(engine)
    with engine.begin() as conn:
        for i in range(days):
            day = start + dt.timedelta(days=i)
            frame = generate_day(day, rows, seed)
            records = frame.astype(object).where(frame.notna(), None).to_dict("records")
            conn.execute(
                survey.delete()
                .where(survey.c[TIME] >= dt.datetime.combine(day, dt.time()))
                .where(survey.c[TIME] < dt.datetime.combine(day + dt.timedelta(days=1), dt.time()))
            )
            conn.execute(survey.insert(), records)
    return engine


def write_suite(params_file: Path) -> None:
    """What a user runs after `init`, `python -m tabular_mlops.data.validate --params FILE` (the table's GX suite
    into the project of MLOPS_PROJECT_DIR), as the function the command calls, in this process: a second
    interpreter importing Great Expectations cost 7.6 CPU s, and the DAG's validate task imports it here anyway."""
    from tabular_mlops.data import validate

    with contextlib.redirect_stdout(io.StringIO()):
        validate.main(["--params", str(params_file)])
