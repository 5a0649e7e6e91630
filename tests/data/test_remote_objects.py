"""Issue 22 item 3: training's check that the remote holds the data version looks at every object of it. With one
snapshot's object deleted from the remote `dvc status --cloud` answered `{}` (it trusts its record of what was
pushed), so a training ran on data that could no longer be restored."""

from __future__ import annotations

import json
import os

import pytest
from tabular_mlops.core.contracts import DATA_DVC_FILE
from tabular_mlops.data.ingest import publish_validated
from tabular_mlops.data.versioning import DataNotOnRemoteError, check_on_remote

from tests.data.test_publish_transaction import _stage


def _objects(project, remote) -> dict[str, str]:
    """relpath -> remote object path of every file of the workspace's data version, and the .dir itself (files
    with the same bytes share one object)."""
    dir_md5 = next(
        line.split(": ")[1] for line in (project / DATA_DVC_FILE).read_text().splitlines() if "md5" in line
    )
    manifest = project / ".dvc" / "cache" / "files" / "md5" / dir_md5[:2] / dir_md5[2:]
    entries = json.loads(manifest.read_text())
    objects = {e["relpath"]: remote / "files" / "md5" / e["md5"][:2] / e["md5"][2:] for e in entries}
    objects[".dir"] = remote / "files" / "md5" / dir_md5[:2] / dir_md5[2:]
    return objects


@pytest.mark.parametrize("which", ["snapshot", "manifest"])
def test_one_object_missing_from_the_remote_stops_training(which, project, repo_params):
    publish_validated(repo_params.paths, project, _stage(project, repo_params, 0))
    publish_validated(repo_params.paths, project, _stage(project, repo_params, 1))
    remote = project / "var" / "dvc-remote"
    version = check_on_remote(project)
    objects = _objects(project, remote)
    assert all(p.exists() for p in objects.values())
    name = sorted(n for n in objects if n.endswith(".parquet"))[0] if which == "snapshot" else ".dir"
    os.unlink(objects[name])
    with pytest.raises(
        DataNotOnRemoteError, match=rf"{version}.*1 of {len(set(objects.values()))} object"
    ) as caught:
        check_on_remote(project)
    assert (name if which == "snapshot" else "the version's manifest") in str(caught.value)
