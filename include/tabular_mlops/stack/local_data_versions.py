"""Keep the local stack's data versions out of `git status`.

`make run` publishes data versions (`dvc add` rewrites data.dvc) and trains (`dvc repro` rewrites dvc.lock) in the
checkout, as a DVC user's own runs do. For the local stack those versions are runtime state: the DVC remote lives
in var/, and each model's lineage (the data hash, dvc.lock) is recorded in MLflow. So the two committed files are
marked skip-worktree in this checkout's index: git stops reporting their local rewrites, and a training's
`git_dirty` lineage tag speaks of code and config only. DVC refuses git-ignored DVC files, so ignoring them is not
an option. To commit a new data version: `git update-index --no-skip-worktree data.dvc dvc.lock`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tabular_mlops.core.contracts import DATA_DVC_FILE, DVC_LOCK_FILE

LOCAL_VERSION_FILES = (DATA_DVC_FILE, DVC_LOCK_FILE)


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=30, check=False)


def keep_data_versions_local(repo: Path) -> list[str]:
    """Mark the committed data-version files skip-worktree; returns the files marked (none outside a git
    checkout, or where git is missing: then there is no `git status` to keep clean)."""
    try:
        tracked = _git(repo, "ls-files", "--", *LOCAL_VERSION_FILES)
    except (OSError, subprocess.SubprocessError):
        return []
    files = tracked.stdout.split() if tracked.returncode == 0 else []
    if files and _git(repo, "update-index", "--skip-worktree", "--", *files).returncode != 0:
        return []
    return files
