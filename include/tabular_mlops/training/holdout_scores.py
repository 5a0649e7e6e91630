"""The challenger's holdout scores, computed once by `evaluate` (a row group at a time) and stored with the
model, so the gate reuses them instead of loading the challenger again and re-scoring the holdout."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from tabular_mlops.core.atomic_files import atomic_parquet_writer
from tabular_mlops.core.config import SchemaConfig
from tabular_mlops.core.contracts import Tag
from tabular_mlops.model.scoring import score_frame
from tabular_mlops.model.trusted_files import sha256_of
from tabular_mlops.training.parts import chunks, part_rows, read_part


def score_part(
    model: Any, path: Path, schema: SchemaConfig, keep: Callable[[pd.DataFrame], np.ndarray] | None = None
) -> np.ndarray:
    """`model`'s scores for the rows of a part (of the rows `keep` selects in each row group), scored one row
    group at a time."""
    scores = [np.empty(0)]
    for chunk in chunks(path, schema, feature_columns(schema, keep is not None)):
        rows = chunk if keep is None else chunk[keep(chunk)]
        if len(rows):
            scores.append(score_frame(model, rows, schema))
    return np.concatenate(scores)


def feature_columns(schema: SchemaConfig, with_time: bool = False) -> list[str]:
    return [*([schema.timestamp_column] if with_time else []), *schema.feature_names]


def labels_and_times(path: Path, schema: SchemaConfig) -> pd.DataFrame:
    """The timestamp and label columns of a part (what metrics and the gate's day filter need)."""
    return read_part(path, schema, [schema.timestamp_column, schema.target_column])


def write_scores(
    model: Any, holdout: Path, schema: SchemaConfig, out: Path, owner: dict[str, str]
) -> np.ndarray:
    """Score the holdout once, a row group at a time, into `out` (one `score` column, row-aligned with the
    holdout; `owner` and the holdout's checksum in the file's metadata, so a reader can tell whose scores on
    which holdout they are). Returns the scores."""
    meta = {**owner, "holdout_sha256": sha256_of(holdout)}
    columns = pa.schema([("score", pa.float64())], metadata=meta)
    parts = []
    with atomic_parquet_writer(out, columns) as writer:
        for chunk in chunks(holdout, schema, feature_columns(schema)):
            scores = score_frame(model, chunk, schema)
            writer.write_table(
                pa.table({"score": scores}, schema=columns), row_group_size=max(len(scores), 1)
            )
            parts.append(scores)
    return np.concatenate(parts) if parts else np.empty(0)


def stored_scores(path: Path, holdout: Path, run_id: str | None, model_sha256: str) -> np.ndarray | None:
    """The scores `write_scores` stored for run `run_id`'s model file with checksum `model_sha256` on this very
    holdout, or None (another run, another model file, another holdout, or no file): the caller then scores the
    model itself."""
    import pyarrow.parquet as pq

    if run_id is None or not path.exists():
        return None
    meta = {k.decode(): v.decode() for k, v in (pq.read_schema(path).metadata or {}).items()}
    if meta.get("run_id") != run_id or meta.get("holdout_sha256") != sha256_of(holdout):
        return None
    if meta.get(Tag.MODEL_SHA256) != model_sha256:
        return None
    if pq.ParquetFile(path).metadata.num_rows != part_rows(holdout):
        return None
    return pq.read_table(path, columns=["score"]).column("score").to_numpy()
