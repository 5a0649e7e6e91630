"""Extract one data interval from the source database into daily Parquet snapshots (landing area).

The run for interval [start, end) extracts the applications of [start - label_delay, end - label_delay):
their labels have matured by the end of the interval, so a label is never read before it exists.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from tabular_mlops.artifacts import snapshot_name
from tabular_mlops.config import SchemaConfig, label_key
from tabular_mlops.io import atomic_write_parquet


class TargetLabelError(ValueError):
    """The target holds values that are neither the positive nor a negative label; the message shows them."""


def encode_target(values: pd.Series, schema: SchemaConfig) -> pd.Series:
    """The target as 0/1 (Int64, missing stays missing): schema.positive_label -> 1, negative_labels -> 0.

    Mapped once, where rows leave the source. Any other value raises TargetLabelError naming the values found
    and how many rows hold each, so a yes/no column is never silently nulled."""
    codes = schema.target_codes()
    present = values[values.notna()]
    keys = present.map(label_key)
    unknown = present[~keys.isin(list(codes))]
    if len(unknown):
        counts = unknown.map(repr).value_counts().sort_index()
        found = ", ".join(f"{v} ({n} row{'s' if n > 1 else ''})" for v, n in counts.head(10).items())
        raise TargetLabelError(
            f"target column '{schema.target_column}' holds {len(unknown)} value(s) that are neither "
            f"schema.positive_label {schema.positive_label!r} nor one of schema.negative_labels "
            f"{list(schema.negative_labels)}: {found}"
        )
    out = pd.Series(pd.NA, index=values.index, dtype="Int64")
    out[keys.index] = keys.map(codes).astype("int64")
    return out


def application_days(label_delay_days: int, start: dt.date, end: dt.date) -> list[dt.date]:
    """Application days whose labels mature in the run interval [start, end)."""
    if end <= start:
        raise ValueError(f"empty data interval: start {start} is not before end {end}")
    lag = dt.timedelta(days=label_delay_days)
    return [start - lag + dt.timedelta(days=i) for i in range((end - start).days)]


def _as_text(values: pd.Series) -> pd.Series:
    """Text categories as str (an integer-typed source column gives '86', not 86 or '86.0'); None = missing."""
    return values.astype(object).map(
        lambda v: None if pd.isna(v) else label_key(v) if not isinstance(v, str) else v
    )


def conform(batch: pd.DataFrame, schema: SchemaConfig) -> pd.DataFrame:
    """Only the schema's columns, with stable dtypes from the schema and the target mapped to 0/1; a schema
    column the source lacks stays absent (GX reports it). Other source columns are never copied."""
    df = batch[[c for c in schema.columns if c in batch.columns]].copy()
    specs = {f.name: f for f in schema.features}
    for col in df.columns:
        spec = specs.get(col)
        if col == schema.timestamp_column:
            df[col] = pd.to_datetime(df[col]).astype("datetime64[us]")
        elif col == schema.target_column:
            df[col] = encode_target(df[col], schema)
        elif col == schema.id_column:
            df[col] = df[col].astype(object).where(df[col].notna(), None)
        elif spec is not None and spec.is_categorical and not spec.integer_codes:
            df[col] = _as_text(df[col])
        elif spec is not None and (spec.type == "int" or spec.integer_codes):
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
        else:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(np.float64)
    return df.reset_index(drop=True)


def write_snapshots(
    batch: pd.DataFrame, schema: SchemaConfig, days: list[dt.date], out_dir: Path
) -> list[Path]:
    """One Parquet file per application day, written atomically; an empty day still gets a (0-row) file."""
    df = conform(batch, schema)
    day_of = pd.to_datetime(df[schema.timestamp_column]).dt.date
    paths = []
    for day in days:
        part = df[day_of == day].reset_index(drop=True)
        path = out_dir / snapshot_name(day)
        atomic_write_parquet(path, part)
        paths.append(path)
    return paths
