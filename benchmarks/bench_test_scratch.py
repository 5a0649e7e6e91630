"""What the tests' scratch folder costs (tests/conftest.py puts it on tmpfs): a fresh MLflow SQLite store (its
schema migrations, one commit each) created on a disk folder and on tmpfs, interleaved, in one process (MLflow
imported once, before the first timing), plus the disk's own cost of one synced write.

    python benchmarks/bench_test_scratch.py [--rounds 4] [--disk /tmp] [--tmpfs /dev/shm]

Prints one line per store (wall and this process's CPU seconds) and the medians per folder, with the load."""

from __future__ import annotations

import argparse
import logging
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _synced_write_ms(folder: str, writes: int = 100) -> float:
    """Milliseconds per 4 KiB write followed by fsync, as SQLite syncs a commit."""
    with tempfile.NamedTemporaryFile(dir=folder) as handle:
        start = time.perf_counter()
        for _ in range(writes):
            handle.write(b"\0" * 4096)
            handle.flush()
            os.fsync(handle.fileno())
        return (time.perf_counter() - start) * 1000 / writes


def _store(folder: str) -> tuple[float, float]:
    from mlflow import MlflowClient

    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        wall, cpu = time.perf_counter(), _cpu()
        MlflowClient(f"sqlite:///{Path(tmp) / 'mlflow.db'}").search_experiments()
        return time.perf_counter() - wall, _cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--disk", default="/tmp")
    parser.add_argument("--tmpfs", default="/dev/shm")
    args = parser.parse_args()
    logging.disable(logging.INFO)  # MLflow logs each migration
    _store(args.tmpfs)  # imports and the migration scripts' first load, not timed
    folders = {"disk": args.disk, "tmpfs": args.tmpfs}
    print(f"load before: {os.getloadavg()[0]:.2f}")
    for kind, folder in folders.items():
        print(f"{kind} {folder}: {_synced_write_ms(folder):.2f} ms a synced 4 KiB write")
    times: dict[str, list[tuple[float, float]]] = {kind: [] for kind in folders}
    for round_ in range(args.rounds):
        for kind, folder in folders.items():  # interleaved: both sides under the same load
            wall, cpu = _store(folder)
            times[kind].append((wall, cpu))
            print(f"round {round_ + 1} {kind}: {wall:.2f} s wall, {cpu:.2f} CPU s")
    for kind, runs in times.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"median {kind} ({folders[kind]}): {wall:.2f} s wall, {cpu:.2f} CPU s a fresh MLflow store")
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
