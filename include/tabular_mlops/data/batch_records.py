"""What each step of a data interval's ingestion hands on: the landed batch, the validated (staged) batch and the
published data version. Frozen records; the ingestion DAG passes them through XCom as `to_dict()` and reads them
back with `from_dict()`, so every step sees exactly what the previous one returned."""

from __future__ import annotations

from dataclasses import dataclass

from tabular_mlops.stats.records import JsonRecord


@dataclass(frozen=True)
class ExtractedBatch(JsonRecord):
    """The rows of an interval landed as one snapshot per day (`paths`)."""

    batch_id: str
    row_days: tuple[str, ...]
    rows: int
    paths: tuple[str, ...]


@dataclass(frozen=True)
class ValidatedBatch(JsonRecord):
    """A batch that passed its GX checkpoint: its snapshots wait, staged, for publishing."""

    batch_id: str
    staged: tuple[str, ...]
    data_docs: str | None = None


@dataclass(frozen=True)
class PublishedBatch(JsonRecord):
    """The snapshots now in the raw folder and the data version they made (None when not pushed)."""

    batch_id: str
    published: tuple[str, ...]
    dvc_data_hash: str | None
    data_docs: str | None = None
