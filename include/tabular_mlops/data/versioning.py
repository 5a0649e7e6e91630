"""DVC from Python: version the validated snapshots (data.dvc + remote) and reproduce the dvc.yaml stages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tabular_mlops.artifacts import DATA_DVC_FILE
from tabular_mlops.training.tracking import dvc_data_hash


class DvcCommandError(RuntimeError):
    pass


def run_dvc(args: list[str], root: Path, env: dict[str, str] | None = None, timeout: int = 1800) -> str:
    """Run one dvc command in the project; a failure carries the command and dvc's own message."""
    cmd = [sys.executable, "-m", "dvc", *args]
    env = dict(os.environ if env is None else env)
    # dvc.yaml stages call `python -m tabular_mlops...`: make that the interpreter running this code.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("MLOPS_PROJECT_DIR", str(root))
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip()[-2000:]
        raise DvcCommandError(f"`dvc {' '.join(args)}` failed in {root} (exit {proc.returncode}): {tail}")
    return proc.stdout


class DataNotOnRemoteError(RuntimeError):
    """The workspace's data version is not (completely) on the DVC remote: nothing may train on it."""


def dvc_add_and_push(raw_dir: Path, root: Path) -> None:
    """`dvc add` the raw folder (writes data.dvc) and push that version to the default remote.

    Both through DVC's Python API (`Repo.add` and `Repo.push`, what the two CLI commands call) in this process:
    the same data.dvc bytes and remote objects, without starting two interpreters that import DVC (once per
    ingested night; about 2 s of the serialised publish step on 2 cores, see benchmarks/RESULTS.md "First run").
    A failure carries the command it stands for and DVC's own message, like `run_dvc`."""
    from dvc.repo import Repo

    target = str(raw_dir.relative_to(root))
    # absolute paths: DVC resolves relative targets against the working directory, which is not the project's
    with Repo(str(root)) as repo:
        repo.scm_context.quiet = True  # as `--quiet`: no "git add data.dvc" hint in the task log
        for args, call in (
            (["add", target], lambda: repo.add([str(root / target)])),
            (["push", DATA_DVC_FILE], lambda: repo.push(targets=[str(root / DATA_DVC_FILE)])),
        ):
            try:
                call()
            except Exception as exc:  # DVC raises many types: each fails the publish with its own message
                raise DvcCommandError(
                    f"`dvc {' '.join(args)}` failed in {root}: {type(exc).__name__}: {exc}"
                ) from exc


def check_on_remote(root: Path) -> str:
    """The data version in data.dvc, after checking that the workspace matches it and the remote holds it."""
    version = dvc_data_hash(root)
    changed = json.loads(run_dvc(["status", "--json", DATA_DVC_FILE], root) or "{}")
    if changed:
        raise DataNotOnRemoteError(
            f"the data folder does not match {DATA_DVC_FILE} ({version}): {changed}; publish it through the "
            "ingestion DAG's `version` task (or `dvc add` + `dvc push`) before training"
        )
    try:
        missing = json.loads(run_dvc(["status", "--cloud", "--json", DATA_DVC_FILE], root) or "{}")
    except DvcCommandError as exc:
        raise DataNotOnRemoteError(
            f"cannot confirm that data version {version} is on the DVC remote, so nothing trains on it: {exc}"
        ) from exc
    if missing:
        raise DataNotOnRemoteError(
            f"data version {version} is not on the DVC remote ({len(missing)} object(s) missing, e.g. "
            f"{sorted(missing)[:3]}): push it (`dvc push {DATA_DVC_FILE}`) or re-run the ingestion `version` task "
            "before training"
        )
    return version


def reproduce(root: Path, env: dict[str, str] | None = None) -> str:
    """Check that the data version is on the remote, `dvc repro` (only stages whose deps or params changed
    run), then push the outputs to the remote."""
    check_on_remote(root)
    out = run_dvc(["repro"], root, env=env)
    run_dvc(["push", "--quiet"], root, env=env)
    return out
