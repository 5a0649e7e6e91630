"""The scale-out path: the same extraction through an Airflow `postgres` connection gives the same bytes as
SQLite. Uses the machine's PostgreSQL (127.0.0.1:5432); skipped where none is running."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from dataclasses import replace

import pytest
import sqlalchemy as sa
from tabular_mlops import source
from tabular_mlops.ingest import extract_interval
from tabular_mlops.simulate import generate_day

PG = {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": "test"}
DAY = dt.date(2026, 1, 1)


@pytest.fixture()
def pg_url():
    os.environ["AIRFLOW_CONN_PG_SOURCE"] = json.dumps(PG)
    from tabular_mlops_airflow.connections import sqlalchemy_url

    url = sqlalchemy_url("pg_source")
    try:
        source.connect(url, conn_id="pg_source")
    except source.SourceUnavailableError as exc:
        pytest.skip(f"no PostgreSQL here: {exc}")
    yield url
    os.environ.pop("AIRFLOW_CONN_PG_SOURCE", None)


def test_postgres_and_sqlite_extract_identical_bytes(pg_url, repo_params, tmp_path):
    schema = replace(repo_params.schema, table=f"loan_applications_{uuid.uuid4().hex[:8]}")
    params = replace(repo_params, schema=schema)
    sqlite_url = f"sqlite:///{tmp_path / 'src.db'}"
    pg_engine = source.connect(pg_url, conn_id="pg_source")
    try:
        for url in (sqlite_url, pg_url):
            engine = source.connect(url)
            for i in range(2):
                day = DAY + dt.timedelta(days=i)
                source.write_day(engine, schema, day, generate_day(day, 300, 5))
        night = DAY + dt.timedelta(days=schema.label_delay_days)
        end = night + dt.timedelta(days=2)
        lite = extract_interval(params, tmp_path / "lite", sqlite_url, night, end)
        pg = extract_interval(params, tmp_path / "pg", pg_url, night, end, conn_id="pg_source")
        assert lite["rows"] == pg["rows"] == 600
        for a, b in zip(lite["paths"], pg["paths"], strict=True):
            assert open(a, "rb").read() == open(b, "rb").read()
    finally:
        with pg_engine.begin() as conn:
            conn.execute(sa.text(f'DROP TABLE IF EXISTS "{schema.table}"'))
