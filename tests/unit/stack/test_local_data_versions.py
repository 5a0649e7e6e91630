"""`make run` rewrites data.dvc and dvc.lock in the checkout; `git status` must stay clean (issue 26, item 5)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tabular_mlops.stack.local_data_versions import keep_data_versions_local


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def _checkout(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    for name, text in {
        "data.dvc": "outs: []\n",
        "dvc.lock": "schema: '2.0'\nstages: {}\n",
        "params.yaml": "a: 1\n",
    }.items():
        (repo / name).write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "init")
    return repo


def test_rewritten_data_versions_leave_git_status_clean(tmp_path):
    repo = _checkout(tmp_path)
    (repo / "data.dvc").write_text("outs:\n- md5: 0123.dir\n")
    assert "data.dvc" in _git(repo, "status", "--porcelain")  # what make run left before
    assert keep_data_versions_local(repo) == ["data.dvc", "dvc.lock"]
    (repo / "dvc.lock").write_text("schema: '2.0'\nstages:\n  train: {}\n")
    assert _git(repo, "status", "--porcelain") == ""
    # A change to code or config still shows: git_dirty keeps meaning something.
    (repo / "params.yaml").write_text("a: 2\n")
    assert _git(repo, "status", "--porcelain", "--untracked-files=no").split() == ["M", "params.yaml"]


def test_outside_a_git_checkout_nothing_is_marked(tmp_path):
    assert keep_data_versions_local(tmp_path) == []
