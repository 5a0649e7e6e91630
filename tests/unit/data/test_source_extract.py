import datetime as dt

import pytest
from tabular_mlops.data import extract
from tabular_mlops.data.ingest import extract_interval
from tabular_mlops.data.simulate import generate_day
from tabular_mlops.store import source_db

DAY = dt.date(2026, 1, 1)


@pytest.fixture()
def db(simulated_source):
    return simulated_source(days=3, rows=300)


def test_write_day_replaces_rather_than_duplicates(db, repo_params):
    url, engine = db
    source_db.write_day(engine, repo_params.schema, DAY, generate_day(DAY, 300, 11))
    rows = source_db.read_window(engine, repo_params.schema, dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 4))
    assert len(rows) == 900
    assert rows["applied_at"].is_monotonic_increasing


def test_run_interval_extracts_matured_applications(repo_params):
    lag = repo_params.schema.label_delay_days
    night = DAY + dt.timedelta(days=lag)
    assert extract.row_days(repo_params.schema.label_delay_days, night, night + dt.timedelta(days=2)) == [
        DAY,
        DAY + dt.timedelta(days=1),
    ]
    with pytest.raises(ValueError, match="empty data interval"):
        extract.row_days(repo_params.schema.label_delay_days, night, night)


def test_reextracting_an_interval_gives_identical_bytes(db, repo_params, tmp_path):
    url, _ = db
    night = DAY + dt.timedelta(days=repo_params.schema.label_delay_days)
    end = night + dt.timedelta(days=3)
    first = extract_interval(
        repo_params.schema, repo_params.ingest, repo_params.paths, tmp_path, url, night, end
    )
    before = {p: open(p, "rb").read() for p in first.paths}
    second = extract_interval(
        repo_params.schema, repo_params.ingest, repo_params.paths, tmp_path, url, night, end
    )
    assert second.paths == first.paths
    assert {p: open(p, "rb").read() for p in second.paths} == before
    assert first.rows == 900
    assert not list(tmp_path.rglob("*.tmp"))


def test_unreachable_database_names_the_connection(repo_params):
    with pytest.raises(source_db.SourceUnavailableError, match="source_db"):
        source_db.connect("postgresql+psycopg2://nobody@127.0.0.1:1/none", conn_id="source_db")


def test_missing_table_names_table_and_connection(tmp_path, repo_params):
    engine = source_db.connect(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(LookupError, match="loan_applications.*source_db"):
        source_db.read_window(engine, repo_params.schema, dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 2))
