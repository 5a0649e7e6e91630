"""Which data version a model was trained on: the md5 that data.dvc records for the raw snapshots."""

from __future__ import annotations

from pathlib import Path

import yaml

from tabular_mlops.core.contracts import DATA_DVC_FILE


def dvc_data_hash(root: Path, dvc_file: str = DATA_DVC_FILE) -> str:
    """The md5 that data.dvc records for the raw snapshots (the data version a model was trained on)."""
    path = root / dvc_file
    if not path.exists():
        return "untracked"
    outs = (yaml.safe_load(path.read_text()) or {}).get("outs") or [{}]
    return str(outs[0].get("md5", "untracked"))
