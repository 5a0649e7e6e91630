"""DVC stage `preprocess`: the rolling window of validated, label-matured snapshots -> train / holdout split.

The window ends at the newest snapshot in the raw folder (never at "now"), so the same data gives the same split,
and it is contiguous: it never spans a gap in the snapshots (see `choose_window`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tabular_mlops.core.atomic_files import atomic_parquet_writer, atomic_write_json
from tabular_mlops.core.config import Params, SchemaConfig, load_params, project_dir
from tabular_mlops.core.contracts import HOLDOUT_FILE, SNAPSHOT_GLOB, TRAIN_FILE, WINDOW_FILE, snapshot_day


def list_snapshots(raw_dir: Path) -> dict[dt.date, Path]:
    found = {}
    for path in sorted(raw_dir.glob(SNAPSHOT_GLOB)):
        day = snapshot_day(path.name)
        if day is not None:
            found[day] = path
    return found


@dataclass(frozen=True)
class WindowChoice:
    """The training window's days and what was said about the snapshots it does not take."""

    days: list[dt.date]
    gap_before: str | None  # the gap the window starts after, if any
    left_out: str | None  # newer snapshots after a gap, too few to train on


def _runs(days: list[dt.date], max_gap_days: int) -> list[list[dt.date]]:
    """Sorted days cut into runs: a new run after more than `max_gap_days` missing days."""
    runs: list[list[dt.date]] = [[days[0]]]
    for day in days[1:]:
        if (day - runs[-1][-1]).days - 1 > max_gap_days:
            runs.append([])
        runs[-1].append(day)
    return runs


def _gap(before: dt.date, after: dt.date) -> str:
    return (
        f"{before + dt.timedelta(days=1)}..{after - dt.timedelta(days=1)} ({(after - before).days - 1} days)"
    )


def choose_window(days: list[dt.date], window_days: int, max_gap_days: int, fewest_days: int) -> WindowChoice:
    """The newest `window_days` snapshots of one run without a gap (more than `max_gap_days` missing days).

    The newest run is taken when it holds `fewest_days`; else the newest run that does (a live day months after
    the seeded history trains nothing on its own, and a window spanning the months would mix two periods under
    one "N daily snapshots"), and the newer days are named as left out. With no run that long, the newest."""
    runs = _runs(sorted(days), max_gap_days)
    chosen = next((r for r in reversed(runs) if len(r) >= fewest_days), runs[-1])
    at = runs.index(chosen)
    window = chosen[-window_days:]
    gap_before = _gap(runs[at - 1][-1], chosen[0]) if at > 0 and window[0] == chosen[0] else None
    left_out = None
    if at < len(runs) - 1:
        newer = [d for r in runs[at + 1 :] for d in r]
        left_out = (
            f"{newer[0]}..{newer[-1]}: {len(newer)} snapshot(s) after the gap {_gap(chosen[-1], runs[at + 1][0])}, "
            f"fewer than the {fewest_days} contiguous ones to train on (preprocess.min_window_days)"
        )
    return WindowChoice(window, gap_before, left_out)


def _read_day(schema: SchemaConfig, date: dt.date, path: Path) -> pa.Table:
    """One snapshot as an Arrow table in (timestamp, id) order; a clear error if a row is not from `date`."""
    import pyarrow.parquet as pq

    ts = schema.timestamp_column
    day = pq.read_table(path)
    if day.num_rows == 0:
        return day
    stamps = pd.Series(day.column(ts).to_numpy(zero_copy_only=False))
    start = pd.Timestamp(date)
    outside = stamps.isna() | (stamps < start) | (stamps >= start + pd.Timedelta(days=1))
    if outside.any():
        raise ValueError(
            f"{path}: {int(outside.sum())} row(s) with '{ts}' missing or outside {date}; a snapshot holds one "
            f"day (re-extract that night)"
        )
    if not _in_key_order(stamps.to_numpy(), day.column(schema.id_column).to_numpy(zero_copy_only=False)):
        # A snapshot written by other means. Stable, like the ingestion's own sort: ties keep file order.
        keys = [(ts, "ascending"), (schema.id_column, "ascending")]
        day = day.take(pc.sort_indices(day, sort_keys=keys))
    return day


def _in_key_order(stamps: np.ndarray, ids: np.ndarray) -> bool:
    """Whether rows are in (timestamp, id) order, checked in one pass (no sort) as nearly every snapshot is."""
    step = np.diff(stamps)
    if (step < np.timedelta64(0)).any():
        return False
    tied = step == np.timedelta64(0)
    try:
        return bool((ids[1:][tied] >= ids[:-1][tied]).all())
    except TypeError:  # a missing id among tied timestamps: let the sort decide
        return False


def _write_part(
    schema: SchemaConfig, days: dict[dt.date, Path], columns: pa.Schema, path: Path
) -> tuple[int, int]:
    """Stream `days` into one Parquet file, one row group per day, holding one day at a time.

    Returns (rows, positive labels)."""
    rows = positives = 0
    with atomic_parquet_writer(path, columns) as writer:
        for date, snapshot in days.items():
            day = _read_day(schema, date, snapshot)
            if day.num_rows == 0:
                continue
            try:
                day = day.select(columns.names).cast(columns)
            except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ValueError(
                    f"{snapshot}: columns do not match the other snapshots of the window: {exc}"
                ) from exc
            writer.write_table(day, row_group_size=day.num_rows)
            rows += day.num_rows
            positives += int(pc.sum(day.column(schema.target_column)).as_py() or 0)
            del day
    return rows, positives


def _window_schema(days: dict[dt.date, Path]) -> pa.Schema:
    """The columns of every snapshot in the window, one type each (a column null on one day takes the others'
    type), read from the files' footers only."""
    import pyarrow.parquet as pq

    paths = list(days.values())
    unified = pq.read_schema(paths[0])
    for path in paths[1:]:  # one at a time, so a conflict names the snapshot that brings it
        try:
            unified = pa.unify_schemas([unified, pq.read_schema(path)], promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ValueError(f"snapshot {path}: column types differ from {paths[0].name}..: {exc}") from exc
    return unified


def split_window(params: Params, root: Path) -> dict:
    """Write processed/train.parquet and processed/holdout.parquet; return the window description.

    Streamed: one snapshot in memory at a time, each written as one row group (train reads the training part
    row group by row group), so peak memory follows the largest day, not the window."""
    raw_dir = root / params.paths.raw_dir
    snapshots = list_snapshots(raw_dir)
    if not snapshots:
        raise FileNotFoundError(
            f"no validated snapshots (*.parquet) in {raw_dir}: run the ingestion DAG first"
        )
    pp = params.preprocess
    # The newest `window_days` snapshots without a gap, the last `holdout_days` of them held out. Counted in
    # snapshots, not calendar days: a few quarantined nights (up to max_gap_days) do not shorten a window.
    choice = choose_window(list(snapshots), pp.window_days, pp.max_gap_days, pp.fewest_days())
    days = choice.days
    start, end = days[0], days[-1]
    holdout_start = days[-min(pp.holdout_days, len(days))]
    # One snapshot per day, each in (timestamp, id) order, so day order is row order: each part is
    # the concatenation of its days, written day by day.
    columns = _window_schema({d: snapshots[d] for d in days})
    out = root / params.paths.processed_dir
    schema = params.schema
    train_days = {d: snapshots[d] for d in days if d < holdout_start}
    holdout_days = {d: snapshots[d] for d in days if d >= holdout_start}
    # Both parts are written to temporary files first: a bad snapshot leaves neither part replaced.
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".split-") as scratch:
        parts = Path(scratch)
        train_rows, train_pos = _write_part(schema, train_days, columns, parts / TRAIN_FILE)
        holdout_rows, holdout_pos = _write_part(schema, holdout_days, columns, parts / HOLDOUT_FILE)
        if not train_rows or not holdout_rows:
            raise ValueError(
                f"window {start}..{end} has {train_rows} training and {holdout_rows} holdout rows; "
                f"need both (check preprocess.window_days / preprocess.holdout_days in {params.source_file})"
            )
        for name in (TRAIN_FILE, HOLDOUT_FILE):
            os.replace(parts / name, out / name)
    window = {
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        "first_snapshot": days[0].isoformat(),
        "holdout_start": holdout_start.isoformat(),
        "snapshots": len(days),
        "train_rows": train_rows,
        "holdout_rows": holdout_rows,
        "train_positive_rate": round(train_pos / train_rows, 6),
        "holdout_positive_rate": round(holdout_pos / holdout_rows, 6),
        "gap_before": choice.gap_before,
        "left_out": choice.left_out,
    }
    atomic_write_json(out / WINDOW_FILE, window)
    return window


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default=None, help="params.yaml (default: <project>/params.yaml)")
    args = parser.parse_args(argv)
    root = project_dir()
    params = load_params(args.params or root / "params.yaml")
    window = split_window(params, root)
    print(window)
    if window["gap_before"]:
        print(
            f"window {window['window_start']}..{window['window_end']} starts after a gap: {window['gap_before']}"
        )
    if window["left_out"]:
        print(f"left out of the window: {window['left_out']}")


if __name__ == "__main__":
    main()
