"""Where the ingestion backfill of a `make run` spends its time, read from the stack's Airflow metadata database.

Usage (after or during `make run`; read-only, works on a stopped stack too):

    .venv/bin/python benchmarks/first_run_tasks.py [--db var/airflow/airflow.db] [--dag-id ingest]

Prints, for the backfill runs of the DAG: per task the mean and p90 of its run time (task start to end, i.e. the
task process's imports and work) and of its queue wait (queued to start); the scheduler's hand-over between the
tasks of one night (previous task end to next task queued); the mean wall time of one night (first task queued
to last task end); the backfill's span (first queued to last end), nights per minute and the mean number of nights
in flight. `make run` prints its own phase timings at the end; this script explains the backfill phase.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import statistics
from collections import defaultdict
from pathlib import Path

QUERY = """
select ti.run_id, ti.task_id, ti.queued_dttm, ti.start_date, ti.end_date, ti.state
from task_instance ti join dag_run dr on dr.dag_id = ti.dag_id and dr.run_id = ti.run_id
where ti.dag_id = ? and dr.run_type = 'backfill' and ti.end_date is not null
"""


def _ts(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    return dt.datetime.fromisoformat(value.replace(" ", "T")).replace(tzinfo=None)


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]


def summarise(rows: list[tuple]) -> str:
    """The report for (run_id, task_id, queued, start, end, state) rows."""
    by_run: dict[str, list[tuple[str, dt.datetime, dt.datetime, dt.datetime]]] = defaultdict(list)
    run_time: dict[str, list[float]] = defaultdict(list)
    queue_wait: dict[str, list[float]] = defaultdict(list)
    for run_id, task_id, queued, start, end, _state in rows:
        q, s, e = _ts(queued), _ts(start), _ts(end)
        if q is None or s is None or e is None:
            continue
        by_run[run_id].append((task_id, q, s, e))
        run_time[task_id].append((e - s).total_seconds())
        queue_wait[task_id].append((s - q).total_seconds())
    if not by_run:
        return "no finished backfill task instances"
    handover: list[float] = []
    night_wall: list[float] = []
    for tasks in by_run.values():
        tasks.sort(key=lambda t: t[1])
        night_wall.append((max(t[3] for t in tasks) - tasks[0][1]).total_seconds())
        handover += [(b[1] - a[3]).total_seconds() for a, b in zip(tasks, tasks[1:], strict=False)]
    first = min(t[1] for tasks in by_run.values() for t in tasks)
    last = max(t[3] for tasks in by_run.values() for t in tasks)
    span = (last - first).total_seconds()
    lines = [
        f"backfill nights finished: {len(by_run)}; span {span:.0f} s (first task queued -> last task ended); "
        f"{len(by_run) / span * 60:.1f} nights/min; mean nights in flight {sum(night_wall) / span:.2f}",
        f"one night, first task queued -> last task ended: mean {statistics.mean(night_wall):.1f} s, "
        f"p90 {_p90(night_wall):.1f} s",
        f"hand-over between a night's tasks (end -> next queued): mean {statistics.mean(handover or [0]):.2f} s",
        "",
        "| task | n | run mean s | run p90 s | queue wait mean s | queue wait p90 s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    order = {task_id: i for i, task_id in enumerate(t[0] for t in max(by_run.values(), key=len))}
    for task_id in sorted(run_time, key=lambda t: (order.get(t, len(order)), t)):
        rt, qw = run_time[task_id], queue_wait[task_id]
        lines.append(
            f"| {task_id} | {len(rt)} | {statistics.mean(rt):.2f} | {_p90(rt):.2f} | "
            f"{statistics.mean(qw):.2f} | {_p90(qw):.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", type=Path, default=Path("var/airflow/airflow.db"))
    parser.add_argument("--dag-id", default="ingest")
    args = parser.parse_args(argv)
    with sqlite3.connect(f"file:{args.db}?mode=ro", uri=True) as conn:
        rows = conn.execute(QUERY, (args.dag_id,)).fetchall()
    print(summarise(rows))


if __name__ == "__main__":
    main()
