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
from tabular_mlops.data.ingest import extract_interval
from tabular_mlops.data.simulate import generate_day
from tabular_mlops.store import source_db

PG = {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": "test"}
DAY = dt.date(2026, 1, 1)


@pytest.fixture()
def pg_url():
    os.environ["AIRFLOW_CONN_PG_SOURCE"] = json.dumps(PG)
    from tabular_mlops_airflow.connections import sqlalchemy_url

    url = sqlalchemy_url("pg_source")
    try:
        source_db.connect(url, conn_id="pg_source")
    except source_db.SourceUnavailableError as exc:
        pytest.skip(f"no PostgreSQL here: {exc}")
    yield url
    os.environ.pop("AIRFLOW_CONN_PG_SOURCE", None)


def test_postgres_and_sqlite_extract_identical_bytes(pg_url, repo_params, tmp_path):
    schema = replace(repo_params.schema, table=f"loan_applications_{uuid.uuid4().hex[:8]}")
    params = replace(repo_params, schema=schema)
    sqlite_url = f"sqlite:///{tmp_path / 'src.db'}"
    pg_engine = source_db.connect(pg_url, conn_id="pg_source")
    try:
        for url in (sqlite_url, pg_url):
            engine = source_db.connect(url)
            for i in range(2):
                day = DAY + dt.timedelta(days=i)
                source_db.write_day(engine, schema, day, generate_day(day, 300, 5))
        night = DAY + dt.timedelta(days=schema.label_delay_days)
        end = night + dt.timedelta(days=2)
        lite = extract_interval(
            params.schema, params.ingest, params.paths, tmp_path / "lite", sqlite_url, night, end
        )
        pg = extract_interval(
            params.schema,
            params.ingest,
            params.paths,
            tmp_path / "pg",
            pg_url,
            night,
            end,
            conn_id="pg_source",
        )
        assert lite.rows == pg.rows == 600
        for a, b in zip(lite.paths, pg.paths, strict=True):
            assert open(a, "rb").read() == open(b, "rb").read()
    finally:
        with pg_engine.begin() as conn:
            conn.execute(sa.text(f'DROP TABLE IF EXISTS "{schema.table}"'))


@pytest.fixture()
def pg_monitoring_db(pg_url):
    """A throw-away database on the local PostgreSQL server for the prediction log and the decision record."""
    name = f"monitoring_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = sa.create_engine(sa.make_url(pg_url).set(database=name))
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def test_prediction_log_and_decisions_work_unchanged_on_postgres(pg_monitoring_db, repo_params, tmp_path):
    """Scale-out path for `monitoring_db`: upsert a night twice, join labels twice, record decisions; the same
    results as on SQLite."""
    from tabular_mlops.monitoring import decisions_log
    from tabular_mlops.monitoring.results import Action, Decision, Status
    from tabular_mlops.store import prediction_log

    schema, night = repo_params.schema, dt.datetime(2026, 4, 1)
    batch = generate_day(night.date(), 50, 3)
    rows = batch[[schema.id_column, schema.timestamp_column, *schema.feature_names]].assign(
        prediction_id="batch:" + batch[schema.id_column],
        score=0.1,
        decision=1,
        model_name="credit_default",
        model_version="1",
        scoring_run_id="run",
        source="batch",
    )
    labels = batch[[schema.id_column, schema.target_column]]
    end = night + dt.timedelta(days=1)
    results = {}
    for name, engine in (
        ("sqlite", sa.create_engine(f"sqlite:///{tmp_path / 'm.db'}")),
        ("pg", pg_monitoring_db),
    ):
        for version in ("1", "2"):
            prediction_log.replace_batch(engine, schema, rows.assign(model_version=version), night, end)
        for _ in range(2):
            joined = prediction_log.join_labels(engine, schema, labels, end)
        log = prediction_log.read_log(engine, schema, night, end)
        decision = Decision(night.date(), Status.OK, Action.RETRAIN, ("why",))
        decisions_log.record(engine, decision, "2", 0.4)
        decisions_log.record_trigger(engine, night.date(), "retrain__2026-04-01")
        decisions_log.record(engine, replace(decision, reasons=("why, re-run",)), "2", 0.4)
        results[name] = (
            joined,
            len(log),
            sorted(set(log["model_version"])),
            int(log["label"].sum()),
            decisions_log.history(engine),
            decisions_log.last_retrain(engine, dt.date(2026, 4, 5)),
        )
    assert results["pg"] == results["sqlite"]
    assert results["pg"][:3] == (50, 50, ["2"])
    assert results["pg"][4][0].triggered_run_id == "retrain__2026-04-01"
    assert results["pg"][4][0].reasons == ("why, re-run",)
    assert results["pg"][5] == dt.date(2026, 4, 1)


def test_an_old_prediction_log_is_migrated_in_place_on_postgres(pg_monitoring_db, repo_params):
    """The in-place migration (latency_ms, fallback, nullable score) on PostgreSQL: ALTER TABLE, rows kept."""
    from tabular_mlops.store import prediction_log

    from tests.unit.monitoring.test_predictions import NIGHT, _old_log_table, _rows

    schema, metadata = repo_params.schema, sa.MetaData()
    old = _old_log_table(schema, metadata)
    metadata.create_all(pg_monitoring_db)
    rows = _rows(6).astype(object).where(_rows(6).notna(), None).to_dict("records")
    with pg_monitoring_db.begin() as conn:
        conn.execute(old.insert(), rows)
    table = prediction_log.ensure_table(pg_monitoring_db, schema)
    columns = {c["name"]: c for c in sa.inspect(pg_monitoring_db).get_columns(prediction_log.TABLE)}
    assert columns["score"]["nullable"] and columns[prediction_log.LATENCY_COLUMN]["nullable"]
    with pg_monitoring_db.begin() as conn:
        conn.execute(
            table.insert(),
            [{**rows[0], "prediction_id": "online:x", "score": None, "latency_ms": 1.5, "fallback": True}],
        )
    log = prediction_log.read_log(pg_monitoring_db, schema, NIGHT, NIGHT + dt.timedelta(days=1))
    assert len(log) == 7 and int(log[prediction_log.FALLBACK_COLUMN].sum()) == 1
    assert log.set_index("prediction_id").loc["batch:3", "score"] == 0.01
    assert prediction_log.migrate(pg_monitoring_db, table) is False
