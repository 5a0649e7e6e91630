"""DVC from Python: version the validated snapshots (data.dvc + remote) and reproduce the dvc.yaml stages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tabular_mlops.artifacts import DATA_DVC_FILE, Tag
from tabular_mlops.config import Params
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


def version_snapshots(params: Params, root: Path) -> dict[str, str]:
    """`dvc add` the raw folder (writes data.dvc) and push the new version to the default remote."""
    run_dvc(["add", "--quiet", params.paths.raw_dir], root)
    run_dvc(["push", "--quiet", DATA_DVC_FILE], root)
    return {"data_dvc": str(root / DATA_DVC_FILE), Tag.DVC_DATA_HASH: dvc_data_hash(root)}


def reproduce(root: Path, env: dict[str, str] | None = None) -> str:
    """`dvc repro` (only stages whose deps or params changed run) then push the outputs to the remote."""
    out = run_dvc(["repro"], root, env=env)
    run_dvc(["push", "--quiet"], root, env=env)
    return out
