"""Nightly ingestion: source_db -> daily Parquet snapshots -> Great Expectations -> DVC (data.dvc + remote)."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task
from tabular_mlops_airflow.assets import VALIDATED_SNAPSHOTS
from tabular_mlops_airflow.extra_links import add_links, validation_links
from tabular_mlops_airflow.settings import (
    DVC_POOL,
    SOURCE_CONN_ID,
    check_night,
    dag_schedule,
    default_args,
    fail_fast,
    no_logical_date,
    project_params,
    project_root,
    quiet_third_party_logs,
)

ROOT = project_root(__file__)


def _interval(context: dict) -> tuple[str, str]:
    """The night [D, D+1) of the run's logical date (scheduled, backfilled or triggered with a logical date);
    runs triggered without one take the window from the DAG Params."""
    params = context["params"]
    if params.get("window_start") and params.get("window_end"):
        return params["window_start"], params["window_end"]
    # Airflow 3 derives a manual run's data interval from when it was triggered, not from its logical date,
    # so the logical date is the one reliable name of the night.
    logical = context.get("logical_date")
    if logical is None:
        raise no_logical_date("trigger it with one, or with Params window_start and window_end")
    night = dt.date(logical.year, logical.month, logical.day)
    return night.isoformat(), (night + dt.timedelta(days=1)).isoformat()


@dag(
    dag_id="ingest",
    schedule=dag_schedule(ROOT, "ingest"),
    # No Airflow start_date: Airflow creates no task for a logical date before it (a "successful" empty run).
    # params.yaml dags.start_date is checked by the first task instead, which fails naming both dates.
    start_date=None,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["tabular-mlops", "ingestion", "great-expectations", "dvc"],
    params={
        "window_start": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Manual runs only: first night of the window (YYYY-MM-DD)",
        ),
        "window_end": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Manual runs only: night after the window (exclusive)",
        ),
    },
    doc_md=__doc__,
)
def ingest() -> None:
    # Each task returns its step's record as a dict (XCom holds JSON) and the next reads it back with
    # `from_dict`: the records are frozen, nothing between the steps edits them.
    @task
    def extract(**context) -> dict:
        """Rows whose labels matured in this interval -> landing area (byte-identical on re-run)."""
        import datetime as dt
        from pathlib import Path

        from tabular_mlops.data.ingest import extract_interval
        from tabular_mlops_airflow.connections import sqlalchemy_url

        start, end = _interval(context)
        params = project_params(ROOT)
        check_night(params.dags, dt.date.fromisoformat(start))
        url = sqlalchemy_url(SOURCE_CONN_ID)
        # Unknown target labels, unparseable times, values of the wrong type: a retry cannot fix the data.
        with fail_fast():
            extracted = extract_interval(
                params.schema,
                params.ingest,
                params.paths,
                Path(ROOT),
                url,
                dt.date.fromisoformat(start),
                dt.date.fromisoformat(end),
                conn_id=SOURCE_CONN_ID,
            )
        return extracted.to_dict()

    @task(retries=0)
    def validate(extracted: dict) -> dict:
        """GX checkpoint + Data Docs. A passing batch is staged for `version`; a failing one is quarantined
        (published snapshots of those days are kept) and fails the run with no retry."""
        from pathlib import Path

        from tabular_mlops.data.batch_records import ExtractedBatch
        from tabular_mlops.data.ingest import validate_extracted

        quiet_third_party_logs()
        params = project_params(ROOT)
        # A failed batch raises ValidationFailedError: its last lines list each failed expectation and value.
        landed = ExtractedBatch.from_dict(extracted)
        return validate_extracted(params.schema, params.validate, params.paths, Path(ROOT), landed).to_dict()

    @task(pool=DVC_POOL, outlets=[VALIDATED_SNAPSHOTS])
    def version(validated: dict) -> dict:
        """Publish as a transaction: move the staged snapshots into data/, `dvc add`, `dvc push`; if the push
        fails, data/ and data.dvc keep the previous version and the task fails (a retry publishes again)."""
        from pathlib import Path

        from tabular_mlops.data.batch_records import ValidatedBatch
        from tabular_mlops.data.ingest import publish_validated

        staged = ValidatedBatch.from_dict(validated)
        return publish_validated(project_params(ROOT).paths, Path(ROOT), staged).to_dict()

    version(add_links(validate(extract()), *validation_links(ROOT)))


ingest()
