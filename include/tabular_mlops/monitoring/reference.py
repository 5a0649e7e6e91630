"""The champion's own training data, fetched by the DVC hash recorded on its model version."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from tabular_mlops.config import Params
from tabular_mlops.data.versioning import run_dvc

SNAPSHOT = re.compile(r"applied_date=(\d{4}-\d{2}-\d{2})\.parquet$")


def _object_path(store: Path, md5: str) -> Path:
    return store / "files" / "md5" / md5[:2] / md5[2:]


def _stores(root: Path) -> list[Path]:
    """The local DVC cache, then the default remote when it is a local folder (the embedded default)."""
    stores = [root / ".dvc" / "cache"]
    try:
        name = run_dvc(["config", "core.remote"], root).strip()
        url = run_dvc(["config", f"remote.{name}.url"], root).strip()
        if "://" not in url:
            stores.append((root / ".dvc" / url).resolve())
    except Exception:  # noqa: BLE001 - no remote configured: the cache alone must do
        pass
    return stores


def load_reference(params: Params, root: Path, dvc_hash: str, window: str) -> pd.DataFrame:
    """Snapshots of data version `dvc_hash` (a DVC .dir md5) whose day lies in `window` ("start..end")."""
    if not dvc_hash.endswith(".dir"):
        raise ValueError(f"model version has no usable DVC data hash (got {dvc_hash!r})")
    start, end = window.split("..")
    stores = _stores(root)
    manifest = next((p for p in (_object_path(s, dvc_hash) for s in stores) if p.exists()), None)
    if manifest is None:
        raise FileNotFoundError(
            f"DVC data version {dvc_hash} is in neither the cache nor the remote: {stores}"
        )
    frames = []
    for entry in json.loads(manifest.read_text()):
        m = SNAPSHOT.search(entry["relpath"])
        if not m or not (start <= m.group(1) <= end):
            continue
        path = next((p for p in (_object_path(s, entry["md5"]) for s in stores) if p.exists()), None)
        if path is None:
            raise FileNotFoundError(f"snapshot {entry['relpath']} of data version {dvc_hash} is missing")
        frames.append(pd.read_parquet(path))
    if not frames:
        raise ValueError(f"data version {dvc_hash} holds no snapshot in the reference window {window}")
    return pd.concat(frames, ignore_index=True)
