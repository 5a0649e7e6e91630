"""The example's live source: each night writes the simulated rows the next night needs (day D+1 for
scoring, day D+1-label_delay_days for ingestion), so a running local stack has data every night. It only runs
when params.yaml `simulate.live_source` is true and only writes the example's own simulated table (never yours)."""

from __future__ import annotations

from airflow.sdk import dag, task
from tabular_mlops_airflow.settings import (
    SOURCE_CONN_ID,
    dag_schedule,
    default_args,
    project_params,
    project_root,
)

ROOT = project_root(__file__)


@dag(
    dag_id="simulate_source",
    # Before ingest and monitor_nightly (params.yaml dags.schedules): they read what it wrote.
    schedule=dag_schedule(ROOT, "simulate_source"),
    start_date=None,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["tabular-mlops", "simulator"],
    doc_md=__doc__,
)
def simulate_source() -> None:
    @task
    def write_next_day(**context) -> dict:
        """Seeded and idempotent: a re-run writes the same rows again."""
        import datetime as dt

        from airflow.sdk.exceptions import AirflowSkipException
        from tabular_mlops.data.live_source import simulate_ahead
        from tabular_mlops.store import source_db
        from tabular_mlops_airflow.connections import sqlalchemy_url

        params = project_params(ROOT)
        if not params.simulate.live_source:
            raise AirflowSkipException(
                "simulate.live_source is false in params.yaml: the source is not simulated"
            )
        logical = context["logical_date"]
        engine = source_db.connect(sqlalchemy_url(SOURCE_CONN_ID), SOURCE_CONN_ID)
        night = dt.date(logical.year, logical.month, logical.day)
        return simulate_ahead(params.simulate, params.schema, engine, night)

    write_next_day()


simulate_source()
