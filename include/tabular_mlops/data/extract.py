"""Extract one data interval from the source database into daily Parquet snapshots (landing area).

The run for interval [start, end) extracts the rows of [start - label_delay, end - label_delay):
their labels have matured by the end of the interval, so a label is never read before it exists.

A day is read and written in chunks (`ingest.chunk_rows`): each chunk is conformed to the schema's types and
appended as one Parquet row group, so memory does not grow with the day's size. Row groups follow the day's own
rows (chunk k holds rows k*chunk_rows.. of the day in (timestamp, id) order), so the bytes depend neither on how a
backfill splits its intervals nor on the chunks' neighbours; a day smaller than a chunk is one row group, as a
whole-frame `to_parquet` writes it.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tabular_mlops.core.config import SchemaConfig, label_key
from tabular_mlops.core.contracts import snapshot_name
from tabular_mlops.core.input_errors import NotRetryableError
from tabular_mlops.model.target_labels import encode_target_counted, label_error
from tabular_mlops.store.time_columns import to_naive_utc


def row_days(label_delay_days: int, start: dt.date, end: dt.date) -> list[dt.date]:
    """Days (of the rows' time column) whose labels mature in the run interval [start, end)."""
    if end <= start:
        raise ValueError(f"empty data interval: start {start} is not before end {end}")
    lag = dt.timedelta(days=label_delay_days)
    return [start - lag + dt.timedelta(days=i) for i in range((end - start).days)]


def _as_text(values: pd.Series) -> pd.Series:
    """Text categories as str (an integer-typed source column gives '86', not 86 or '86.0'); None = missing."""
    return values.astype(object).map(
        lambda v: None if pd.isna(v) else label_key(v) if not isinstance(v, str) else v
    )


def _kind(col: str, schema: SchemaConfig) -> str:
    """How a schema column is stored: timestamp, target, id, text, int or float."""
    if col == schema.timestamp_column:
        return "timestamp"
    if col == schema.target_column:
        return "target"
    if col == schema.id_column:
        return "id"
    spec = schema.feature(col)
    if spec.is_categorical and not spec.integer_codes:
        return "text"
    return "int" if spec.type == "int" or spec.integer_codes else "float"


# The Parquet type of each kind: fixed by the config, so every chunk (even one whose text column is all missing)
# is written with the same types.
_ARROW_TYPES = {
    "timestamp": pa.timestamp("us"),
    "target": pa.int64(),
    "id": pa.string(),
    "text": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
}


def arrow_schema(schema: SchemaConfig, columns: Iterable[str]) -> pa.Schema:
    """The snapshot's Parquet schema for the schema columns the source holds (`columns`, in that order)."""
    return pa.schema([pa.field(c, _ARROW_TYPES[_kind(c, schema)]) for c in columns])


@dataclass
class TypeFaults:
    """Source values that do not parse as their column's schema type, per column: the ids of their rows (the
    values themselves are never kept: they may be personal data, and the raw rows are quarantined)."""

    row_ids: dict[str, list[str]] = field(default_factory=dict)
    days: set[dt.date] = field(default_factory=set)

    def add(self, column: str, ids: Iterable[str]) -> None:
        self.row_ids.setdefault(column, []).extend(ids)

    def __bool__(self) -> bool:
        return bool(self.row_ids)

    def to_dict(self) -> dict[str, Any]:
        return {
            "days": sorted(d.isoformat() for d in self.days),
            "columns": {c: {"count": len(ids), "row_ids": ids} for c, ids in sorted(self.row_ids.items())},
        }


class SourceTypeError(NotRetryableError, ValueError):
    """Source values of the wrong type (e.g. "52,000" in a float column): the night is quarantined, not retried.
    The message names each column, its count and a few row ids; `faults` holds every row id."""

    def __init__(self, message: str, faults: TypeFaults) -> None:
        super().__init__(message)
        self.faults = faults


def type_error(faults: TypeFaults, schema: SchemaConfig, where: str = "") -> SourceTypeError:
    cols = "; ".join(
        f"column '{c}' ({_kind(c, schema)}): {len(ids)} row(s), e.g. {schema.id_column} {ids[:5]}"
        for c, ids in sorted(faults.row_ids.items())
    )
    return SourceTypeError(f"source values that are not of their column's schema type: {cols}{where}", faults)


# Text that stands for "no value" in a loosely typed column: read as missing, not as a value of the wrong type.
_MISSING_TEXT = ("", "nan")


def _numbers(values: pd.Series, integer: bool) -> tuple[pd.Series, pd.Series]:
    """The column as numbers, and which present values are not numbers (or not whole, for an int column)."""
    parsed = pd.to_numeric(values, errors="coerce")
    if pd.api.types.is_numeric_dtype(values.dtype):
        wrong = pd.Series(False, index=values.index)
    else:
        blank = values.map(lambda v: isinstance(v, str) and v.strip().lower() in _MISSING_TEXT)
        wrong = parsed.isna() & values.notna() & ~blank
    if integer:
        fractional = parsed.notna() & (parsed != parsed.round())
        wrong |= fractional
        parsed = parsed.where(~fractional)
    return parsed, wrong


def _conform(batch: pd.DataFrame, schema: SchemaConfig) -> tuple[pd.DataFrame, Counter[str], TypeFaults]:
    """`conform`, with unknown target values and values of the wrong type counted instead of raised (a chunked
    read counts them all)."""
    df = batch[[c for c in schema.columns if c in batch.columns]].copy()
    unknown: Counter[str] = Counter()
    faults = TypeFaults()
    for col in df.columns:
        kind = _kind(col, schema)
        if kind == "timestamp":
            df[col] = to_naive_utc(df[col], col).astype("datetime64[us]")
        elif kind == "target":
            df[col], unknown = encode_target_counted(df[col], schema)
        elif kind == "id":
            df[col] = df[col].astype(object).where(df[col].notna(), None)
        elif kind == "text":
            df[col] = _as_text(df[col])
        else:
            parsed, wrong = _numbers(df[col], integer=kind == "int")
            if wrong.any():
                faults.add(col, _ids(batch, schema, wrong))
            df[col] = parsed.astype("Int64") if kind == "int" else parsed.astype(np.float64)
    return df.reset_index(drop=True), unknown, faults


def _ids(batch: pd.DataFrame, schema: SchemaConfig, rows: pd.Series) -> list[str]:
    if schema.id_column not in batch.columns:
        return [f"row {i}" for i in np.flatnonzero(rows.to_numpy())]
    return [str(v) for v in batch.loc[rows.to_numpy(), schema.id_column]]


def conform(batch: pd.DataFrame, schema: SchemaConfig) -> pd.DataFrame:
    """Only the schema's columns, with stable dtypes from the schema and the target mapped to 0/1; a schema
    column the source lacks stays absent (GX reports it). Other source columns are never copied. A value that
    is not of its column's type raises SourceTypeError (never a silent null)."""
    df, unknown, faults = _conform(batch, schema)
    if unknown:
        raise label_error(unknown, schema)
    if faults:
        raise type_error(faults, schema)
    return df


def _temp_beside(path: Path) -> Path:
    """A new, empty temporary file beside `path` (same folder, so `os.replace` onto `path` is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    return Path(tmp)


def _write_day(
    chunks: Iterable[pd.DataFrame], schema: SchemaConfig, tmp: Path, unknown: Counter[str], faults: TypeFaults
) -> int:
    """Conform each chunk and append it to `tmp` as one row group; returns the rows written. Unknown target
    values and values of the wrong type are added to `unknown` and `faults`: from the first one on nothing more
    is written, but every chunk is still read so the error can count all of them."""
    writer: pq.ParquetWriter | None = None
    rows = 0
    try:
        for chunk in chunks:
            df, bad, wrong = _conform(chunk, schema)
            unknown.update(bad)
            for col, ids in wrong.row_ids.items():
                faults.add(col, ids)
            if unknown or faults:
                continue
            table = pa.Table.from_pandas(df, schema=arrow_schema(schema, df.columns), preserve_index=False)
            if writer is None:
                # The options of `DataFrame.to_parquet`: a day in one chunk gives the bytes it gave.
                writer = pq.ParquetWriter(tmp, table.schema, compression="snappy")
            writer.write_table(table)  # one row group: chunk_rows <= 1M, below pyarrow's row group limit
            rows += len(df)
    finally:
        if writer is not None:
            writer.close()
    if writer is None and not unknown and not faults:
        raise ValueError(f"no chunk, not even an empty one, to write {tmp}")
    return rows


def write_days(
    days: list[dt.date],
    schema: SchemaConfig,
    out_dir: Path,
    chunks_of: Callable[[dt.date], Iterable[pd.DataFrame]],
) -> tuple[list[Path], int]:
    """One Parquet file per day from that day's chunks (`chunks_of(day)`, at least one, maybe empty:
    an empty day still gets a 0-row file); returns the paths and the rows written. Every day is written to a
    temporary file and renamed only when all days are written: a failure (unknown labels or values of the wrong
    type in any chunk, a lost connection) leaves no new or half-written file. Values of the wrong type raise
    SourceTypeError, whose `faults` say which days hold them."""
    temps: list[tuple[Path, Path]] = []
    unknown: Counter[str] = Counter()
    faults = TypeFaults()
    rows = 0
    try:
        for day in days:
            path = out_dir / snapshot_name(day)
            temps.append((_temp_beside(path), path))
            before = sum(len(ids) for ids in faults.row_ids.values())
            rows += _write_day(chunks_of(day), schema, temps[-1][0], unknown, faults)
            if sum(len(ids) for ids in faults.row_ids.values()) > before:
                faults.days.add(day)
        if unknown:
            raise label_error(unknown, schema)
        if faults:
            raise type_error(faults, schema)
        for tmp, path in temps:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)
        raise
    return [path for _, path in temps], rows


def write_snapshots(
    batch: pd.DataFrame, schema: SchemaConfig, days: list[dt.date], out_dir: Path, chunk_rows: int = 100_000
) -> list[Path]:
    """`write_days` for rows already in memory (tests, fixtures): the same bytes as extracting them."""
    day_of = to_naive_utc(batch[schema.timestamp_column], schema.timestamp_column).dt.date

    def chunks_of(day: dt.date) -> list[pd.DataFrame]:
        part = batch[day_of == day]
        return [part.iloc[i : i + chunk_rows] for i in range(0, max(len(part), 1), chunk_rows)]

    return write_days(days, schema, out_dir, chunks_of)[0]
