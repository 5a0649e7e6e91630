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
from tabular_mlops.config import SchemaConfig
from tabular_mlops.io import atomic_write_parquet


def application_days(label_delay_days: int, start: dt.date, end: dt.date) -> list[dt.date]:
    """Application days whose labels mature in the run interval [start, end)."""
    if end <= start:
        raise ValueError(f"empty data interval: start {start} is not before end {end}")
    lag = dt.timedelta(days=label_delay_days)
    return [start - lag + dt.timedelta(days=i) for i in range((end - start).days)]


def conform(batch: pd.DataFrame, schema: SchemaConfig) -> pd.DataFrame:
    """Give the batch stable dtypes from the schema; never drop or invent schema columns (GX judges them).

    Columns outside the schema that carry no value in this batch are table artifacts of other days and are
    dropped; a non-empty unknown column is kept so validation reports it.
    """
    df = batch.copy()
    extra = [c for c in df.columns if c not in schema.columns]
    df = df.drop(columns=[c for c in extra if df[c].isna().all()])
    types = {f.name: f.type for f in schema.features}
    for col in df.columns:
        kind = types.get(col)
        if col == schema.timestamp_column:
            df[col] = pd.to_datetime(df[col]).astype("datetime64[us]")
        elif col in (schema.id_column,) or kind == "category":
            df[col] = df[col].astype(object).where(df[col].notna(), None)
        elif kind == "int" or col == schema.target_column:
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
