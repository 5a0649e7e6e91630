"""The champion's reference data read by its DVC data hash on a real DVC project: from the remote when the cache is
cleared, from the cache when the remote lacks it, never through the workspace, and safely by two readers at once."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import tempfile
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pandas as pd
import pytest
from tabular_mlops.core.config import load_params
from tabular_mlops.core.contracts import DATA_DVC_FILE, snapshot_name
from tabular_mlops.core.data_version import dvc_data_hash
from tabular_mlops.data.extract import write_snapshots
from tabular_mlops.data.simulate import generate_day
from tabular_mlops.data.versioning import dvc_add_and_push, run_dvc
from tabular_mlops.monitoring.champion_reference import load_reference

from tests.support.project import make_project

START = dt.date(2026, 1, 1)
WINDOW = "2026-01-02..2026-01-04"


def _write_days(project: Path, first: dt.date, days: int, seed: int) -> None:
    params = load_params(project / "params.yaml")
    dates = [first + dt.timedelta(days=i) for i in range(days)]
    batch = pd.concat([generate_day(d, 40, seed) for d in dates], ignore_index=True)
    write_snapshots(batch, params.schema, dates, project / params.paths.raw_dir)


def _git_status(project: Path) -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--ignored"], cwd=project, capture_output=True, text=True, check=True
    ).stdout


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    """Two data versions pushed to the project's local remote; the workspace holds the second."""
    project = make_project(tmp_path_factory.mktemp("reference") / "project")
    params = load_params(project / "params.yaml")
    raw = project / params.paths.raw_dir
    _write_days(project, START, 5, seed=1)
    dvc_add_and_push(raw, project)
    first = dvc_data_hash(project)
    expected = pd.concat(
        [pd.read_parquet(raw / snapshot_name(START + dt.timedelta(days=i))) for i in (1, 2, 3)],
        ignore_index=True,
    )
    _write_days(project, START, 6, seed=2)  # every day rewritten, one day more: a new version
    dvc_add_and_push(raw, project)
    second = dvc_data_hash(project)
    assert first != second
    return project, first, second, expected


def _clear_cache(project: Path) -> None:
    shutil.rmtree(Path(run_dvc(["cache", "dir"], project).strip()))


def test_an_old_version_is_read_from_the_remote_with_the_cache_cleared(versions, tmp_path, monkeypatch):
    project, first, _, expected = versions
    _clear_cache(project)
    workspace = (_tree(project / "data"), (project / DATA_DVC_FILE).read_bytes(), _git_status(project))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the scratch project goes

    got = load_reference(project, first, WINDOW)

    pd.testing.assert_frame_equal(got, expected)
    # The workspace holds the newer version and is left exactly as it was; the scratch project is gone.
    assert (
        _tree(project / "data"),
        (project / DATA_DVC_FILE).read_bytes(),
        _git_status(project),
    ) == workspace
    assert list(tmp_path.iterdir()) == []


def test_a_version_only_in_the_cache_is_read_without_a_remote(versions, tmp_path):
    project, _, second, _ = versions
    run_dvc(["fetch", "--quiet", DATA_DVC_FILE], project)  # cache <- remote
    remote = Path(run_dvc(["remote", "list"], project).split()[1])  # "<name> <url> (default)"
    moved = tmp_path / "remote-away"
    shutil.move(remote, moved)
    try:
        got = load_reference(project, second, "2026-01-05..2026-01-06")
    finally:
        shutil.move(moved, remote)
    assert sorted(got["applied_at"].dt.date.unique()) == [dt.date(2026, 1, 5), dt.date(2026, 1, 6)]


def test_a_version_in_neither_store_is_a_clear_error_naming_the_hash(versions):
    project = versions[0]
    missing = "0123456789abcdef0123456789abcdef.dir"
    with pytest.raises(FileNotFoundError, match=missing) as info:
        load_reference(project, missing, WINDOW)
    assert "var/dvc-remote" in str(info.value)


@pytest.mark.parametrize(
    ("dvc_hash", "window", "message"),
    [
        ("untracked", WINDOW, "DVC data hash"),
        ("../../etc.dir", WINDOW, "DVC data hash"),
        ("0123456789abcdef0123456789abcdef.dir", "2026-01-02", "reference window"),
    ],
)
def test_unusable_tags_are_rejected_before_dvc_runs(tmp_path, dvc_hash, window, message):
    with pytest.raises(ValueError, match=message):
        load_reference(tmp_path, dvc_hash, window)


def test_a_window_outside_the_version_is_an_error(versions):
    project, first, _, _ = versions
    with pytest.raises(ValueError, match="no snapshot in the reference window"):
        load_reference(project, first, "2025-01-01..2025-01-31")


def test_two_readers_at_once_get_the_same_data(versions):
    project, first, _, expected = versions
    _clear_cache(project)
    # Two fresh processes forked from a server that has imported the reader (pandas, the package) once, not two
    # spawned interpreters importing it each: the reads, not the imports, are what runs at once.
    ctx = get_context("forkserver")
    ctx.set_forkserver_preload(["tabular_mlops.monitoring.champion_reference", "dvc.api"])
    with ProcessPoolExecutor(2, mp_context=ctx) as pool:
        results = list(pool.map(load_reference, [project, project], [first, first], [WINDOW, WINDOW]))
    for got in results:
        pd.testing.assert_frame_equal(got, expected)


def test_a_large_reference_is_sampled_day_by_day_with_exact_counts(versions):
    """Above `monitor.max_window_rows` the reference is read one day at a time and each day keeps a reproducible
    sample of its share; the counts the summary needs (rows, days, labels) stay those of the whole window."""
    from tabular_mlops.monitoring.champion_reference import bounded
    from tabular_mlops.monitoring.reference_profile import ReferenceCounts, build_profile

    project, first, _, expected = versions
    params = load_params(project / "params.yaml")
    schema = params.schema
    seen: list[int] = []

    def watched(day_rows, days):
        seen.append(day_rows[schema.timestamp_column].dt.date.nunique())
        return keep(day_rows, days)

    tally: list[ReferenceCounts] = []
    keep = bounded(schema, 30, tally)
    got = load_reference(project, first, WINDOW, watched)
    assert seen == [1, 1, 1]  # one day in memory at a time
    whole = sum(tally, ReferenceCounts())
    assert whole == ReferenceCounts.of(expected, schema) and whole.rows == 120 and whole.days == 3
    assert 12 < len(got) < 60 and set(got[schema.id_column]) <= set(expected[schema.id_column])
    per_day = got[schema.timestamp_column].dt.date.value_counts()
    assert len(per_day) == 3 and per_day.max() < 25  # about 10 of each day's 40
    again = load_reference(project, first, WINDOW, bounded(schema, 30))
    pd.testing.assert_frame_equal(got, again)
    profile = build_profile(got, schema, params.monitor, counts=whole)
    assert (profile.rows, profile.days, profile.labelled) == (120, 3, 120)
    assert profile.columns["income"].rows == len(got)  # the statistics are the sample's
    # Under the bound nothing is dropped.
    pd.testing.assert_frame_equal(load_reference(project, first, WINDOW, bounded(schema, 1_000)), expected)
