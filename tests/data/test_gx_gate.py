"""The real GX checkpoint passes the stable scenario and rejects every data-quality scenario of the simulator."""

import datetime as dt
from pathlib import Path

import pytest
from tabular_mlops.core.contracts import gx_sidecar, snapshot_name
from tabular_mlops.data.batch_records import ValidatedBatch
from tabular_mlops.data.ingest import extract_interval, publish_validated, validate_extracted
from tabular_mlops.data.simulate import QUALITY_SCENARIOS, generate_day
from tabular_mlops.data.validate import ValidationFailedError
from tabular_mlops.store import source_db

from tests.support.project import make_project

EXPECTED_COLUMN = {
    "null_burst": "income",
    "out_of_range": "age",
    "unseen_category": "region",
    "missing_column": "debt_to_income",
    "renamed_column": "income",
    "empty_day": "row_count",
    "duplicate_ids": "application_id",
}
DAY = dt.date(2026, 1, 1)


@pytest.fixture(scope="module")
def gx_project(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("gx") / "project")


def _ingest(project: Path, params, scenario: str, index: int) -> ValidatedBatch:
    day = DAY + dt.timedelta(days=index)
    url = f"sqlite:///{project / 'src.db'}"
    source_db.write_day(source_db.connect(url), params.schema, day, generate_day(day, 400, 21, scenario))
    night = day + dt.timedelta(days=params.schema.label_delay_days)
    extracted = extract_interval(
        params.schema, params.ingest, params.paths, project, url, night, night + dt.timedelta(days=1)
    )
    return validate_extracted(params.schema, params.validate, params.paths, project, extracted)


def test_stable_batch_is_staged_then_published_with_data_docs(gx_project, repo_params):
    validated = _ingest(gx_project, repo_params, "stable", 0)
    staged = Path(validated.staged[0])
    assert staged.exists() and gx_sidecar(staged).exists()
    assert not (gx_project / "data" / staged.name).exists(), "validation alone must not publish"
    out = publish_validated(repo_params.paths, gx_project, validated, push=False)
    published = Path(out.published[0])
    assert published.exists() and published.parent == gx_project / "data"
    assert gx_sidecar(published).exists() and not staged.exists()
    assert out.data_docs and Path(out.data_docs.removeprefix("file://")).exists()


@pytest.mark.parametrize("scenario", QUALITY_SCENARIOS)
def test_quality_scenarios_are_quarantined_with_reasons(gx_project, repo_params, scenario):
    index = 1 + QUALITY_SCENARIOS.index(scenario)
    with pytest.raises(ValidationFailedError) as err:
        _ingest(gx_project, repo_params, scenario, index)
    message = str(err.value)
    column = EXPECTED_COLUMN[scenario]
    assert (column in message) if column != "row_count" else ("row_count" in message)
    day = DAY + dt.timedelta(days=index)
    name = snapshot_name(day)
    assert not (gx_project / "data" / name).exists()
    quarantined = list((gx_project / "quarantine").glob(f"*/{name}"))
    assert len(quarantined) == 1
    assert (quarantined[0].parent / "validation_result.json").exists()


def test_a_failed_rerun_of_a_published_night_keeps_its_snapshot(gx_project, repo_params):
    """A night re-run after its source rows went missing fails validation; the day it published stays."""
    validated = _ingest(gx_project, repo_params, "stable", 20)
    published = Path(publish_validated(repo_params.paths, gx_project, validated, push=False).published[0])
    before = published.read_bytes()
    with pytest.raises(ValidationFailedError, match="are kept"):
        _ingest(gx_project, repo_params, "empty_day", 20)
    assert published.read_bytes() == before and gx_sidecar(published).exists()


def test_validations_are_named_by_batch_and_listed_offline(gx_project, repo_params):
    """GX stores the run under the batch id (not `__none__`); the offline index lists passed and failed batches
    by night, with the failed expectation and its observed value, and loads nothing from a network."""
    import json

    from tabular_mlops.data.docs_index import offline_dir

    _ingest(gx_project, repo_params, "stable", 30)
    with pytest.raises(ValidationFailedError) as err:
        _ingest(gx_project, repo_params, "out_of_range", 31)
    # The failed expectations close the message (and so the task log), one per line, with observed values.
    last = str(err.value).splitlines()[-1]
    assert last.startswith("  - expect_") and "age" in last and "unexpected" in last
    nights = [DAY + dt.timedelta(days=i + repo_params.schema.label_delay_days) for i in (30, 31)]
    runs = sorted(
        (gx_project / repo_params.paths.expectations_dir / "gx" / "uncommitted" / "validations").rglob(
            "*.json"
        )
    )
    stored = [json.loads(p.read_text()) for p in runs]
    names = {r["meta"]["run_id"]["run_name"] for r in stored}
    assert {f"{n}_{n + dt.timedelta(days=1)}" for n in nights} <= names and "__none__" not in names
    page = (offline_dir(gx_project / repo_params.paths.expectations_dir) / "index.html").read_text()
    assert "http" not in page.split("<body>")[0] and "<script" not in page
    failed_row = next(row for row in page.split("<tr") if nights[1].isoformat() in row)
    assert "FAILED" in failed_row and "age" in failed_row and "unexpected" in failed_row
    passed_row = next(row for row in page.split("<tr") if nights[0].isoformat() in row)
    assert "passed" in passed_row


def test_each_offline_row_links_to_its_validation_page(gx_project, repo_params):
    """A night's row links (relative to the index) to the GX page of that batch's validation, failed or not."""
    import re

    from tabular_mlops.data.docs_index import offline_dir

    _ingest(gx_project, repo_params, "stable", 40)
    with pytest.raises(ValidationFailedError):
        _ingest(gx_project, repo_params, "null_burst", 41)
    folder = offline_dir(gx_project / repo_params.paths.expectations_dir)
    page = (folder / "index.html").read_text()
    for index in (40, 41):
        night = DAY + dt.timedelta(days=index + repo_params.schema.label_delay_days)
        batch = f"{night}_{night + dt.timedelta(days=1)}"
        row = next(row for row in page.split("<tr") if f"<td>{batch}</td>" in row)
        hrefs = set(re.findall(r'href="([^"]+)"', row))
        assert len(hrefs) == 1, row
        href = hrefs.pop()
        assert not href.startswith(("/", "file:")) and href.startswith("../local_site/validations/")
        target = (folder / href).resolve()
        assert target.is_file() and batch in target.read_text(), target


def test_validation_waits_for_the_gx_project_lock(gx_project, repo_params, monkeypatch):
    """Nights of a backfill validate one at a time: while another process holds the GX project lock, a
    validation waits (here: gives up after its timeout) and leaves the landed batch as it was."""
    import subprocess
    import sys
    import time

    from filelock import Timeout
    from tabular_mlops.data import validate

    lock = validate.gx_lock(gx_project / repo_params.paths.expectations_dir).lock_file
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import filelock, time; held = filelock.FileLock({lock!r}); held.acquire(); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        monkeypatch.setattr(validate, "GX_LOCK_TIMEOUT_S", 1)
        started = time.monotonic()
        with pytest.raises(Timeout):
            _ingest(gx_project, repo_params, "stable", 5)
        assert time.monotonic() - started >= 1
        landed = sorted((gx_project / repo_params.paths.landing_dir).rglob("*.parquet"))
        assert landed and not any(gx_sidecar(p).exists() for p in landed if "2026-01-06" in p.name)
    finally:
        holder.kill()
        holder.wait()
    _ingest(gx_project, repo_params, "stable", 5)  # lock released: the same night validates
