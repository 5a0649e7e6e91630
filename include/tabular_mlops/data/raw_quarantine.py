"""A night whose source values are not of their schema types is quarantined at extraction: nothing is landed,
validated or published, and paths.quarantine_dir/<batch id>/ keeps what an operator needs to fix the source: the
columns, counts and row ids (`type_faults.json`, never the values) and each faulty day's rows as read (JSON lines,
so "52,000" stays the text it was beside the numbers; the time column is in UTC, as every window reads it)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from tabular_mlops.core.atomic_files import atomic_write_json
from tabular_mlops.core.contracts import TYPE_FAULTS_FILE, raw_rows_name
from tabular_mlops.data.extract import TypeFaults


def quarantine_raw_rows(
    quarantine: Path, faults: TypeFaults, chunks_of: Callable[[dt.date], Iterable[pd.DataFrame]]
) -> Path:
    """Write the faulty days' rows as read (read again, a chunk at a time) and the faults into `quarantine`
    (replacing an earlier quarantine of the same batch); returns the folder."""
    if quarantine.exists():
        shutil.rmtree(quarantine)
    quarantine.mkdir(parents=True)
    for day in sorted(faults.days):
        path = quarantine / raw_rows_name(day)
        tmp = path.with_name(f".{path.name}.tmp")
        with tmp.open("w", encoding="utf-8") as out:
            for chunk in chunks_of(day):
                if len(chunk):
                    text = chunk.to_json(orient="records", lines=True, date_format="iso", date_unit="us")
                    out.write(text if text.endswith("\n") else text + "\n")
        os.replace(tmp, path)
    atomic_write_json(quarantine / TYPE_FAULTS_FILE, faults.to_dict())
    return quarantine
