"""Issue 22 item 2: a source's time column is read by one rule (naive UTC) whatever the database stores: SQLite
text with and without offsets, epoch seconds, naive and offset-aware timestamps, PostgreSQL timestamptz. A window
takes exactly the rows of its UTC day, on every database (SQLite compares text: no spill into the neighbouring
day); an unparseable time fails naming the column, as a non-retryable error."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from tabular_mlops.core.input_errors import NotRetryableError
from tabular_mlops.data.ingest import extract_interval
from tabular_mlops.store import prediction_log, source_db
from tabular_mlops.store.time_columns import TimeColumnError, to_naive_utc

from tests.support.databases import fresh_database

DAY = dt.date(2026, 1, 6)
UTC, PLUS5, MINUS5 = dt.UTC, dt.timezone(dt.timedelta(hours=5)), dt.timezone(dt.timedelta(hours=-5))
# (id, the instant in UTC, the zone it is written in where the storage keeps an offset)
INSTANTS = [
    ("before", dt.datetime(2026, 1, 5, 23, 59, 59), UTC),
    ("first", dt.datetime(2026, 1, 6, 0, 0, 0), UTC),
    ("evening", dt.datetime(2026, 1, 6, 18, 30), PLUS5),  # 2026-01-06T23:30:00+05:00
    ("late", dt.datetime(2026, 1, 6, 21, 0), PLUS5),  # 2026-01-07T02:00:00+05:00: text says the 7th
    ("next_day", dt.datetime(2026, 1, 7, 3, 0), MINUS5),  # 2026-01-06T22:00:00-05:00: text says the 6th
    ("last", dt.datetime(2026, 1, 6, 23, 59, 59), UTC),
    ("midnight", dt.datetime(2026, 1, 7, 0, 0, 0), UTC),
]
IN_DAY = {"first": 0, "evening": 2, "late": 3, "last": 5}


def _local(instant: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    return instant.replace(tzinfo=UTC).astimezone(zone)


STORAGES = {
    "text_naive": (sa.Text(), lambda t, z: t.isoformat(sep=" ")),
    "text_offset": (sa.Text(), lambda t, z: _local(t, z).isoformat()),
    "datetime_declared_text_offset": (sa.DateTime(), lambda t, z: _local(t, z).isoformat()),
    "epoch_seconds": (sa.BigInteger(), lambda t, z: int(t.replace(tzinfo=UTC).timestamp())),
    "timestamp_naive": (sa.DateTime(), lambda t, z: t),
    "timestamptz": (sa.DateTime(timezone=True), lambda t, z: _local(t, z)),
}
# SQLite has no timestamptz (SQLAlchemy writes an aware datetime as naive text there); every other pair runs.
CASES = [
    (kind, storage)
    for kind in ("sqlite", "postgresql")
    for storage in STORAGES
    if not (kind == "sqlite" and storage in ("timestamptz", "timestamp_naive"))
    and not (kind == "postgresql" and storage == "datetime_declared_text_offset")
]


def _source(url: str, schema, storage: str, values: list | None = None) -> sa.Engine:
    """The schema's source table with its time column stored as `storage`, holding the INSTANTS."""
    sql_type, render = STORAGES[storage]
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    table = source_db.table_for(schema, metadata)
    table.c[schema.timestamp_column].type = sql_type
    metadata.create_all(engine)
    rows = [
        {schema.id_column: name, schema.timestamp_column: render(t, z), "income": 1000.0 + i}
        for i, (name, t, z) in enumerate(INSTANTS)
    ]
    for i, value in enumerate(values or []):
        rows.append({schema.id_column: f"odd{i}", schema.timestamp_column: value, "income": 1.0})
    # Written untyped, as another tool would: the declared type does not convert the values.
    untyped = sa.table(schema.table, *(sa.column(c) for c in rows[0]))
    with engine.begin() as conn:
        conn.execute(untyped.insert(), rows)
    return engine


@pytest.mark.parametrize(("kind", "storage"), CASES)
def test_a_window_holds_exactly_its_utc_day(kind, storage, repo_params, tmp_path):
    schema = repo_params.schema
    with fresh_database(kind, tmp_path) as url:
        engine = _source(url, schema, storage)
        start = dt.datetime.combine(DAY, dt.time())
        window = source_db.read_window(engine, schema, start, start + dt.timedelta(days=1))
        assert set(window[schema.id_column]) == set(IN_DAY), storage
        expected = {name: t for name, t, _ in INSTANTS}
        for name, at in zip(window[schema.id_column], window[schema.timestamp_column], strict=True):
            assert at == pd.Timestamp(expected[name]), (storage, name, at)
        # Extraction cuts the same day and lands naive UTC times.
        params = replace(repo_params, schema=replace(schema, label_delay_days=0))
        out = extract_interval(
            params.schema,
            params.ingest,
            params.paths,
            tmp_path / "project",
            url,
            DAY,
            DAY + dt.timedelta(days=1),
        )
        landed = pq.read_table(out.paths[0]).to_pandas()
        assert sorted(landed[schema.id_column]) == sorted(IN_DAY)
        assert landed[schema.timestamp_column].min() == pd.Timestamp(expected["first"])
        assert landed[schema.timestamp_column].max() == pd.Timestamp(expected["last"])
        engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_an_unparseable_time_names_the_column_and_is_not_retryable(kind, repo_params, tmp_path):
    schema = repo_params.schema
    with fresh_database(kind, tmp_path) as url:
        engine = _source(
            url, schema, "text_offset", values=["2026-01-06 at noon", "2026-01-06T12:00:00+05:00"]
        )
        start = dt.datetime.combine(DAY, dt.time())
        with pytest.raises(TimeColumnError, match=r"time column 'applied_at' holds 1 value") as caught:
            source_db.read_window(engine, schema, start, start + dt.timedelta(days=1))
        assert isinstance(caught.value, NotRetryableError)
        assert "at noon" not in str(caught.value)  # counted, never echoed
        engine.dispose()


def test_text_times_reach_the_prediction_log(repo_params, tmp_path):
    """Batch scoring writes what it read from the source into the prediction log: a SQLite text time column once
    failed there with "SQLite DateTime type only accepts Python datetime" (issue 23)."""
    schema = repo_params.schema
    engine = _source(f"sqlite:///{tmp_path / 'src.db'}", schema, "text_offset")
    start = dt.datetime.combine(DAY, dt.time())
    batch = source_db.read_window(engine, schema, start, start + dt.timedelta(days=1))
    rows = batch[[schema.id_column, schema.timestamp_column]].assign(
        prediction_id="batch:" + batch[schema.id_column],
        score=0.5,
        decision=1,
        model_name="m",
        model_version="1",
        scoring_run_id="r",
        source="batch",
    )
    log = sa.create_engine(f"sqlite:///{tmp_path / 'log.db'}")
    assert prediction_log.replace_batch(log, schema, rows, start, start + dt.timedelta(days=1)) == len(IN_DAY)
    logged = prediction_log.read_log(log, schema, start, start + dt.timedelta(days=1))
    assert sorted(logged[schema.id_column]) == sorted(IN_DAY)


def test_every_form_reads_the_same():
    values = pd.Series(
        [
            "2026-01-06T23:30:00+05:00",
            "2026-01-06 18:30:00",
            "2026-01-06T18:30:00Z",
            1767724200,
            dt.datetime(2026, 1, 6, 18, 30),
            dt.datetime(2026, 1, 6, 23, 30, tzinfo=PLUS5),
            None,
        ],
        dtype=object,
    )
    read = to_naive_utc(values, "t")
    assert read[:6].tolist() == [pd.Timestamp("2026-01-06 18:30")] * 6
    assert pd.isna(read[6])
    aware = pd.Series(pd.to_datetime(["2026-01-06T23:30:00+05:00"], utc=True))
    assert to_naive_utc(aware, "t").tolist() == [pd.Timestamp("2026-01-06 18:30")]
    with pytest.raises(TimeColumnError, match="time column 't' holds 1 value"):
        to_naive_utc(pd.Series(["06/01/2026"]), "t")


@pytest.mark.parametrize("storage", ["text_offset", "epoch_seconds"])
def test_init_reads_the_first_day_by_the_same_rule(storage, repo_params, tmp_path):
    """`tabular-mlops init` proposes dags.start_date from the first UTC day, as extraction will cut it."""
    from tabular_mlops.data.table_proposal import ProfileOptions, propose, read_table

    schema = repo_params.schema
    engine = _source(f"sqlite:///{tmp_path / 'src.db'}", schema, storage)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"UPDATE {schema.table} SET {schema.target_column} = CASE WHEN income > 1003 THEN 1 ELSE 0 END, age = 30"
            )
        )
    options = ProfileOptions(
        table=schema.table,
        id_column=schema.id_column,
        time_column=schema.timestamp_column,
        target=schema.target_column,
        positive_label="1",
    )
    proposal = propose(read_table(engine, options), options)
    assert proposal.first_day == "2026-01-05"  # "before", 23:59:59 UTC on the 5th
