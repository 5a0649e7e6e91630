"""Extraction reads a day in chunks of `ingest.chunk_rows` and appends each as one Parquet row group: the same rows
and types as the whole-day read, the bytes of the whole-frame writer for a day smaller than a chunk, nothing
written when a later chunk holds an unknown label (counted over every chunk), and validation reads the files once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tabular_mlops.core.atomic_files import atomic_write_parquet
from tabular_mlops.core.config import IngestConfig, load_params
from tabular_mlops.data import extract
from tabular_mlops.data.ingest import extract_interval
from tabular_mlops.data.simulate import generate_day
from tabular_mlops.data.validate import read_snapshots
from tabular_mlops.model import target_labels
from tabular_mlops.store import source_db

from tests.support.project import REPO

DAY = dt.date(2026, 1, 1)
ROWS = 300


def _params(chunk_rows: int):
    return dataclasses.replace(load_params(REPO / "params.yaml"), ingest=IngestConfig(chunk_rows=chunk_rows))


@pytest.fixture()
def db(simulated_source):
    return simulated_source(days=2, rows=ROWS)


def _night(params, day=DAY):
    return day + dt.timedelta(days=params.schema.label_delay_days)


def _extract(params, root, url, days=1, day=DAY):
    night = _night(params, day)
    return extract_interval(
        params.schema, params.ingest, params.paths, root, url, night, night + dt.timedelta(days=days)
    )


def _whole_day(engine, schema, day=DAY):
    start = dt.datetime.combine(day, dt.time())
    return extract.conform(source_db.read_window(engine, schema, start, start + dt.timedelta(days=1)), schema)


def _md5(path) -> str:
    return hashlib.md5(open(path, "rb").read()).hexdigest()


def test_a_day_is_written_one_row_group_per_chunk_with_the_whole_days_rows(db, tmp_path):
    url, engine = db
    params = _params(64)
    out = _extract(params, tmp_path, url)
    path = out.paths[0]
    meta = pq.ParquetFile(path).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [64, 64, 64, 64, 44]
    assert out.rows == ROWS
    pd.testing.assert_frame_equal(pd.read_parquet(path), _whole_day(engine, params.schema))


def test_a_day_of_whole_chunks_has_no_empty_row_group(db, tmp_path):
    url, _ = db
    out = _extract(_params(100), tmp_path, url)
    meta = pq.ParquetFile(out.paths[0]).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [100, 100, 100]


def test_a_day_within_one_chunk_has_the_bytes_of_the_whole_frame_writer(db, tmp_path):
    """What keeps the committed data.dvc reproducible: the pre-streaming writer's bytes."""
    url, engine = db
    params = _params(ROWS)
    out = _extract(params, tmp_path / "chunked", url)
    reference = tmp_path / "whole.parquet"
    atomic_write_parquet(reference, _whole_day(engine, params.schema))
    assert _md5(out.paths[0]) == _md5(reference)
    assert pq.ParquetFile(out.paths[0]).metadata.num_row_groups == 1


def test_the_bytes_of_a_day_do_not_depend_on_how_the_interval_is_split(db, tmp_path):
    url, _ = db
    params = _params(64)
    both = _extract(params, tmp_path / "both", url, days=2)
    single = [_extract(params, tmp_path / "single", url, day=DAY + dt.timedelta(days=i)) for i in range(2)]
    assert [_md5(p) for p in both.paths] == [_md5(s.paths[0]) for s in single]
    again = _extract(params, tmp_path / "both", url, days=2)
    assert [_md5(p) for p in again.paths] == [_md5(p) for p in both.paths]
    assert both.rows == 2 * ROWS


def test_an_empty_day_gets_a_zero_row_file_with_the_configured_types(db, tmp_path):
    url, _ = db
    params = _params(64)
    out = _extract(params, tmp_path, url, day=DAY + dt.timedelta(days=5))
    table = pq.read_table(out.paths[0])
    assert table.num_rows == 0 and out.rows == 0
    assert table.schema.field(params.schema.id_column).type == pa.string()
    assert table.schema.field("region").type == pa.string()
    assert table.schema.field("age").type == pa.int64()
    assert table.schema.field(params.schema.timestamp_column).type == pa.timestamp("us")


def test_iter_window_gives_the_rows_of_read_window_in_chunks(db, repo_params):
    _, engine = db
    start = dt.datetime.combine(DAY, dt.time())
    end = start + dt.timedelta(days=2)
    chunks = list(source_db.iter_window(engine, repo_params.schema, start, end, 128))
    assert [len(c) for c in chunks] == [128, 128, 128, 128, 88]
    whole = source_db.read_window(engine, repo_params.schema, start, end)
    joined = pd.concat(chunks, ignore_index=True)
    assert joined[repo_params.schema.id_column].tolist() == whole[repo_params.schema.id_column].tolist()
    empty = list(source_db.iter_window(engine, repo_params.schema, end, end + dt.timedelta(days=1), 128))
    assert len(empty) == 1 and empty[0].empty and list(empty[0].columns) == list(whole.columns)


def test_an_unknown_label_in_a_later_chunk_stops_the_batch_counting_every_chunk(db, tmp_path, repo_params):
    url, engine = db
    second = DAY + dt.timedelta(days=1)
    batch = generate_day(second, ROWS, 11)
    batch.loc[250:259, "defaulted"] = 2  # in the last chunk of the second day
    batch.loc[5, "defaulted"] = 7  # in its first chunk
    batch.loc[70:72, "defaulted"] = 2  # in its second chunk
    source_db.write_day(engine, repo_params.schema, second, batch)
    with pytest.raises(target_labels.TargetLabelError) as err:
        _extract(_params(64), tmp_path, url, days=2)
    message = str(err.value)
    assert "target column 'defaulted' holds 14 value(s)" in message
    assert "2 (13 rows)" in message and "7 (1 row)" in message
    landing = tmp_path / repo_params.paths.landing_dir
    assert not [p for p in landing.rglob("*") if p.is_file()]  # neither the good first day nor a temp file


def test_validation_reads_the_snapshots_into_the_frame_the_per_file_read_gave(db, tmp_path):
    url, _ = db
    out = _extract(_params(64), tmp_path, url, days=3)  # two days of rows and an empty one
    paths = [Path(p) for p in out.paths]
    expected = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
    pd.testing.assert_frame_equal(read_snapshots(paths), expected)
    assert read_snapshots([]).empty
