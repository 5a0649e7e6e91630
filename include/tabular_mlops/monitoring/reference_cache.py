"""The champion's reference, prepared once per version and reused every night.

The reference (the champion's own training window, read through DVC) only changes when the champion does, yet
every night needs the same things from it: the drift tests' reference side, the counts of the summary, and the
scored samples Evidently compares against. The first night of a version reads and scores the reference once
and keeps those in `paths.reference_cache_dir/<key>/`; every later night reads a few MB instead of re-reading and
re-scoring the whole window. The key holds everything the contents depend on (model checksum, data version,
windows, profile settings), so a change of any of them builds a new entry; an interrupted build leaves no
`complete` marker and is rebuilt.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tabular_mlops.core.config import Params, SchemaConfig
from tabular_mlops.core.contracts import ReferenceCacheFile, Tag
from tabular_mlops.model.scoring import LoadedModel
from tabular_mlops.monitoring.reference import DayFilter, load_reference, parse_window
from tabular_mlops.monitoring.reference_profile import (
    PROFILE_VERSION,
    SKETCH_POINTS,
    ReferenceCounts,
    ReferenceProfile,
    build_profile,
    load_profile,
    save_profile,
)
from tabular_mlops.store.prediction_log import SAMPLE_KEY_SPAN, sample_keys

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChampionReference:
    """What the nightly monitor needs from the champion's reference."""

    profile: ReferenceProfile
    sample: pd.DataFrame  # scored reference rows (features, score, label), at most report_sample_rows
    holdout: (
        pd.DataFrame | None
    )  # the champion's out-of-sample scored holdout sample, when its tags say where


def report_columns(schema: SchemaConfig) -> list[str]:
    return [*schema.feature_names, "score", "label"]


def scored(champion: LoadedModel, rows: pd.DataFrame, schema: SchemaConfig) -> pd.DataFrame:
    """`rows` with the champion's `score` and the target as `label`."""
    return rows.assign(score=champion.score(rows, schema), label=rows[schema.target_column])


def sample(df: pd.DataFrame, n: int) -> pd.DataFrame:
    return df.sample(n=n, random_state=0) if len(df) > n else df


def cache_key(params: Params, champion: LoadedModel) -> str:
    tags = champion.tags
    parts = {
        "model": params.registry.model_name,
        "version": champion.version,
        # The scores depend on the model's bytes, the rows on the data version and the two windows.
        "tags": [
            tags.get(key, "")
            for key in (Tag.MODEL_SHA256, Tag.DVC_DATA_HASH, Tag.REFERENCE_WINDOW, Tag.DATA_WINDOW)
        ],
        "psi_bins": params.monitor.psi_bins,
        "sample_rows": params.monitor.report_sample_rows,
        "max_window_rows": params.monitor.max_window_rows,
        "features": params.schema.feature_names,
        "profile": [PROFILE_VERSION, SKETCH_POINTS],
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{params.registry.model_name}-v{champion.version}-{digest}"


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


def build(params: Params, root: Path, champion: LoadedModel) -> ChampionReference:
    """Read and score the champion's reference (and holdout) once: all of it up to `monitor.max_window_rows`
    rows, above that a sample of about that many, with the whole window's counts (rows, days, labels)."""
    schema, n = params.schema, params.monitor.report_sample_rows
    tally: list[ReferenceCounts] = []
    rows = load_reference(
        root,
        champion.tags.get(Tag.DVC_DATA_HASH, ""),
        champion.tags.get(Tag.REFERENCE_WINDOW, ""),
        bounded(schema, params.monitor.max_window_rows, tally),
    )
    whole = sum(tally, ReferenceCounts())
    reference = scored(champion, rows, schema)
    profile = build_profile(
        reference,
        schema,
        params.monitor,
        meta={"model_version": champion.version, "key": cache_key(params, champion)},
        counts=whole if whole.rows > len(rows) else None,
    )
    holdout = holdout_rows(champion, root, bounded(schema, n))
    return ChampionReference(
        profile=profile,
        sample=sample(reference[report_columns(schema)], n).reset_index(drop=True),
        holdout=None
        if holdout is None
        else sample(scored(champion, holdout, schema)[report_columns(schema)], n).reset_index(drop=True),
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


def _load(folder: Path) -> ChampionReference:
    holdout = folder / ReferenceCacheFile.HOLDOUT
    return ChampionReference(
        profile=load_profile(folder / ReferenceCacheFile.PROFILE),
        sample=pd.read_parquet(folder / ReferenceCacheFile.SAMPLE),
        holdout=pd.read_parquet(holdout) if holdout.exists() else None,
    )


def champion_reference(params: Params, root: Path, champion: LoadedModel) -> ChampionReference:
    """The champion's prepared reference: from the cache, or built (and cached) on its first night."""
    folder = root / params.paths.reference_cache_dir / cache_key(params, champion)
    if (folder / ReferenceCacheFile.COMPLETE).exists():
        try:
            return _load(folder)
        except (OSError, ValueError, KeyError) as exc:  # a damaged entry is rebuilt, never trusted
            log.warning("reference cache %s is unreadable (%s); rebuilding it", folder, exc)
    ref = build(params, root, champion)
    _save(ref, folder)
    log.info(
        "reference of %s version %s prepared in %s", params.registry.model_name, champion.version, folder
    )
    return ref
