"""The cold night at production scale: `champion_reference.build` for a champion whose training window is D days of
N rows (issue 13: "no stage above 4 GB"; the first monitored night after a retraining builds this cache).

Runs in a project kept by `bench_nightly.py --keep` (its champion, MLflow store and DVC cache). The published
snapshot of night N-1 (N rows) is copied to D consecutive earlier dates (new timestamps and ids, as
bench_stages.py --distinct-days does), `dvc add`ed as a new data version, and the champion's tags are pointed at
it (in memory only: a copy of the loaded model with other `dvc_data_hash` / window tags). Then the package's own
`champion_reference.build(schema, monitor, root, champion)` reads the window through DVC a day at a time, keeps its sample of
`monitor.max_window_rows`, scores it and profiles it. Measured: wall and CPU seconds and the process's peak RSS
(VmHWM) from just before the build; the snapshot copies and `dvc add` are setup.

    python benchmarks/bench_reference.py --project /tmp/bench-nightly-1000000-... --days 35
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_stages import Recorder  # noqa: E402


def write_days(root: Path, source: Path, days: int) -> tuple[dt.date, dt.date]:
    """`days` copies of the snapshot `source`, on the days before its own, as snapshots of the project."""
    import pandas as pd
    from tabular_mlops.core.config import load_params
    from tabular_mlops.core.contracts import snapshot_day, snapshot_name

    params = load_params(root / "params.yaml")
    schema = params.schema
    base = pd.read_parquet(source)
    origin = snapshot_day(source.name)
    if origin is None:
        raise ValueError(f"{source} is not a snapshot file")
    first = origin - dt.timedelta(days=days)
    for i in range(days):
        day = first + dt.timedelta(days=i)
        shift = pd.Timedelta(days=(day - origin).days)
        copy = base.assign(
            **{
                schema.timestamp_column: base[schema.timestamp_column] + shift,
                schema.id_column: f"c{day:%Y%m%d}-" + base[schema.id_column].astype(str),
            }
        )
        copy.to_parquet(root / params.paths.raw_dir / snapshot_name(day), index=False)
        print(f"  snapshot {day}: {len(copy):,} rows", flush=True)
    return first, first + dt.timedelta(days=days - 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--project", type=Path, required=True, help="a project kept by bench_nightly.py --keep"
    )
    parser.add_argument("--days", type=int, default=35, help="days in the champion's training window")
    parser.add_argument("--json", type=Path, help="also write the measurement here")
    args = parser.parse_args(argv)
    root = args.project.resolve()
    cfg = json.loads((root / "bench" / "config.json").read_text())
    os.environ.update(
        {
            "MLOPS_PROJECT_DIR": str(root),
            "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
            "MLOPS_MONITORING_DB_URL": cfg["monitoring_url"],
            "GIT_PYTHON_REFRESH": "quiet",
        }
    )
    sys.path.insert(0, str(root / "include"))

    from tabular_mlops.core.config import load_params
    from tabular_mlops.core.contracts import Tag
    from tabular_mlops.core.data_version import dvc_data_hash
    from tabular_mlops.data.versioning import run_dvc
    from tabular_mlops.model.scoring import load_champion
    from tabular_mlops.monitoring import champion_reference

    params = load_params(root / "params.yaml")
    raw = root / params.paths.raw_dir
    newest = max(p for p in raw.glob("*.parquet") if p.stat().st_size > 1_000_000)
    t0 = time.perf_counter()
    first, last = write_days(root, newest, args.days)
    run_dvc(["add", "--quiet", str(params.paths.raw_dir)], root)
    data_hash = dvc_data_hash(root)
    setup_s = time.perf_counter() - t0
    champion = load_champion(params.registry.model_name)
    window = f"{first}..{last}"
    tags = {
        **champion.tags,
        Tag.DVC_DATA_HASH: data_hash,
        Tag.REFERENCE_WINDOW: window,
        Tag.DATA_WINDOW: window,
    }
    champion = dataclasses.replace(champion, tags=tags)
    print(
        f"setup {setup_s:.1f} s; champion v{champion.version} pointed at {data_hash}, window {window}",
        flush=True,
    )

    load0 = os.getloadavg()[0]
    recorder = Recorder()  # bench_stages' stage measurement: wall, CPU (and children's), VmHWM reset before
    ref = recorder.run(
        "champion_reference.build", champion_reference.build, params.schema, params.monitor, root, champion
    )
    (measured,) = recorder.records
    record = {
        "days": args.days,
        "window_rows": ref.profile.rows,
        "profiled_rows": ref.profile.columns[params.schema.feature_names[0]].rows,
        "max_window_rows": params.monitor.max_window_rows,
        "wall_s": measured["seconds"],
        "cpu_s": round(measured["cpu_seconds"] + measured["child_cpu_seconds"], 2),
        "peak_mib": measured["peak_rss_mib"],
        "loadavg_1m": [round(load0, 2), measured["loadavg_1m_after"]],
        "setup_s": round(setup_s, 1),
    }
    print(json.dumps(record))
    if args.json:
        args.json.write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
