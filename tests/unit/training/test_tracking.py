"""Lineage facts: the git commit says which code only when the tree is clean, so the dirt is recorded too."""

import subprocess

from tabular_mlops.core.contracts import Tag
from tabular_mlops.model.tracking import lineage_tags


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_git_dirty_follows_tracked_changes(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    _git(tmp_path, "add", "code.py")
    _git(tmp_path, "commit", "-qm", "code")
    (tmp_path / "untracked.txt").write_text("not part of the build")
    assert lineage_tags(tmp_path)[Tag.GIT_DIRTY] == "false"
    (tmp_path / "code.py").write_text("x = 2\n")
    tags = lineage_tags(tmp_path)
    assert tags[Tag.GIT_DIRTY] == "true" and len(tags[Tag.GIT_COMMIT]) == 40


def test_without_git_it_says_unknown(tmp_path):
    assert lineage_tags(tmp_path)[Tag.GIT_DIRTY] in ("unknown", "false")
