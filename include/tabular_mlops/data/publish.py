"""Publishing validated snapshots is a transaction: a new data version becomes visible in the raw folder and in
data.dvc only once its objects are on the DVC remote.

The validated snapshots wait in their landing batch folder. `publish_snapshots` moves them into the raw folder
(setting aside any snapshot of the same day they replace), runs `dvc add` and `dvc push`, and only then drops
what it set aside. If anything fails, every file goes back where it was and data.dvc gets its old bytes again:
the previous version stays in place, the staged snapshots stay staged for a retry, and the error names the step.
A failed or empty re-run never gets here (validation quarantines it), so it cannot remove a published day.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from tabular_mlops.core.contracts import DATA_DVC_FILE, gx_sidecar
from tabular_mlops.core.data_version import dvc_data_hash
from tabular_mlops.data.versioning import dvc_add_and_push

SET_ASIDE_DIR = ".replaced"


class PublishError(RuntimeError):
    """Publishing failed and was rolled back; the message names the step and the data version."""


@dataclass(frozen=True)
class PublishResult:
    published: list[str]
    dvc_data_hash: str | None


def _members(snapshot: Path) -> list[Path]:
    """A staged snapshot and its GX summary (published together)."""
    sidecar = gx_sidecar(snapshot)
    return [snapshot, sidecar] if sidecar.exists() else [snapshot]


def publish_snapshots(raw_dir: Path, root: Path, staged: list[Path], push: bool = True) -> PublishResult:
    """Move `staged` snapshots into `raw_dir` and, with `push`, version and push them (all or nothing)."""
    missing = [str(p) for p in staged if not p.exists()]
    if missing:
        raise PublishError(
            f"staged snapshot(s) {missing} are gone: re-run the validate task of this interval"
        )
    raw_dir.mkdir(parents=True, exist_ok=True)
    dvc_file = root / DATA_DVC_FILE
    old_dvc = dvc_file.read_bytes() if dvc_file.exists() else None
    moved: list[tuple[Path, Path]] = []  # (staged place, published place)
    replaced: list[tuple[Path, Path]] = []  # (published place, set-aside place)
    step = "moving the snapshots into place"
    try:
        for snapshot in staged:
            aside = snapshot.parent / SET_ASIDE_DIR
            for src in _members(snapshot):
                dest = raw_dir / src.name
                if dest.exists():
                    aside.mkdir(exist_ok=True)
                    dest.replace(aside / src.name)
                    replaced.append((dest, aside / src.name))
                src.replace(dest)
                moved.append((src, dest))
        if push:
            step = "`dvc add` + `dvc push` of the new data version"
            dvc_add_and_push(raw_dir, root)
    except Exception as exc:
        for src, dest in reversed(moved):
            dest.replace(src)
        for dest, aside in reversed(replaced):
            aside.replace(dest)
        if old_dvc is None:
            dvc_file.unlink(missing_ok=True)
        else:
            dvc_file.write_bytes(old_dvc)
        raise PublishError(
            f"publishing {len(staged)} snapshot(s) failed while {step}; rolled back: {raw_dir} and "
            f"{DATA_DVC_FILE} keep the previous data version ({dvc_data_hash(root)}), the new snapshots stay "
            f"staged for a retry. Cause: {exc}"
        ) from exc
    for snapshot in staged:
        shutil.rmtree(snapshot.parent / SET_ASIDE_DIR, ignore_errors=True)
    return PublishResult(
        [str(dest) for _, dest in moved if dest.suffix == ".parquet"], dvc_data_hash(root) if push else None
    )
