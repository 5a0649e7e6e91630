"""Step 2 of a night: the champion's reference (its own training window, read through DVC) and its profile,
prepared once per version and reused every night.

Reading. A model version records only the `.dir` md5 of the raw folder (tag `dvc_data_hash`) and its reference
window; the `data.dvc` of that moment is not committed anywhere. So the version is addressed through DVC's public
interfaces: a throw-away DVC project (`dvc init --no-scm`, outside the workspace) holds a `.dvc` file naming that
md5, configured with the project's cache and remotes (`dvc cache dir`, `dvc config --list`), and
`dvc.api.DVCFileSystem` reads the window's snapshots from the cache, or streams them from the remote. The
project's workspace, `data.dvc` and DVC lock are never touched, so a running `dvc repro` is no obstacle and two
readers never share a scratch directory.

Caching. Every night needs the same things from the reference: the drift tests' reference side (the profile),
the counts of the summary, and the scored samples Evidently compares against. The first night of a version reads
and scores the reference once and keeps those in `paths.reference_cache_dir/<key>/`; every later night reads a
few MB instead. The key holds everything the contents depend on (model checksum, data version, windows, profile
settings), so a change of any of them builds a new entry; an interrupted build leaves no `complete` marker and
is rebuilt.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from tabular_mlops.core.config import MonitorConfig, PathsConfig, SchemaConfig
from tabular_mlops.core.contracts import ReferenceCacheFile, Tag, parse_window, snapshot_day
from tabular_mlops.data.versioning import apply_env_remote
from tabular_mlops.model.scoring import LoadedModel
from tabular_mlops.monitoring.champion_calibration import (
    holdout_calibration,
    load_calibration,
    save_calibration,
)
from tabular_mlops.monitoring.reference_profile import (
    PROFILE_VERSION,
    SKETCH_POINTS,
    ReferenceCounts,
    ReferenceProfile,
    build_profile,
    load_profile,
    save_profile,
)
from tabular_mlops.stats.calibration import CalibrationFit
from tabular_mlops.store.prediction_log import SAMPLE_KEY_SPAN, sample_keys

_DIR_HASH = re.compile(r"[0-9a-f]{32}\.dir")
# Name of the data version's folder inside the scratch project.
_OUT = "snapshots"


def storage_config(root: Path) -> dict[str, Any]:
    """The project's cache directory and remotes (every config level), as a DVC config dictionary: what
    `dvc cache dir` and `dvc config --list` print, read through DVC's own `Config` in this process (each command
    started an interpreter importing DVC, twice per reference read), the environment's remote applied first as
    every `run_dvc` command does."""
    from dvc.config import Config
    from dvc.utils.flatten import flatten

    apply_env_remote(root, os.environ)
    # As the commands read it: unvalidated, every level's relative paths resolved against its own file.
    dvc_config = Config(dvc_dir=str(root / ".dvc"), validate=False)
    cache_dir = dvc_config.get("cache", {}).get("dir") or os.path.join(str(dvc_config.dvc_dir), "cache")
    config: dict[str, Any] = {"cache": {"dir": str(cache_dir)}, "remote": {}}
    for level in dvc_config.LEVELS:  # system, global, project, local: a later level wins, as in the listing
        for key, value in flatten(dvc_config.read(level)).items():
            parts = key.split(".")
            if parts[0] == "remote" and len(parts) >= 3:
                config["remote"].setdefault(".".join(parts[1:-1]), {})[parts[-1]] = str(value)
            elif key == "core.remote":
                config["core"] = {"remote": str(value)}
    return config


def _scratch_project(scratch: Path) -> None:
    """The throw-away DVC project: what `dvc init --no-scm` writes (DVC's own `Config.init`), its site cache
    (per-project state; default /var/tmp/dvc) inside it so it goes with it instead of piling up one entry per
    night. Written in this process: `dvc init` and `dvc config` each started an interpreter importing DVC."""
    from dvc.config import Config

    dvc_dir = scratch / ".dvc"
    dvc_dir.mkdir()
    with Config.init(str(dvc_dir)).edit("repo") as conf:
        conf["core"]["no_scm"] = True
        conf["core"]["site_cache_dir"] = str(scratch / ".site-cache")


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
        _scratch_project(scratch)
        dvc_file = {"outs": [{"md5": dvc_hash, "hash": "md5", "path": _OUT}]}
        (scratch / f"{_OUT}.dvc").write_text(yaml.safe_dump(dvc_file, sort_keys=False))
        return _read_window(scratch, config, dvc_hash, start, end, per_day)


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChampionReference:
    """What the nightly monitor needs from the champion's reference."""

    profile: ReferenceProfile
    sample: pd.DataFrame  # scored reference rows (features, score, label), at most report_sample_rows
    holdout: (
        pd.DataFrame | None
    )  # the champion's out-of-sample scored holdout sample, when its tags say where
    # The map from score to probability fitted on that holdout (CBPE), or None with the reason.
    calibration: CalibrationFit


def report_columns(schema: SchemaConfig) -> list[str]:
    return [*schema.feature_names, "score", "label"]


def scored(champion: LoadedModel, rows: pd.DataFrame, schema: SchemaConfig) -> pd.DataFrame:
    """`rows` with the champion's `score` and the target as `label`."""
    return rows.assign(score=champion.score(rows, schema), label=rows[schema.target_column])


def sample(df: pd.DataFrame, n: int) -> pd.DataFrame:
    return df.sample(n=n, random_state=0) if len(df) > n else df


def cache_key(schema: SchemaConfig, monitor: MonitorConfig, champion: LoadedModel) -> str:
    """The cache entry's name: the champion and a digest of everything the entry's contents depend on."""
    tags = champion.tags
    parts = {
        "model": champion.name,
        "version": champion.version,
        # The scores depend on the model's bytes, the rows on the data version and the two windows.
        "tags": [
            tags.get(key, "")
            for key in (Tag.MODEL_SHA256, Tag.DVC_DATA_HASH, Tag.REFERENCE_WINDOW, Tag.DATA_WINDOW)
        ],
        "psi_bins": monitor.psi_bins,
        "sample_rows": monitor.report_sample_rows,
        "max_window_rows": monitor.max_window_rows,
        "features": schema.feature_names,
        "profile": [PROFILE_VERSION, SKETCH_POINTS],
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{champion.name}-v{champion.version}-{digest}"


def bounded(schema: SchemaConfig, max_rows: int, tally: list[ReferenceCounts] | None = None) -> DayFilter:
    """A reference reader's per-day filter: each day keeps its share of `max_rows` (all of it when it has fewer
    rows), as a reproducible sample (the prediction log's id hash), after its exact counts go to `tally`. A
    45-day window at 1M rows a day is then never in memory whole."""

    def keep(day_rows: pd.DataFrame, days: int) -> pd.DataFrame:
        if tally is not None:
            tally.append(ReferenceCounts.of(day_rows, schema))
        quota = max(max_rows // max(days, 1), 1)
        if len(day_rows) <= quota:
            return day_rows
        keys = np.asarray(sample_keys(day_rows[schema.id_column]))
        return day_rows[keys < quota / len(day_rows) * SAMPLE_KEY_SPAN].reset_index(drop=True)

    return keep


def holdout_rows(champion: LoadedModel, root: Path, per_day: DayFilter | None = None) -> pd.DataFrame | None:
    """The champion's holdout (the days of its data window after its training window): out of sample, so a
    fair reference for performance. None when the version does not record its windows."""
    try:
        _, trained_until = parse_window(champion.tags.get(Tag.REFERENCE_WINDOW, ""))
        _, data_end = parse_window(champion.tags.get(Tag.DATA_WINDOW, ""))
    except ValueError:
        return None
    if data_end <= trained_until:
        return None
    return load_reference(
        root,
        champion.tags.get(Tag.DVC_DATA_HASH, ""),
        f"{trained_until + dt.timedelta(days=1)}..{data_end}",
        per_day,
    )


def build(
    schema: SchemaConfig, monitor: MonitorConfig, root: Path, champion: LoadedModel
) -> ChampionReference:
    """Read and score the champion's reference (and holdout) once: all of it up to `monitor.max_window_rows`
    rows, above that a sample of about that many, with the whole window's counts (rows, days, labels)."""
    n = monitor.report_sample_rows
    tally: list[ReferenceCounts] = []
    rows = load_reference(
        root,
        champion.tags.get(Tag.DVC_DATA_HASH, ""),
        champion.tags.get(Tag.REFERENCE_WINDOW, ""),
        bounded(schema, monitor.max_window_rows, tally),
    )
    whole = sum(tally, ReferenceCounts())
    reference = scored(champion, rows, schema)
    profile = build_profile(
        reference,
        schema,
        monitor,
        meta={"model_version": champion.version, "key": cache_key(schema, monitor, champion)},
        counts=whole if whole.rows > len(rows) else None,
    )
    holdout = holdout_rows(champion, root, bounded(schema, n))
    scored_holdout = None if holdout is None else scored(champion, holdout, schema)[report_columns(schema)]
    return ChampionReference(
        profile=profile,
        sample=sample(reference[report_columns(schema)], n).reset_index(drop=True),
        holdout=None if scored_holdout is None else sample(scored_holdout, n).reset_index(drop=True),
        # Fitted on every scored holdout row read, not only the report sample.
        calibration=holdout_calibration(scored_holdout, champion.version),
    )


def _save(ref: ChampionReference, folder: Path) -> None:
    """Write to a temporary sibling, then rename: readers see a complete entry or none."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        save_profile(ref.profile, tmp / ReferenceCacheFile.PROFILE)
        ref.sample.to_parquet(tmp / ReferenceCacheFile.SAMPLE, index=False)
        if ref.holdout is not None:
            ref.holdout.to_parquet(tmp / ReferenceCacheFile.HOLDOUT, index=False)
        save_calibration(ref.calibration, tmp)
        (tmp / ReferenceCacheFile.COMPLETE).write_text(json.dumps(ref.profile.meta))
        if folder.exists() and not (folder / ReferenceCacheFile.COMPLETE).exists():  # an interrupted build
            shutil.rmtree(folder)
        tmp.rename(folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (folder / ReferenceCacheFile.COMPLETE).exists():
            raise
        # Another process finished the same entry first: theirs is as good.
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _load(folder: Path, version: str) -> ChampionReference:
    path = folder / ReferenceCacheFile.HOLDOUT
    holdout = pd.read_parquet(path) if path.exists() else None
    return ChampionReference(
        profile=load_profile(folder / ReferenceCacheFile.PROFILE),
        sample=pd.read_parquet(folder / ReferenceCacheFile.SAMPLE),
        holdout=holdout,
        calibration=load_calibration(folder, holdout, version),
    )


def champion_reference(
    schema: SchemaConfig, monitor: MonitorConfig, paths: PathsConfig, root: Path, champion: LoadedModel
) -> ChampionReference:
    """The champion's prepared reference: from the cache, or built (and cached) on its first night."""
    folder = root / paths.reference_cache_dir / cache_key(schema, monitor, champion)
    if (folder / ReferenceCacheFile.COMPLETE).exists():
        try:
            return _load(folder, champion.version)
        except (OSError, ValueError, KeyError) as exc:  # a damaged entry is rebuilt, never trusted
            log.warning("reference cache %s is unreadable (%s); rebuilding it", folder, exc)
    ref = build(schema, monitor, root, champion)
    _save(ref, folder)
    log.info("reference of %s version %s prepared in %s", champion.name, champion.version, folder)
    return ref
