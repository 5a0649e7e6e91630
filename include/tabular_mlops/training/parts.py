"""The window's parts (processed/train.parquet, holdout.parquet: one row group per day) read a row
group at a time, so training, evaluation and the gate never need a whole part in memory at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pandas.api.types import union_categoricals

from tabular_mlops.core.config import SchemaConfig


def part_rows(path: Path) -> int:
    """Rows in a part, from its footer."""
    return int(pq.ParquetFile(path).metadata.num_rows)


def _text_columns(schema: SchemaConfig) -> set[str]:
    return {f.name for f in schema.features if f.is_categorical}


def chunks(path: Path, schema: SchemaConfig, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
    """Each row group of `path` as a frame (index from 0), text category columns as pandas categoricals
    (one byte a row instead of a pointer to a string; `scoring.model_columns` reads either the same way)."""
    part = pq.ParquetFile(path)
    text = _text_columns(schema)
    for i in range(part.num_row_groups):
        table = part.read_row_group(i, columns=columns)
        for j, name in enumerate(table.column_names):
            if name in text and pa.types.is_string(table.schema.field(j).type):
                table = table.set_column(j, name, table.column(j).dictionary_encode())
        yield table.to_pandas()


def concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Row-wise concatenation that keeps categoricals categorical (pd.concat turns differing categories into
    strings), index from 0."""
    if not frames:
        return pd.DataFrame()
    if len(frames) == 1:
        return frames[0].reset_index(drop=True)
    first = frames[0]
    cats = [c for c in first.columns if isinstance(first[c].dtype, pd.CategoricalDtype)]
    out = pd.concat([f.drop(columns=cats) for f in frames], ignore_index=True)
    for c in cats:
        out[c] = pd.Series(union_categoricals([f[c] for f in frames]), index=out.index)
    return out[list(first.columns)]


def read_part(path: Path, schema: SchemaConfig, columns: list[str] | None = None) -> pd.DataFrame:
    """A whole part (categoricals as in `chunks`): peak memory about twice the part."""
    return concat(list(chunks(path, schema, columns)))


def head(path: Path, schema: SchemaConfig, rows: int) -> pd.DataFrame:
    """The first `rows` rows of a part, reading only the row groups they are in."""
    taken: list[pd.DataFrame] = []
    have = 0
    for chunk in chunks(path, schema):
        taken.append(chunk.head(rows - have))
        have += len(taken[-1])
        if have >= rows:
            break
    return concat(taken)


def rows_at(path: Path, schema: SchemaConfig, positions: np.ndarray) -> pd.DataFrame:
    """The rows at `positions` (0-based over the whole part), in the order given."""
    positions = np.asarray(positions, dtype=np.int64)
    taken: list[pd.DataFrame] = []
    found: list[np.ndarray] = []
    offset = 0
    for chunk in chunks(path, schema):
        inside = (positions >= offset) & (positions < offset + len(chunk))
        if inside.any():
            taken.append(chunk.iloc[positions[inside] - offset])
            found.append(np.flatnonzero(inside))
        offset += len(chunk)
    if not taken:
        return concat([])
    order = np.argsort(np.concatenate(found), kind="stable")
    return concat(taken).iloc[order].reset_index(drop=True)
