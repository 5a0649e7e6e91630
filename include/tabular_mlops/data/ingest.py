"""One data interval from the source database to validated, published snapshots (the ingestion DAG's work)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from tabular_mlops.core.config import IngestConfig, PathsConfig, SchemaConfig, ValidateConfig
from tabular_mlops.core.contracts import SOURCE_CONN_ID
from tabular_mlops.data.batch_records import ExtractedBatch, PublishedBatch, ValidatedBatch
from tabular_mlops.data.publish import publish_snapshots

if TYPE_CHECKING:
    import pandas as pd

# extract/source (pandas, SQLAlchemy, pyarrow) and validate (pandas, GX) are imported by the functions that use
# them: the `version` task, which holds the one-slot dvc_repo pool while its process starts, then imports only
# what publishing needs (0.7 s less CPU per night on the backfill's serialised step; benchmarks/RESULTS.md).


def batch_id(start: dt.date, end: dt.date) -> str:
    return f"{start.isoformat()}_{end.isoformat()}"


def extract_interval(
    schema: SchemaConfig,
    ingest: IngestConfig,
    paths: PathsConfig,
    root: Path,
    db_url: str,
    start: dt.date,
    end: dt.date,
    conn_id: str = SOURCE_CONN_ID,
) -> ExtractedBatch:
    """Extract the rows whose labels matured in [start, end) into the landing area, a day at a time and
    `ingest.chunk_rows` rows at a time. Values not of their schema type quarantine the batch and raise
    SourceTypeError (not retryable): nothing is landed."""
    from tabular_mlops.data import extract
    from tabular_mlops.store import source_db

    days = extract.row_days(schema.label_delay_days, start, end)
    engine = source_db.connect(db_url, conn_id=conn_id)

    def chunks_of(day: dt.date) -> Iterator[pd.DataFrame]:
        first = dt.datetime.combine(day, dt.time())
        return source_db.iter_window(
            engine, schema, first, first + dt.timedelta(days=1), ingest.chunk_rows, conn_id
        )

    landing = root / paths.landing_dir / batch_id(start, end)
    try:
        landed, rows = extract.write_days(days, schema, landing, chunks_of)
    except extract.SourceTypeError as exc:
        from tabular_mlops.core.contracts import TYPE_FAULTS_FILE
        from tabular_mlops.data.raw_quarantine import quarantine_raw_rows

        quarantine = root / paths.quarantine_dir / batch_id(start, end)
        quarantine_raw_rows(quarantine, exc.faults, chunks_of)
        where = f"; batch quarantined in {quarantine} with the raw rows as read ({TYPE_FAULTS_FILE}: every row id)"
        raise extract.type_error(exc.faults, schema, where) from exc
    return ExtractedBatch(
        batch_id=batch_id(start, end),
        row_days=tuple(d.isoformat() for d in days),
        rows=rows,
        paths=tuple(str(p) for p in landed),
    )


def validate_extracted(
    schema: SchemaConfig, rules: ValidateConfig, paths: PathsConfig, root: Path, extracted: ExtractedBatch
) -> ValidatedBatch:
    """GX checkpoint on the landed batch: stage it for publishing, or quarantine it and raise."""
    from tabular_mlops.data.validate import validate_landed

    landed = [Path(p) for p in extracted.paths]
    outcome = validate_landed(landed, schema, rules, paths, root, extracted.batch_id)
    return ValidatedBatch(extracted.batch_id, tuple(str(p) for p in landed), outcome.data_docs)


def publish_validated(
    paths: PathsConfig, root: Path, validated: ValidatedBatch, push: bool = True
) -> PublishedBatch:
    """Publish the staged snapshots into the raw folder as a new data version, on the DVC remote (`push`), or
    leave everything as it was."""
    result = publish_snapshots(root / paths.raw_dir, root, [Path(p) for p in validated.staged], push)
    return PublishedBatch(
        validated.batch_id, tuple(result.published), result.dvc_data_hash, validated.data_docs
    )
