"""An offline index of the validations: one static HTML page (no script, no stylesheet from a CDN) listing each
validated batch by night, with passed / failed, the failed expectations and their observed values.

Great Expectations' Data Docs load Bootstrap and jQuery from CDNs and are blank without a network; this page is
written next to them (`uncommitted/data_docs/offline/index.html`) from one JSON record per batch, so a re-run
batch replaces its row and the page is rebuilt whole each time (temporary file, then rename).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from tabular_mlops.core.atomic_files import atomic_write_json

INDEX_FILE = "index.html"
RECORDS_DIR = "records"


def offline_dir(expectations_dir: Path) -> Path:
    return expectations_dir / "gx" / "uncommitted" / "data_docs" / "offline"


def night_of(batch_id: str) -> str:
    """The ingestion night a batch id (`<start>_<end>`) names; the id itself when it names none."""
    head = batch_id.split("_", 1)[0]
    try:
        return dt.date.fromisoformat(head).isoformat()
    except ValueError:
        return batch_id


def record_validation(
    expectations_dir: Path,
    batch_id: str,
    asset: str,
    suite: str,
    success: bool,
    failures: list[str],
    statistics: dict[str, Any],
    validation_page: str | None = None,
) -> Path:
    """Write the batch's record and rebuild the index; returns the index path. `validation_page` is the file://
    URL of GX's page for this validation; the record keeps it relative to the index, so the link survives a
    moved checkout."""
    folder = offline_dir(expectations_dir)
    atomic_write_json(
        folder / RECORDS_DIR / f"{batch_id}.json",
        {
            "night": night_of(batch_id),
            "batch_id": batch_id,
            "asset": asset,
            "suite": suite,
            "success": success,
            "failures": failures,
            "evaluated": statistics.get("evaluated_expectations"),
            "successful": statistics.get("successful_expectations"),
            "validated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "page": page_link(folder, validation_page),
        },
    )
    return render_index(folder)


def page_link(folder: Path, url: str | None) -> str | None:
    """A GX page's file:// URL as a path relative to the index folder (None: no page, or not a local file)."""
    if not url or urlparse(url).scheme != "file":
        return None
    return Path(os.path.relpath(unquote(urlparse(url).path), folder)).as_posix()


def _linked(text: str, href: str | None) -> str:
    shown = html.escape(text)
    return f'<a href="{html.escape(href)}">{shown}</a>' if href else shown


def _row(r: dict[str, Any]) -> str:
    status = "passed" if r["success"] else "FAILED"
    failures = "".join(f"<li>{html.escape(f)}</li>" for f in r["failures"])
    counts = f"{r.get('successful')}/{r.get('evaluated')}"
    page = r.get("page")  # records written before pages were kept have none
    return (
        f'<tr class="{status.lower()}"><td>{_linked(r["night"], page)}</td><td>{html.escape(r["batch_id"])}</td>'
        f"<td>{html.escape(r['asset'])}</td><td>{_linked(status, page)}</td><td>{counts}</td>"
        f"<td><ul>{failures}</ul></td><td>{html.escape(r['validated_at'])}</td></tr>"
    )


def render_index(folder: Path) -> Path:
    """The index of every recorded batch, newest night first, failed batches counted in the title."""
    records = [json.loads(p.read_text()) for p in sorted((folder / RECORDS_DIR).glob("*.json"))]
    records.sort(key=lambda r: (r["night"], r["batch_id"]), reverse=True)
    failed = sum(not r["success"] for r in records)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Validations: {len(records)} batches, {failed} failed</title>
<style>
body {{ font-family: sans-serif; margin: 24px; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }}
tr.failed td {{ background: #fde2e2; }}
tr.passed td:nth-child(4) {{ color: #1a7f37; }}
ul {{ margin: 0; padding-left: 18px; }}
</style></head><body>
<h1>Data validations</h1>
<p>{len(records)} batches, {failed} failed. Each row is one ingestion batch (night = the run's logical date),
validated by the Great Expectations suite; a failed batch was quarantined. This page needs no network; a night
or result links to Great Expectations' own page for that validation (all of them:
<code>../local_site/index.html</code>, run name = the batch id), which draws its full layout only online.</p>
<table id="validations"><thead><tr><th>night</th><th>batch</th><th>data asset</th><th>result</th>
<th>expectations met</th><th>failed expectations (observed)</th><th>validated</th></tr></thead>
<tbody>
{"".join(_row(r) for r in records)}
</tbody></table></body></html>
"""
    path = folder / INDEX_FILE
    tmp = path.with_name(f".{INDEX_FILE}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
