"""Publishing is a transaction on real DVC: when the remote fails, data/ and data.dvc keep the previous version,
the new snapshots stay staged, a retry publishes them, and training refuses a data version that is not on the
remote."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tabular_mlops.core.contracts import DATA_DVC_FILE
from tabular_mlops.core.data_version import dvc_data_hash
from tabular_mlops.data.batch_records import ValidatedBatch
from tabular_mlops.data.ingest import extract_interval, publish_validated, validate_extracted
from tabular_mlops.data.publish import PublishError
from tabular_mlops.data.simulate import generate_day
from tabular_mlops.data.versioning import DataNotOnRemoteError, check_on_remote
from tabular_mlops.store import source_db

from tests.support.project import make_project

DAY = dt.date(2026, 1, 1)


def _stage(project: Path, params, index: int) -> ValidatedBatch:
    day = DAY + dt.timedelta(days=index)
    url = f"sqlite:///{project / 'src.db'}"
    source_db.write_day(source_db.connect(url), params.schema, day, generate_day(day, 300, 5))
    night = day + dt.timedelta(days=params.schema.label_delay_days)
    extracted = extract_interval(
        params.schema, params.ingest, params.paths, project, url, night, night + dt.timedelta(days=1)
    )
    return validate_extracted(params.schema, params.validate, params.paths, project, extracted)


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def project(tmp_path, repo_params):
    return make_project(tmp_path / "project")


def test_a_failed_push_leaves_the_previous_version_and_a_retry_publishes(project, repo_params):
    params = repo_params
    remote = project / "var" / "dvc-remote"
    first = publish_validated(params.paths, project, _stage(project, params, 0))
    assert first.dvc_data_hash == dvc_data_hash(project) and remote.is_dir()
    before_tree, before_dvc = _tree(project / "data"), (project / DATA_DVC_FILE).read_bytes()
    assert check_on_remote(project) == first.dvc_data_hash

    # The remote breaks: a file where its folder was (a read-only folder would not stop root).
    shutil.move(remote, remote.with_name("dvc-remote.away"))
    remote.write_text("not a folder")
    staged = _stage(project, params, 1)
    with pytest.raises(PublishError, match="rolled back") as err:
        publish_validated(params.paths, project, staged)
    assert first.dvc_data_hash in str(err.value)
    assert _tree(project / "data") == before_tree
    assert (project / DATA_DVC_FILE).read_bytes() == before_dvc
    assert all(Path(p).exists() for p in staged.staged), "the new snapshots must stay staged for a retry"
    with pytest.raises(DataNotOnRemoteError, match="cannot confirm"):
        check_on_remote(project)  # training refuses while the remote cannot be read

    # The remote comes back: the previous version is complete, and a retry of the task publishes the new one.
    remote.unlink()
    shutil.move(remote.with_name("dvc-remote.away"), remote)
    assert check_on_remote(project) == first.dvc_data_hash
    second = publish_validated(params.paths, project, staged)
    assert second.dvc_data_hash != first.dvc_data_hash
    assert set(_tree(project / "data")) > set(before_tree)
    assert check_on_remote(project) == second.dvc_data_hash


def test_training_refuses_a_data_version_that_is_not_on_the_remote(project, repo_params):
    params = repo_params
    publish_validated(params.paths, project, _stage(project, params, 0))
    # Someone versions data by hand while the remote is away: the workspace holds an unpushed version.
    remote = project / "var" / "dvc-remote"
    shutil.rmtree(remote)
    publish_validated(params.paths, project, _stage(project, params, 1), push=False)
    subprocess.run([sys.executable, "-m", "dvc", "add", "-q", "data"], cwd=project, check=True)
    unpushed = dvc_data_hash(project)
    with pytest.raises(DataNotOnRemoteError, match=unpushed):
        check_on_remote(project)


def test_the_same_days_backfilled_in_different_splits_give_the_same_bytes(tmp_path, repo_params):
    """Re-backfilling days as one batch or night by night must not change the data version."""
    params = repo_params
    trees = []
    for name, splits in (("one_batch", [(0, 3)]), ("night_by_night", [(0, 1), (1, 2), (2, 3)])):
        project = make_project(tmp_path / name)
        url = f"sqlite:///{project / 'src.db'}"
        engine = source_db.connect(url)
        for i in range(3):
            day = DAY + dt.timedelta(days=i)
            source_db.write_day(engine, params.schema, day, generate_day(day, 300, 5))
        night0 = DAY + dt.timedelta(days=params.schema.label_delay_days)
        for a, b in splits:
            start, end = night0 + dt.timedelta(days=a), night0 + dt.timedelta(days=b)
            extracted = extract_interval(params.schema, params.ingest, params.paths, project, url, start, end)
            validated = validate_extracted(params.schema, params.validate, params.paths, project, extracted)
            publish_validated(params.paths, project, validated, push=False)
        trees.append(_tree(project / "data"))
    assert len(trees[0]) == 6 and trees[0] == trees[1]
