"""DVC from Python: version the validated snapshots (data.dvc + remote) and reproduce the dvc.yaml stages."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tabular_mlops.core.contracts import DATA_DVC_FILE
from tabular_mlops.core.data_version import dvc_data_hash

if TYPE_CHECKING:
    from dvc.repo import Repo

T = TypeVar("T")

# The scale-out path chooses the DVC remote by environment (e.g. s3://bucket/dvc on an S3-compatible endpoint;
# credentials as usual for the remote's type, e.g. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY). Unset: the remote
# committed in .dvc/config (the embedded var/dvc-remote).
ENV_DVC_REMOTE_URL = "MLOPS_DVC_REMOTE_URL"
ENV_DVC_REMOTE_ENDPOINT = "MLOPS_DVC_REMOTE_ENDPOINT_URL"
ENV_REMOTE_NAME = "env"
_ENV_REMOTE_MARK = f"# written by tabular_mlops from ${ENV_DVC_REMOTE_URL}: do not edit\n"


class DvcCommandError(RuntimeError):
    pass


def env_remote_config(env: Mapping[str, str]) -> str | None:
    """The .dvc/config.local that makes $MLOPS_DVC_REMOTE_URL the default remote (None when it is unset)."""
    url = env.get(ENV_DVC_REMOTE_URL, "").strip()
    if not url:
        return None
    lines = [
        _ENV_REMOTE_MARK,
        "[core]\n",
        f"    remote = {ENV_REMOTE_NAME}\n",
        f"['remote \"{ENV_REMOTE_NAME}\"']\n",
    ]
    lines.append(f"    url = {url}\n")
    endpoint = env.get(ENV_DVC_REMOTE_ENDPOINT, "").strip()
    if endpoint:
        lines.append(f"    endpointurl = {endpoint}\n")
    return "".join(lines)


def apply_env_remote(root: Path, env: Mapping[str, str]) -> None:
    """Make the project's local DVC config follow the environment: written (atomically, so concurrent workers
    never read half a file) when $MLOPS_DVC_REMOTE_URL is set, removed when it is unset and the file is ours.
    A config.local written by hand is left alone when the variable is unset."""
    dvc_dir = root / ".dvc"
    if not (dvc_dir / "config").exists():
        return
    local = dvc_dir / "config.local"
    wanted = env_remote_config(env)
    current = local.read_text() if local.exists() else None
    if wanted is None:
        if current is not None and current.startswith(_ENV_REMOTE_MARK):
            local.unlink(missing_ok=True)
        return
    if current != wanted:
        tmp = local.with_name(f"config.local.{os.getpid()}.tmp")
        tmp.write_text(wanted)
        os.replace(tmp, local)


def run_dvc(args: list[str], root: Path, env: dict[str, str] | None = None, timeout: int = 1800) -> str:
    """Run one dvc command in the project; a failure carries the command and dvc's own message."""
    cmd = [sys.executable, "-m", "dvc", *args]
    env = dict(os.environ if env is None else env)
    apply_env_remote(root, env)
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


@contextlib.contextmanager
def dvc_repo(root: Path, env: Mapping[str, str] | None = None) -> Iterator[Repo]:
    """The project's DVC repo, opened in this process through DVC's Python API (what the CLI commands call), with
    the environment's remote applied first as `run_dvc` does (scale-out: S3). No interpreter importing DVC is
    started: about 0.5 CPU s a command, several per training and per champion reference."""
    from dvc.repo import Repo

    apply_env_remote(root, os.environ if env is None else env)
    with Repo(str(root)) as repo:
        yield repo


def dvc_step(args: list[str], root: Path, call: Callable[[], T]) -> T:
    """`call()`, the in-process form of `dvc <args>`; a failure carries that command and DVC's own message, like
    `run_dvc`."""
    try:
        return call()
    except Exception as exc:  # DVC raises many types: each fails the step with its own message
        raise DvcCommandError(
            f"`dvc {' '.join(args)}` failed in {root}: {type(exc).__name__}: {exc}"
        ) from exc


def dvc_add_and_push(raw_dir: Path, root: Path) -> None:
    """`dvc add` the raw folder (writes data.dvc) and push that version to the default remote, in this process
    (`Repo.add` and `Repo.push`): the same data.dvc bytes and remote objects, without starting two interpreters
    that import DVC (once per ingested night; about 2 s of the serialised publish step on 2 cores, see
    benchmarks/RESULTS.md "First run")."""
    target = str(raw_dir.relative_to(root))
    # absolute paths: DVC resolves relative targets against the working directory, which is not the project's
    with dvc_repo(root) as repo:
        repo.scm_context.quiet = True  # as `--quiet`: no "git add data.dvc" hint in the task log
        dvc_step(["add", target], root, lambda: repo.add([str(root / target)]))
        dvc_step(["push", DATA_DVC_FILE], root, lambda: repo.push(targets=[str(root / DATA_DVC_FILE)]))


def workspace_changes(root: Path) -> dict[str, Any]:
    """`dvc status --json data.dvc`, in this process under the repo lock as the command takes it: what differs
    between the data folder and data.dvc (empty when they match)."""
    from dvc.repo import lock_repo

    with dvc_repo(root) as repo, lock_repo(repo):
        args = ["status", "--json", DATA_DVC_FILE]
        return dict(dvc_step(args, root, lambda: repo.status(targets=[str(root / DATA_DVC_FILE)])))


def check_on_remote(root: Path) -> str:
    """The data version in data.dvc, after checking that the workspace matches it and that the remote holds every
    object of it (`remote_objects_missing`)."""
    version = dvc_data_hash(root)
    changed = workspace_changes(root)
    if changed:
        raise DataNotOnRemoteError(
            f"the data folder does not match {DATA_DVC_FILE} ({version}): {changed}; publish it through the "
            "ingestion DAG's `version` task (or `dvc add` + `dvc push`) before training"
        )
    try:
        missing, total = remote_objects_missing(root)
    except Exception as exc:  # DVC and the remote's filesystem raise many types
        raise DataNotOnRemoteError(
            f"cannot confirm that data version {version} is on the DVC remote, so nothing trains on it: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if missing:
        raise DataNotOnRemoteError(
            f"data version {version} is not whole on the DVC remote: {len(missing)} of {total} object(s) missing "
            f"({', '.join(missing[:5])}): push it (`dvc push {DATA_DVC_FILE}`) or re-run the ingestion `version` "
            "task before training"
        )
    return version


def remote_objects_missing(root: Path) -> tuple[list[str], int]:
    """Which objects of the data.dvc version the default remote lacks (by file path; the .dir manifest as "the
    version's manifest"), and how many the version has.

    Every object is asked for, through DVC's own remote API (`oids_exist`: a stat per file on a local remote,
    existence queries or a listing on S3), not through `dvc status --cloud`, which trusts its record of what was
    pushed and answered `{}` with an object deleted from the remote. The file list is the version's .dir manifest
    in the local cache (`dvc status` has just checked that the workspace matches it)."""
    with dvc_repo(root) as repo:
        (out,) = [o for stage in repo.index.stages if stage.path_in_repo == DATA_DVC_FILE for o in stage.outs]
        dir_oid = out.hash_info.value
        manifest = json.loads(Path(repo.cache.local.oid_to_path(dir_oid)).read_text())
        names = {entry["md5"]: entry["relpath"] for entry in manifest}
        names[dir_oid] = "the version's manifest"
        odb = repo.cloud.get_remote_odb(command="status")
        if not odb.fs.isdir(odb.path):
            raise FileNotFoundError(f"the remote's folder {odb.path} does not exist or is not a folder")
        present = set(odb.oids_exist(list(names), jobs=16))
    return sorted(names[oid] for oid in names if oid not in present), len(names)


def reproduce(root: Path, env: dict[str, str] | None = None) -> str:
    """Check that the data version is on the remote, `dvc repro` (only stages whose deps or params changed
    run), then push the outputs to the remote.

    `dvc repro` stays a command: its stages run with `env` (the run's lineage and trigger reason), which an
    in-process call could only give them by changing this process's environment. The push needs no environment
    of its own beyond the remote `env` names, so it runs in this process."""
    check_on_remote(root)
    out = run_dvc(["repro"], root, env=env)
    with dvc_repo(root, env) as repo:
        dvc_step(["push"], root, lambda: repo.push())
    return out
