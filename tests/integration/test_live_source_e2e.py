"""The example's live source through real Airflow: a simulate_source night writes what the next ingestion and
scoring night read, and writing it again replaces rather than duplicates."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
import yaml
from tabular_mlops.core.config import load_params
from tabular_mlops.data.live_source import days_ahead_of

from tests.support.airflow_runs import project_env, run_dag
from tests.support.project import make_project

pytestmark = pytest.mark.e2e
NIGHT = dt.date(2026, 11, 26)


def _rows_by_day(db, params) -> dict[str, int]:
    schema = params.schema
    with sa.create_engine(f"sqlite:///{db}").connect() as conn:
        rows = conn.execute(
            sa.text(
                f"SELECT substr({schema.timestamp_column}, 1, 10), count(*) FROM {schema.table} GROUP BY 1"
            )
        ).all()
    return {day: n for day, n in rows}


def test_a_night_writes_the_next_nights_days_idempotently(tmp_path, airflow_db):
    project = make_project(tmp_path / "project")
    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw["simulate"]["live_source"] = True
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    params = load_params(project / "params.yaml")
    env, db, _ = project_env(project)
    try:
        first = run_dag("simulate_source", logical_date=NIGHT)
        assert str(first.state) == "success"
        written = _rows_by_day(db, params)
        expected = {d.isoformat() for d in days_ahead_of(NIGHT, params.schema.label_delay_days)}
        assert set(written) == expected == {"2026-10-28", "2026-11-27"}
        assert all(n == params.simulate.rows_per_day for n in written.values())
        again = run_dag("simulate_source", logical_date=NIGHT)
        assert str(again.state) == "success" and _rows_by_day(db, params) == written
    finally:
        env.restore()
