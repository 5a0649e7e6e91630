"""Issue 22 item 1: a source value that does not parse as the schema's type is never turned into a null. With 3%
of one day's incomes written as "52,000" the night once published the nulls (the column allows 5%). Now the values
are counted per column at extraction, the night is quarantined with the column, the count and the row ids (never
the values) and the raw rows as read, nothing is landed or published, and the task fails without retry."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import pandas as pd
import pytest
import sqlalchemy as sa
from tabular_mlops.core.input_errors import NotRetryableError
from tabular_mlops.data.extract import SourceTypeError
from tabular_mlops.data.ingest import batch_id, extract_interval
from tabular_mlops.data.simulate import generate_day
from tabular_mlops.store import source_db

from tests.support.databases import KINDS, fresh_database

DAY = dt.date(2026, 1, 6)
ROWS = 400
BAD_INCOMES = 12  # 3%


def _source_with_text_incomes(url: str, schema, bad_ages: int = 0) -> tuple[sa.Engine, list[str], list[str]]:
    """A source whose income (and age) columns are text, as a loosely typed upstream keeps them: most values are
    numbers written as text, a few are not numbers. Returns the engine and the ids of the bad rows."""
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    table = source_db.table_for(schema, metadata)
    table.c["income"].type = sa.Text()
    table.c["age"].type = sa.Text()
    metadata.create_all(engine)
    day = generate_day(DAY, ROWS, 7)
    day["income"] = day["income"].map(lambda v: None if pd.isna(v) else f"{v:.2f}").astype(object)
    day["age"] = day["age"].map(lambda v: None if pd.isna(v) else str(v)).astype(object)
    bad_income_ids = list(day[schema.id_column].iloc[5 : 5 + BAD_INCOMES])
    day.loc[day[schema.id_column].isin(bad_income_ids), "income"] = "52,000"
    bad_age_ids = list(day[schema.id_column].iloc[100 : 100 + bad_ages])
    day.loc[day[schema.id_column].isin(bad_age_ids), "age"] = "thirty"
    with engine.begin() as conn:
        conn.execute(table.insert(), day.to_dict("records"))
    return engine, bad_income_ids, bad_age_ids


@pytest.mark.parametrize("kind", KINDS)
def test_values_of_the_wrong_type_quarantine_the_night(kind, repo_params, tmp_path):
    schema = replace(repo_params.schema, label_delay_days=0)
    params = replace(repo_params, schema=schema)
    root = tmp_path / "project"
    with fresh_database(kind, tmp_path) as url:
        engine, bad_income, bad_age = _source_with_text_incomes(url, schema, bad_ages=2)
        with pytest.raises(SourceTypeError) as caught:
            extract_interval(
                params.schema, params.ingest, params.paths, root, url, DAY, DAY + dt.timedelta(days=1)
            )
        engine.dispose()
    error = caught.value
    assert isinstance(error, NotRetryableError)
    message = str(error)
    assert "'income'" in message and f"{BAD_INCOMES} row(s)" in message
    assert "'age'" in message and "2 row(s)" in message
    assert "52,000" not in message and "thirty" not in message  # counted and named, never echoed
    # Nothing landed (validation and publishing never see the night) ...
    batch = batch_id(DAY, DAY + dt.timedelta(days=1))
    landing = root / params.paths.landing_dir / batch
    assert not landing.exists() or not any(landing.glob("*.parquet"))
    # ... the quarantine names column, count and row ids, and keeps the raw rows as read.
    quarantine = root / params.paths.quarantine_dir / batch
    faults = json.loads((quarantine / "type_faults.json").read_text())
    assert faults["columns"]["income"]["count"] == BAD_INCOMES
    assert sorted(faults["columns"]["income"]["row_ids"]) == sorted(bad_income)
    assert sorted(faults["columns"]["age"]["row_ids"]) == sorted(bad_age)
    assert "52,000" not in json.dumps(faults)
    raw = pd.read_json(quarantine / f"day={DAY.isoformat()}.raw.jsonl", lines=True, dtype=False)
    assert len(raw) == ROWS
    by_id = raw.set_index(schema.id_column)
    assert set(by_id.loc[bad_income, "income"]) == {"52,000"}
    assert by_id.loc[bad_age, "age"].tolist() == ["thirty", "thirty"]


@pytest.mark.parametrize("kind", KINDS)
def test_numbers_written_as_text_are_read_as_numbers(kind, repo_params, tmp_path):
    """The same text columns without a bad value extract normally: text that parses is not a fault."""
    schema = replace(repo_params.schema, label_delay_days=0)
    params = replace(repo_params, schema=schema)
    with fresh_database(kind, tmp_path) as url:
        engine, bad_income, _ = _source_with_text_incomes(url, schema)
        missing = int(
            pd.read_sql(f"SELECT count(*) FROM {schema.table} WHERE income IS NULL", engine).iloc[0, 0]
        )
        with engine.begin() as conn:
            conn.execute(sa.text(f"UPDATE {schema.table} SET income = '52000' WHERE income = '52,000'"))
        out = extract_interval(
            params.schema,
            params.ingest,
            params.paths,
            tmp_path / "project",
            url,
            DAY,
            DAY + dt.timedelta(days=1),
        )
        engine.dispose()
    landed = pd.read_parquet(out.paths[0])
    assert out.rows == ROWS
    assert landed["income"].isna().sum() == missing  # the source's own nulls, and no more
    assert (landed.set_index(schema.id_column).loc[bad_income, "income"] == 52000).all()
    assert landed["age"].dtype == "Int64"
