"""The champion's own training data, read by the DVC data version recorded on its model version.

A model version records only the `.dir` md5 of the raw folder (tag `dvc_data_hash`) and its reference window;
the `data.dvc` of that moment is not committed anywhere. So the version is addressed through DVC's public
interfaces: a throw-away DVC project (`dvc init --no-scm`, outside the workspace) holds a `.dvc` file naming that
md5, configured with the project's cache and remotes (`dvc cache dir`, `dvc config --list`), and
`dvc.api.DVCFileSystem` reads the window's snapshots from the cache, or streams them from the remote. The
project's workspace, `data.dvc` and DVC lock are never touched, so a running `dvc repro` is no obstacle and two
readers never share a scratch directory.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from tabular_mlops.core.contracts import snapshot_day
from tabular_mlops.data.versioning import run_dvc

_DIR_HASH = re.compile(r"[0-9a-f]{32}\.dir")
# Name of the data version's folder inside the scratch project.
_OUT = "snapshots"


def parse_window(window: str) -> tuple[dt.date, dt.date]:
    """("start..end" as recorded on the model version) -> (start, end), both inclusive."""
    try:
        start, end = (dt.date.fromisoformat(part) for part in window.split(".."))
    except ValueError as exc:
        raise ValueError(
            f"model version has no usable reference window (got {window!r}, want 'start..end')"
        ) from exc
    return start, end


def storage_config(root: Path) -> dict[str, Any]:
    """The project's cache directory and remotes (every config level), as a DVC config dictionary."""
    config: dict[str, Any] = {"cache": {"dir": run_dvc(["cache", "dir"], root).strip()}, "remote": {}}
    for line in run_dvc(["config", "--list"], root).splitlines():
        key, _, value = line.strip().partition("=")
        parts = key.split(".")
        if parts[0] == "remote" and len(parts) >= 3:
            config["remote"].setdefault(".".join(parts[1:-1]), {})[parts[-1]] = value
        elif key == "core.remote":
            config["core"] = {"remote": value}
    return config


def _where(config: dict[str, Any]) -> str:
    remote = config.get("core", {}).get("remote")
    url = config["remote"].get(remote, {}).get("url") if remote else None
    return f"the cache {config['cache']['dir']} " + (
        f"or the remote '{remote}' ({url})" if remote else "(no default remote configured)"
    )


# Called with each day's snapshot as it is read and the number of days in the window; returns what to keep of it.
DayFilter = Callable[[pd.DataFrame, int], pd.DataFrame]


def _read_window(
    scratch: Path,
    config: dict[str, Any],
    dvc_hash: str,
    start: dt.date,
    end: dt.date,
    per_day: DayFilter | None = None,
) -> pd.DataFrame:
    from dvc.api import DVCFileSystem

    fs = DVCFileSystem(str(scratch), config=config)
    try:
        return _read_snapshots(fs, config, dvc_hash, start, end, per_day)
    finally:
        fs.close()


def _read_snapshots(
    fs: Any,
    config: dict[str, Any],
    dvc_hash: str,
    start: dt.date,
    end: dt.date,
    per_day: DayFilter | None = None,
) -> pd.DataFrame:
    try:
        names = fs.ls(_OUT, detail=False)
    except Exception as exc:  # DVC raises its own error types; the message must name the version
        raise FileNotFoundError(
            f"DVC data version {dvc_hash} cannot be read from {_where(config)}: {exc}"
        ) from exc
    days = sorted(
        (day, name) for name in names if (day := snapshot_day(name)) is not None and start <= day <= end
    )
    if not days:
        raise ValueError(f"data version {dvc_hash} holds no snapshot in the reference window {start}..{end}")
    frames = []
    for _, name in days:
        try:
            with fs.open(name, "rb") as fh:
                day_rows = pd.read_parquet(fh)
        except Exception as exc:  # a file object missing from both stores
            raise FileNotFoundError(
                f"snapshot {Path(name).name} of DVC data version {dvc_hash} cannot be read from {_where(config)}: {exc}"
            ) from exc
        frames.append(per_day(day_rows, len(days)) if per_day else day_rows)
    return pd.concat(frames, ignore_index=True)


def load_reference(root: Path, dvc_hash: str, window: str, per_day: DayFilter | None = None) -> pd.DataFrame:
    """Snapshots of data version `dvc_hash` (a DVC `.dir` md5) whose day lies in `window` ("start..end"); with
    `per_day`, only what it keeps of each day (one day in memory at a time, not the whole window)."""
    if not _DIR_HASH.fullmatch(dvc_hash):
        raise ValueError(f"model version has no usable DVC data hash (got {dvc_hash!r})")
    start, end = parse_window(window)
    with tempfile.TemporaryDirectory(prefix="tabular-mlops-reference-") as tmp:
        scratch = Path(tmp)
        config = storage_config(root)
        # DVC keeps per-project state in a site cache dir (default /var/tmp/dvc): keep the scratch project's inside
        # it, so it goes with it instead of piling up one entry per night.
        site_cache = str(scratch / ".site-cache")
        # No analytics: its detached reporter would open the scratch project while it is being removed.
        env = {**os.environ, "DVC_SITE_CACHE_DIR": site_cache, "DVC_NO_ANALYTICS": "1"}
        run_dvc(["init", "--no-scm", "--quiet"], scratch, env=env)
        run_dvc(["config", "core.site_cache_dir", site_cache], scratch, env=env)
        dvc_file = {"outs": [{"md5": dvc_hash, "hash": "md5", "path": _OUT}]}
        (scratch / f"{_OUT}.dvc").write_text(yaml.safe_dump(dvc_file, sort_keys=False))
        return _read_window(scratch, config, dvc_hash, start, end, per_day)
