"""DVC stage `preprocess`: the rolling window of validated, label-matured snapshots -> train / holdout split.

The window ends at the newest snapshot in the raw folder (never at "now"), so the same data gives the same split.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import pandas as pd

from tabular_mlops.artifacts import HOLDOUT_FILE, SNAPSHOT_GLOB, TRAIN_FILE, WINDOW_FILE, snapshot_day
from tabular_mlops.config import Params, SchemaConfig, load_params, project_dir
from tabular_mlops.io import atomic_write_json, atomic_write_parquet


def list_snapshots(raw_dir: Path) -> dict[dt.date, Path]:
    found = {}
    for path in sorted(raw_dir.glob(SNAPSHOT_GLOB)):
        day = snapshot_day(path.name)
        if day is not None:
            found[day] = path
    return found


def _concat_days(schema: SchemaConfig, days: dict[dt.date, Path]) -> pd.DataFrame:
    ts = schema.timestamp_column
    keys = [ts, schema.id_column]
    frames = []
    for date, path in days.items():
        day = pd.read_parquet(path)
        start = pd.Timestamp(date)
        stamps = day[ts]
        outside = stamps.isna() | (stamps < start) | (stamps >= start + pd.Timedelta(days=1))
        if outside.any():
            raise ValueError(
                f"{path}: {int(outside.sum())} row(s) with '{ts}' missing or outside {date}; a snapshot holds one "
                f"day (re-extract that night)"
            )
        if not day.empty and not day.set_index(keys).index.is_monotonic_increasing:
            day = day.sort_values(keys, kind="mergesort")  # a snapshot written by other means
        frames.append(day)
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def split_window(params: Params, root: Path) -> dict:
    """Write processed/train.parquet and processed/holdout.parquet; return the window description."""
    raw_dir = root / params.paths.raw_dir
    snapshots = list_snapshots(raw_dir)
    if not snapshots:
        raise FileNotFoundError(
            f"no validated snapshots (*.parquet) in {raw_dir}: run the ingestion DAG first"
        )
    pp = params.preprocess
    # The newest `window_days` snapshots, the last `holdout_days` of them held out. Counted in snapshots, not
    # calendar days: a gap in the history (quarantined days, a stack stopped for months) never leaves a window
    # without training or holdout days. With a gap-free history the two are the same.
    days = sorted(snapshots)[-pp.window_days :]
    start, end = days[0], days[-1]
    holdout_start = days[-min(pp.holdout_days, len(days))]
    # One snapshot per application day, each in (timestamp, id) order, so day order is row order: each part is
    # built by one concat of its days (no whole-window sort or boolean-mask copies: peak memory ~2x the window).
    train = _concat_days(params.schema, {d: snapshots[d] for d in days if d < holdout_start})
    holdout = _concat_days(params.schema, {d: snapshots[d] for d in days if d >= holdout_start})
    if train.empty or holdout.empty:
        raise ValueError(
            f"window {start}..{end} has {len(train)} training and {len(holdout)} holdout rows; "
            f"need both (check preprocess.window_days / preprocess.holdout_days in {params.source_file})"
        )
    out = root / params.paths.processed_dir
    atomic_write_parquet(out / TRAIN_FILE, train)
    atomic_write_parquet(out / HOLDOUT_FILE, holdout)
    window = {
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        "first_snapshot": days[0].isoformat(),
        "holdout_start": holdout_start.isoformat(),
        "snapshots": len(days),
        "train_rows": len(train),
        "holdout_rows": len(holdout),
        "train_default_rate": round(float(train[params.schema.target_column].mean()), 6),
        "holdout_default_rate": round(float(holdout[params.schema.target_column].mean()), 6),
    }
    atomic_write_json(out / WINDOW_FILE, window)
    return window


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default=None, help="params.yaml (default: <project>/params.yaml)")
    args = parser.parse_args(argv)
    root = project_dir()
    params = load_params(args.params or root / "params.yaml")
    print(split_window(params, root))


if __name__ == "__main__":
    main()
