"""One data interval from the source database to validated, published snapshots (the ingestion DAG's work)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tabular_mlops.config import Params
from tabular_mlops.data import extract, source
from tabular_mlops.data.validate import publish_or_quarantine


def batch_id(start: dt.date, end: dt.date) -> str:
    return f"{start.isoformat()}_{end.isoformat()}"


def extract_interval(
    params: Params, root: Path, db_url: str, start: dt.date, end: dt.date, conn_id: str = "source_db"
) -> dict:
    """Extract the applications whose labels matured in [start, end) into the landing area."""
    days = extract.application_days(params.schema.label_delay_days, start, end)
    engine = source.connect(db_url, conn_id=conn_id)
    first = dt.datetime.combine(days[0], dt.time())
    batch = source.read_window(engine, params.schema, first, first + dt.timedelta(days=len(days)), conn_id)
    landing = root / params.paths.landing_dir / batch_id(start, end)
    paths = extract.write_snapshots(batch, params.schema, days, landing)
    return {
        "batch_id": batch_id(start, end),
        "application_days": [d.isoformat() for d in days],
        "rows": len(batch),
        "paths": [str(p) for p in paths],
    }


def validate_extracted(params: Params, root: Path, extracted: dict) -> dict:
    """GX checkpoint on the landed batch: publish into the raw folder, or quarantine and raise."""
    paths = [Path(p) for p in extracted["paths"]]
    outcome = publish_or_quarantine(paths, params, root, extracted["batch_id"])
    return {
        "batch_id": extracted["batch_id"],
        "published": [str(root / params.paths.raw_dir / p.name) for p in paths],
        "data_docs": outcome.data_docs,
    }
