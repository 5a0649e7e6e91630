"""The ingestion backfill over the seeded history: created before the scheduler starts, then awaited night by
night through the real scheduler, with progress, a stall detector and the failed night's log."""

from __future__ import annotations

import datetime as dt
import shlex
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tabular_mlops.core.contracts import INGEST_DAG_ID, SOURCE_URL_ENV
from tabular_mlops.stack import commands, own_table
from tabular_mlops.stack.airflow_api import ACTIVE, AirflowAPI, parse_ts
from tabular_mlops.stack.console import fmt_duration, say
from tabular_mlops.stack.diagnose import explain_run
from tabular_mlops.stack.layout import Layout
from tabular_mlops.stack.stack_error import StackError, error_lines
from tabular_mlops.stack.waiting import NotYet, poll_until

if TYPE_CHECKING:
    from tabular_mlops.core.config import Params

# Nights of the backfill run side by side (Airflow applies a backfill's max_active_runs independently of the DAG's
# max_active_runs=1, which still holds scheduled runs to one at a time). The nights are independent until
# publishing: extract writes the night's own landing folder, validate takes the GX project lock
# (data.validate), and version is serialised by the one-slot dvc_repo pool. Each night's task start-up (a Python
# process importing pandas, GX or DVC) then overlaps another night's work: measured in benchmarks/RESULTS.md
# ("First run").
MAX_ACTIVE_RUNS = 4
SCHEDULED_RUN_TIMEOUT = 600
BACKFILL_TIMEOUT = 4 * 3600
STALL_TIMEOUT = 20 * 60  # no night finished for this long: something is stuck
STATES = ("success", "failed", "running", "queued", "missing")


def window(layout: Layout, params: Params) -> tuple[dt.date, dt.date]:
    """First and last night to backfill: night D extracts the rows of D - label delay. On your own table
    (MLOPS_SOURCE_URL) from the table's first and last days, else from the simulator's history."""
    if layout.source_url:
        source = own_table.inspect_source(layout.source_url, params.schema)
        start_date = dt.date.fromisoformat(str(params.dags.start_date))
        return own_table.nights(source, params.schema.label_delay_days, start_date, dt.date.today())
    first_day = dt.date.fromisoformat(str(params.simulate.history_start))
    last_day = first_day + dt.timedelta(days=params.simulate.history_days - 1)
    start = first_day + dt.timedelta(days=params.schema.label_delay_days)
    if start > last_day:
        raise StackError(
            f"params.yaml: simulate.history_days ({params.simulate.history_days}) must exceed "
            f"schema.label_delay_days ({params.schema.label_delay_days}) for any label to mature"
        )
    return start, last_day


def nights(layout: Layout, params: Params) -> list[dt.date]:
    start, end = window(layout, params)
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def create_command(layout: Layout, params: Params) -> list[str]:
    start, end = window(layout, params)
    return ["backfill", "create", "--dag-id", INGEST_DAG_ID, "--from-date", start.isoformat(),
            "--to-date", end.isoformat(), "--max-active-runs", str(MAX_ACTIVE_RUNS),
            # a re-run re-does the failed nights and leaves the successful ones alone
            "--reprocess-behavior", "failed"]  # fmt: skip


def latest_by_night(runs: list[dict], wanted: list[dt.date]) -> dict[dt.date, dict]:
    """Per night, the run with the latest run_after (a re-run replaces the earlier outcome)."""
    out: dict[dt.date, dict] = {}
    for run in sorted(runs, key=lambda r: r.get("run_after") or ""):
        logical = parse_ts(run.get("logical_date"))
        if logical is not None and logical.date() in wanted:
            out[logical.date()] = run
    return out


def create_offline(layout: Layout, params: Params) -> None:
    """Create the backfill while no Airflow component runs (`airflow standalone` starts afterwards).

    `airflow backfill create` inserts the runs one savepoint at a time (read, then insert). On SQLite any commit
    by another process between the two (a scheduler or triggerer heartbeat) fails the insert at once with
    "database is locked", whatever the busy timeout, and the CLI then drops the whole backfill. With nothing else
    writing, it is deterministic.
    """
    todo = nights(layout, params)
    say(
        f"    nights {todo[0]}..{todo[-1]} ({len(todo)} runs; night D ingests the {params.wording.rows} of "
        f"D - {params.schema.label_delay_days} days)"
    )
    commands.airflow(layout, "dags", "reserialize", what="airflow dags reserialize", timeout=600)
    latest = latest_by_night(commands.list_runs_offline(layout, INGEST_DAG_ID), todo)
    if all(n in latest and latest[n].get("state") == "success" for n in todo):
        say(f"    all {len(todo)} nights already succeeded: backfill skipped")
        return
    cmd = create_command(layout, params)
    proc = commands.airflow(
        layout, *cmd, what=f"airflow backfill create {INGEST_DAG_ID}", timeout=600, check=False
    )
    output = proc.stdout + proc.stderr
    if proc.returncode == 0:
        say(f"    backfill created (max {MAX_ACTIVE_RUNS} active runs; failed nights get re-done)")
    elif "Another backfill is running" in output:
        say("    a backfill of this DAG is still in progress: it resumes when the scheduler starts")
    else:
        raise StackError(
            f"airflow backfill create {INGEST_DAG_ID} failed (exit {proc.returncode}): "
            f"`airflow {shlex.join(cmd)}`\n{error_lines(output)}"
        )


def stale_runs(runs: list[dict], now: dt.datetime) -> tuple[list[dict], list[dict]]:
    """Active non-backfill runs split into those to wait for and stale ones: queued for a moment still in the
    future (e.g. a drill night triggered ahead of the clock), which the scheduler will not start before then."""
    active = [r for r in runs if r.get("run_type") != "backfill" and r.get("state") in ACTIVE]
    future = [r for r in active if r.get("state") == "queued" and (parse_ts(r.get("run_after")) or now) > now]
    return [r for r in active if r not in future], future


def settle_scheduled_runs(api: AirflowAPI, dag_id: str, timeout: float = SCHEDULED_RUN_TIMEOUT) -> None:
    """After an unpause, catchup=False makes the scheduler create the run of the latest schedule point at once.
    Let that run finish before the backfill, so the two never write the workspace at the same time.

    A stuck or old run never blocks `make run` for ever: runs queued for the future are reported and skipped
    (they cannot start now); runs still active after `timeout` are marked failed through the REST API, with a
    message naming them."""
    now = dt.datetime.now(dt.UTC)
    _, future = stale_runs(api.dag_runs(dag_id), now)
    for r in future:
        say(
            f"    skipped {dag_id} run {r['dag_run_id']} ({r.get('run_type')}): queued for {r.get('run_after')}, "
            "in the future; the scheduler starts it then (delete it in the UI if it is a leftover)"
        )
    skip = {r["dag_run_id"] for r in future}
    waiting: list[dict] = []

    def settled() -> None:
        dag = api.dag(dag_id) or {}
        due = parse_ts(dag.get("next_dagrun_run_after"))
        due_now = due is not None and due <= dt.datetime.now(dt.UTC) and not dag.get("is_paused")
        active, _ = stale_runs(api.dag_runs(dag_id), dt.datetime.now(dt.UTC))
        waiting[:] = [r for r in active if r["dag_run_id"] not in skip]
        if due_now or waiting:
            raise NotYet(
                f"{len(waiting)} run(s) active: {', '.join(r['dag_run_id'] for r in waiting)}"
                if waiting
                else "a scheduled run is due"
            )

    try:
        poll_until(settled, what=f"{dag_id}: the scheduled run", timeout=timeout, interval=3)
    except StackError:
        if not waiting:
            raise
        for r in list(waiting):
            what = f"{r['dag_run_id']} ({r.get('run_type')}, {r.get('state')} since {r.get('start_date') or r.get('queued_at')})"
            api.set_run_state(dag_id, r["dag_run_id"], "failed")
            say(
                f"    marked {dag_id} run {what} failed: still active after {fmt_duration(timeout)}, it would "
                "block the backfill; clear it in the UI to run it again"
            )


def report_latest_scheduled(layout: Layout, api: AirflowAPI, params: Params) -> None:
    """Say how tonight's scheduled run ended. With `simulate.live_source` (the default) it has data and succeeds;
    without it a night past the simulated history finds no rows and fails (said so here)."""
    scheduled = [r for r in api.dag_runs(INGEST_DAG_ID) if r.get("run_type") == "scheduled"]
    latest = max(scheduled, key=lambda r: r.get("run_after") or "", default=None)
    if latest is None:
        return
    say(f"    latest scheduled run {latest['dag_run_id']}: {latest['state']}")
    if latest["state"] != "failed":
        return
    logical = parse_ts(latest.get("logical_date"))
    last_day = window(layout, params)[1]
    apps = (logical - dt.timedelta(days=params.schema.label_delay_days)).date() if logical else None
    if apps is not None and apps > last_day and (layout.source_url or not params.simulate.live_source):
        history = f"your table ({SOURCE_URL_ENV})" if layout.source_url else "the simulated history"
        say(
            f"      expected: the clock is past {history} (last night {last_day}), so this night looks for the "
            f"{params.wording.rows} of {apps}, finds none, and the GX gate quarantines the empty batch"
        )
    else:
        why = explain_run(api, layout.airflow_home, INGEST_DAG_ID, latest["dag_run_id"])
        say(f"      (not part of the backfill; why it failed:)\n{why}")


def needs_creating(layout: Layout, api: AirflowAPI, params: Params) -> bool:
    """No backfill in progress, and some history night is missing or failed."""
    if any(b.get("completed_at") is None for b in api.backfills(INGEST_DAG_ID)):
        return False
    todo = nights(layout, params)
    runs = latest_by_night(api.dag_runs(INGEST_DAG_ID), todo)
    return not (len(runs) == len(todo) and all(r["state"] == "success" for r in runs.values()))


def ensure(layout: Layout, api: AirflowAPI, params: Params) -> None:
    """Unpause the ingestion DAG, wait for every history night, then let tonight's scheduled run finish.

    Unpausing makes the scheduler create tonight's scheduled run at once (catchup=False). It runs beside the
    backfill's nights: each run extracts into its own landing folder, validation takes the GX project lock and
    publishing the one-slot dvc_repo pool, so no two runs write the same files at once. The scheduled run is
    awaited (or, stuck from an earlier session, marked failed) after the backfill, before the first training."""
    todo = nights(layout, params)
    active = [b for b in api.backfills(INGEST_DAG_ID) if b.get("completed_at") is None]
    for b in active:
        if b.get("is_paused"):  # held by an earlier `make run` (older versions paused it while settling)
            api.backfill_action(b["id"], "unpause")
    if (api.dag(INGEST_DAG_ID) or {}).get("is_paused"):
        api.set_paused(INGEST_DAG_ID, False)
        say(f"    unpaused {INGEST_DAG_ID} (@daily, catchup=False)")

    runs = latest_by_night(api.dag_runs(INGEST_DAG_ID), todo)
    if len(runs) == len(todo) and all(r["state"] == "success" for r in runs.values()):
        say(f"    all {len(todo)} nights succeeded: nothing to wait for")
    elif not active:
        raise StackError(
            f"nights of {INGEST_DAG_ID} are missing or failed and no backfill is running: "
            "`make stop` then `make run` creates it again before the scheduler starts"
        )
    else:
        b = active[0]
        say(
            f"    backfill {b['id']} ({b['from_date'][:10]}..{b['to_date'][:10]}, max {b['max_active_runs']} "
            "active runs) running through the scheduler:"
        )
        wait(layout, api, todo)
    settle_scheduled_runs(api, INGEST_DAG_ID)
    report_latest_scheduled(layout, api, params)


@dataclass
class _Progress:
    """What the backfill wait has seen: for progress lines, the ETA and the stall detector."""

    started: float = field(default_factory=time.monotonic)
    last_counts: tuple[int, ...] | None = None
    last_change: float = field(default_factory=time.monotonic)
    last_print: float = 0.0
    finished_at_start: int | None = None


def wait(layout: Layout, api: AirflowAPI, todo: list[dt.date]) -> None:
    """Poll the nights every 5 s until all have finished and the backfill is complete; fail on a stall."""
    progress = _Progress()

    def finished() -> dict[dt.date, dict]:
        runs = latest_by_night(api.dag_runs(INGEST_DAG_ID), todo)
        states = [runs[n]["state"] if n in runs else "missing" for n in todo]
        counts = {s: states.count(s) for s in STATES}
        done = counts["success"] + counts["failed"]
        if progress.finished_at_start is None:
            progress.finished_at_start = done
        now = time.monotonic()
        key = tuple(counts.values())
        if key != progress.last_counts:
            progress.last_change = now
        if key != progress.last_counts or now - progress.last_print >= 60:
            rate = (done - progress.finished_at_start) / max(now - progress.started, 1e-9)
            eta = (
                f", ~{fmt_duration((len(todo) - done) / rate)} left" if rate > 0 and done < len(todo) else ""
            )
            say(
                f"    [{fmt_duration(now - progress.started):>7}] {done}/{len(todo)} nights done: "
                f"{counts['success']} success, {counts['failed']} failed, {counts['running']} running, "
                f"{counts['queued']} queued{eta}"
            )
            progress.last_counts, progress.last_print = key, now
        if done == len(todo) and not any(b.get("completed_at") is None for b in api.backfills(INGEST_DAG_ID)):
            return runs
        if now - progress.last_change > STALL_TIMEOUT:
            raise StackError(
                f"backfill made no progress for {fmt_duration(STALL_TIMEOUT)} (states: {counts})",
                layout.logs / "airflow.log",
            )
        raise NotYet(f"{done}/{len(todo)} nights done")

    runs = poll_until(
        finished, what="backfill", timeout=BACKFILL_TIMEOUT, interval=5, log=layout.logs / "airflow.log"
    )
    failed = [n for n in todo if runs[n]["state"] == "failed"]
    if failed:
        first = runs[failed[0]]["dag_run_id"]
        raise StackError(
            f"{len(failed)} ingestion night(s) failed: {', '.join(map(str, failed))}\n"
            f"    first failure, run {first}:\n{explain_run(api, layout.airflow_home, INGEST_DAG_ID, first)}\n"
            "    fix the cause and run `make run` again: failed nights are re-processed, successful ones kept"
        )
    say(f"    all {len(todo)} nights succeeded")
