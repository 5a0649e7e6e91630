from __future__ import annotations

import datetime as dt

import pytest
from tabular_mlops.data.simulate import generate_day
from tabular_mlops.store import source_db

FIRST_DAY = dt.date(2026, 1, 1)


@pytest.fixture()
def simulated_source(tmp_path, repo_params):
    """A SQLite source with `days` simulated days of `rows` rows from 2026-01-01 (seed 11): (url, engine)."""

    def make(days: int, rows: int):
        url = f"sqlite:///{tmp_path / 'src.db'}"
        engine = source_db.connect(url)
        for i in range(days):
            day = FIRST_DAY + dt.timedelta(days=i)
            source_db.write_day(engine, repo_params.schema, day, generate_day(day, rows, 11))
        return url, engine

    return make
