"""Time and peak memory of the DVC `preprocess` stage (preprocess.split_window) on a window of simulated daily
snapshots, in a fresh interpreter per measurement.

    .venv/bin/python benchmarks/bench_preprocess.py --rows 200000 --days 10 --holdout 3 --repeats 2

Results and the figures before the change that removed the whole-window sort: benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _params(days: int, holdout: int):
    from tabular_mlops.core.config import load_params

    params = load_params(REPO / "params.yaml")
    return replace(params, preprocess=replace(params.preprocess, window_days=days, holdout_days=holdout))


def generate(root: Path, rows: int, days: int) -> None:
    """Snapshots as the ingestion writes them: one parquet per application day, rows in (timestamp, id) order."""
    from tabular_mlops.data.simulate import generate_day

    (root / "data").mkdir(parents=True)
    for i in range(days):
        day = dt.date(2026, 1, 1) + dt.timedelta(days=i)
        batch = generate_day(day, rows, 1).sort_values(["applied_at", "application_id"], kind="mergesort")
        batch.reset_index(drop=True).to_parquet(root / "data" / f"day={day}.parquet", index=False)


def measure(root: Path, days: int, holdout: int) -> dict:
    from tabular_mlops.training.preprocess import split_window

    params = _params(days, holdout)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    window = split_window(params, root)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rss_before_mib": round(before / 1024),
        "rows": window["train_rows"] + window["holdout_rows"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000, help="rows per day")
    ap.add_argument("--days", type=int, default=10)
    ap.add_argument("--holdout", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(measure(args.worker, args.days, args.holdout)))
        return
    if args.generate:
        generate(args.generate, args.rows, args.days)
        return
    # Data generation runs in its own process too: Linux keeps a parent's peak RSS across fork + exec.
    with tempfile.TemporaryDirectory(prefix="bench-preprocess-") as tmp:
        root = Path(tmp)
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--generate",
                str(root),
                "--rows",
                str(args.rows),
                "--days",
                str(args.days),
            ],
            check=True,
        )
        for i in range(args.repeats):
            out = subprocess.run(
                [sys.executable, __file__, "--worker", str(root), "--days", str(args.days)]
                + ["--holdout", str(args.holdout)],
                capture_output=True,
                text=True,
                check=True,
            )
            print(f"repeat {i + 1}: {out.stdout.strip()}")


if __name__ == "__main__":
    main()
