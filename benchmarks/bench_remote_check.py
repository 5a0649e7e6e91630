"""What training's remote check costs: every object of the data version asked for on the remote
(`versioning.remote_objects_missing`, DVC's `oids_exist`), against the `dvc status --cloud` it replaced.

A throw-away DVC project gets `--days` daily snapshots of `--rows` simulated rows each (one day is simulated, the
others are that day with its times and ids moved, so every file has its own bytes and object), `dvc add` +
`dvc push` to a local remote. Then, `--repeat` times each (the median is printed):

    status_cloud     `dvc status --cloud --json data.dvc` (a dvc process: what the check ran before)
    objects          `remote_objects_missing` in this process (open the repo, read the .dir manifest, stat
                     every object on the remote)
    check_on_remote  the whole check training runs now (`dvc status` of the workspace + `objects`)

Last, one snapshot's object is deleted from the remote and both checks run once more: what each one says.

    python benchmarks/bench_remote_check.py --days 14 --rows 1000000
    python benchmarks/bench_remote_check.py --days 365 --rows 1000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

DAY = dt.date(2026, 1, 1)


def _cpu() -> float:
    """User + system CPU seconds of this process and its finished children (the dvc processes)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _dvc(args: list[str], root: Path) -> str:
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout


def _project(folder: Path, days: int, rows: int) -> Path:
    import pandas as pd
    from tabular_mlops.core.contracts import snapshot_name
    from tabular_mlops.data.simulate import generate_day

    root = folder / "project"
    (root / "data").mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    _dvc(["init", "-q"], root)
    _dvc(["config", "core.analytics", "false"], root)
    _dvc(["remote", "add", "-d", "local", str(folder / "remote")], root)
    base = generate_day(DAY, rows, 5)
    for i in range(days):
        day = base.copy()
        day["applied_at"] = day["applied_at"] + pd.Timedelta(days=i)
        day["application_id"] = f"{i:04d}-" + day["application_id"].astype(str)
        day.to_parquet(root / "data" / snapshot_name(DAY + dt.timedelta(days=i)), index=False)
    _dvc(["add", "-q", "data"], root)
    _dvc(["push", "-q"], root)
    return root


def _timed(call: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    walls, cpus, out = [], [], None
    for _ in range(repeat):
        cpu, wall = _cpu(), time.perf_counter()
        out = call()
        walls.append(time.perf_counter() - wall)
        cpus.append(_cpu() - cpu)
    return statistics.median(walls), statistics.median(cpus), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from tabular_mlops.data.versioning import check_on_remote, remote_objects_missing

    with tempfile.TemporaryDirectory(prefix="bench-remote-") as tmp:
        started = time.perf_counter()
        root = _project(Path(tmp), args.days, args.rows)
        setup = time.perf_counter() - started
        size = sum(p.stat().st_size for p in (root / "data").iterdir())
        rows = []
        for name, call in (
            (
                "status_cloud",
                lambda: json.loads(_dvc(["status", "--cloud", "--json", "data.dvc"], root) or "{}"),
            ),
            ("objects", lambda: remote_objects_missing(root)),
            ("check_on_remote", lambda: check_on_remote(root)),
        ):
            wall, cpu, out = _timed(call, args.repeat)
            rows.append((name, wall, cpu, out))
        victim = next((root / "data").glob("*.parquet"))
        md5 = subprocess.run(
            ["md5sum", str(victim)], capture_output=True, text=True, check=True
        ).stdout.split()[0]
        os.unlink(Path(tmp) / "remote" / "files" / "md5" / md5[:2] / md5[2:])
        after_status = json.loads(_dvc(["status", "--cloud", "--json", "data.dvc"], root) or "{}")
        after_objects = remote_objects_missing(root)
    print(
        f"days {args.days}, rows/day {args.rows:,}, data {size / 2**20:.0f} MiB, setup {setup:.0f} s, "
        f"load average {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} cores, repeat {args.repeat} (median)"
    )
    print("| check | wall s | cpu s | answer (version whole) |\n|---|---:|---:|---|")
    for name, wall, cpu, out in rows:
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {str(out)[:60]} |")
    print(
        f"one object deleted ({victim.name}): status_cloud says {after_status}; objects says {after_objects}"
    )


if __name__ == "__main__":
    main()
