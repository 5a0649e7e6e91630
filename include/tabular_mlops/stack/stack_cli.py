"""`python -m tabular_mlops.stack up|down|status` (what `make run`, `make stop`, `make status` call)."""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime as dt
import fcntl
import io
import json
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator

from tabular_mlops.core.contracts import (
    DVC_POOL,
    DVC_POOL_DESCRIPTION,
    DVC_POOL_SLOTS,
    INGEST_DAG_ID,
    MONITOR_DAG_ID,
    SOURCE_URL_ENV,
    TRAIN_DAG_ID,
)
from tabular_mlops.stack import backfill, bootstrap, commands, past_nights, services, status
from tabular_mlops.stack.console import done, fmt_duration, say, step
from tabular_mlops.stack.layout import AIRFLOW_USER, Layout
from tabular_mlops.stack.local_data_versions import keep_data_versions_local
from tabular_mlops.stack.overview import print_summary
from tabular_mlops.stack.private_state import make_private, mlflow_auth_config
from tabular_mlops.stack.programs import AIRFLOW, EVIDENTLY, HEALTHY, MLFLOW, SERVING, airflow_api, programs
from tabular_mlops.stack.stack_error import StackError, log_tail
from tabular_mlops.stack.supervisor import Program, Supervisor
from tabular_mlops.stack.waiting import NotYet, poll_until

START_TIMEOUT = {MLFLOW: 180, EVIDENTLY: 180, AIRFLOW: 300, SERVING: 180}


@contextlib.contextmanager
def stack_lock(layout: Layout) -> Iterator[None]:
    """One `up` at a time (a second `make run` in another terminal waits for the first); var/ private first."""
    make_private(layout.var)
    with layout.lock_file.open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("another `make run` is running; waiting for it to finish...")
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def read_state(layout: Layout) -> dict:
    try:
        return json.loads(layout.state_file.read_text())
    except (OSError, ValueError):
        return {}


def write_state(layout: Layout, **values: object) -> None:
    state = {**read_state(layout), **values}
    layout.state_file.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")


def cmd_up(layout: Layout) -> int:
    t0 = time.monotonic()
    params = bootstrap.load_params(layout)
    # The table is checked against params.yaml before any server starts: a mismatch stops here, in one line.
    source = bootstrap.check_source(layout, params)
    for d in (layout.var, layout.logs, layout.airflow_home, layout.mlflow_artifacts):
        d.mkdir(parents=True, exist_ok=True)
    layout.write_env_file()
    keep_data_versions_local(layout.repo)
    mlflow_auth_config(layout.mlflow_dir, layout.mlflow_credentials())
    workspace = layout.repo / params.paths.evidently_workspace
    progs = {p.name: p for p in programs(layout, workspace)}
    sup = services.supervisor(layout)
    statuses = sup.statuses()
    if (
        read_state(layout).get("bootstrap_done")
        and all(s in statuses and statuses[s].state == "RUNNING" for s in progs)
        and all(HEALTHY[name](layout) for name in progs)
    ):
        pids = ", ".join(f"{name} pid {statuses[name].pid}" for name in progs)
        say(f"The stack is already up ({pids}): not starting a second copy.")
        # The last steps are cheap and idempotent: a champion promoted since the last `up` (a retried training)
        # still gets monitor_nightly unpaused.
        api = airflow_api(layout)
        try:
            bootstrap.ensure_monitoring(layout, api)
            bootstrap.ensure_deploy(api, params)
            past_nights.monitor_past_nights(layout, api, params, source)
            bootstrap.ensure_live_source(layout, api, params)
        finally:
            api.close()
        print_summary(layout, params, bootstrap.TRAIN_REASON)
        return 0
    timings: dict[str, float] = {}

    t = step(f"supervisord ({sup.files.config}, control socket {sup.files.socket})")
    sup = services.start_supervisord(layout, list(progs.values()))
    done(t)

    # MLflow and the Evidently UI take a minute or more to import and bind on 2 busy cores, and nothing needs them
    # before the first training: they start now and are awaited after Airflow is up (their start-up overlaps the
    # Airflow database, the seeding and Airflow's own start).
    t = step(
        f"MLflow tracking server on {layout.mlflow_url} and Evidently UI on {layout.evidently_url} (in the background)"
    )
    if not services.is_running(sup, MLFLOW):
        # Against "database is locked": WAL lets readers and the writer work at the same time (persists in the file).
        commands.wal(layout.mlflow_db)
    workspace.mkdir(parents=True, exist_ok=True)
    say(
        f"    MLflow {services.launch_program(sup, progs[MLFLOW])}; store {layout.mlflow_db} (WAL), artifacts {layout.mlflow_artifacts}"
    )
    say(f"    Evidently UI {services.launch_program(sup, progs[EVIDENTLY])}; workspace {workspace}")
    background = time.monotonic()

    # Seeding (two simulator processes) needs no Airflow: it runs while the Airflow database is prepared, the
    # backfill created and Airflow started, and is awaited before the first night runs.
    seeding = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="seed")
    seeded = seeding.submit(_timed, bootstrap.seed, layout, params, dt.date.today(), source)

    airflow_running = services.is_running(sup, AIRFLOW)
    if not airflow_running:
        services.check_port_free(progs[AIRFLOW])
        t = step(f"Airflow metadata database {layout.airflow_db} and pool {DVC_POOL} ({DVC_POOL_SLOTS} slot)")
        commands.prepare_airflow_db(layout)
        done(t, "airflow db migrate + WAL + pool")
        timings["airflow db"] = time.monotonic() - t

    if not airflow_running:
        t = step(f"Backfill of {INGEST_DAG_ID} over the history (created before the scheduler starts)")
        backfill.create_offline(layout, params)
        done(t)
        timings["backfill create"] = time.monotonic() - t

    t = step(f"Airflow standalone on {layout.airflow_url} (LocalExecutor, SQLite metadata DB)")
    start_airflow(sup, layout, progs)
    timings["airflow"] = time.monotonic() - t

    t = step("Waiting for MLflow and the Evidently UI (started in the background)")
    services.wait_healthy(
        sup, layout, progs[MLFLOW], START_TIMEOUT[MLFLOW], f"MLflow at {layout.mlflow_url}/health"
    )
    services.wait_healthy(
        sup, layout, progs[EVIDENTLY], START_TIMEOUT[EVIDENTLY], f"Evidently UI at {layout.evidently_url}"
    )
    done(t, f"both healthy {fmt_duration(time.monotonic() - background)} after their launch; waited")
    timings["mlflow+evidently wait"] = time.monotonic() - t

    api = airflow_api(layout)
    t = step("Waiting for the DAG processor to load the DAGs")
    bootstrap.wait_for_dags(layout, api)
    if api.ensure_pool(DVC_POOL, DVC_POOL_SLOTS, DVC_POOL_DESCRIPTION):
        say(f"    created pool {DVC_POOL}")
    done(t)

    if airflow_running and backfill.needs_creating(layout, api, params):
        # The backfill is created with the scheduler stopped (see backfill.create_offline): restart Airflow for it.
        t = step(
            f"Backfill of {INGEST_DAG_ID}: history nights missing or failed, restarting Airflow to create it"
        )
        sup.ctl("stop", AIRFLOW, timeout=180)
        backfill.create_offline(layout, params)
        start_airflow(sup, layout, progs)
        bootstrap.wait_for_dags(layout, api)
        done(t)

    t = step(
        f"Your table as the source ({source.describe()}; {SOURCE_URL_ENV} set: no simulator, no seeding)"
        if source
        else f"Seeding the source database ({params.simulate.history_days} days from "
        f"{params.simulate.history_start}, {params.simulate.rows_per_day} rows/day; started in the background)"
    )
    try:
        lines, seconds = seeded.result()
    finally:
        seeding.shutdown()
    for line in lines:
        say(line)
    timings["seed (background)"] = seconds
    done(t, f"seeded in {fmt_duration(seconds)}; waited")
    timings["seed wait"] = time.monotonic() - t

    t = step(f"Backfill {INGEST_DAG_ID}: waiting for the nights to run")
    backfill.ensure(layout, api, params)
    done(t)
    timings["backfill"] = time.monotonic() - t

    t = step(f"First training: {TRAIN_DAG_ID}")
    bootstrap.ensure_training(layout, api, params)
    done(t)
    timings["train"] = time.monotonic() - t

    t = step(f"Scoring service on {layout.serving_url} (follows the champion alias)")
    start_serving(sup, layout, progs[SERVING])
    timings["serving"] = time.monotonic() - t

    bootstrap.ensure_monitoring(layout, api)
    bootstrap.ensure_deploy(api, params)
    if source is not None:
        t = step(f"Monitoring your table's past nights ({MONITOR_DAG_ID} through the scheduler)")
        past_nights.monitor_past_nights(layout, api, params, source)
        done(t)
        timings["past nights"] = time.monotonic() - t
    bootstrap.ensure_live_source(layout, api, params)
    api.close()
    write_state(
        layout,
        bootstrap_done=True,
        last_up_seconds=round(time.monotonic() - t0, 1),
        last_up_at=dt.datetime.now().isoformat(timespec="seconds"),
    )
    print_summary(layout, params, bootstrap.TRAIN_REASON)
    total = fmt_duration(time.monotonic() - t0)
    say("timings: " + ", ".join(f"{k} {fmt_duration(v)}" for k, v in timings.items()) + f"; total {total}")
    return 0


def _timed(fn: Callable[..., list[str]], *args: object) -> tuple[list[str], float]:
    started = time.monotonic()
    return fn(*args), time.monotonic() - started


def start_airflow(sup: Supervisor, layout: Layout, progs: dict[str, Program]) -> None:
    """airflow standalone under supervisord, healthy, with its generated login."""
    what = f"Airflow at {layout.airflow_url}/api/v2/monitor/health (metadatabase, scheduler, dag_processor, triggerer healthy)"
    say(
        f"    {services.ensure_program(sup, layout, progs[AIRFLOW], START_TIMEOUT[AIRFLOW], what)}; log {sup.files.log(AIRFLOW)}"
    )

    def password() -> str:
        value = layout.airflow_password()
        if value is None:
            raise NotYet("password file not written yet")
        return value

    login = poll_until(
        password,
        what=f"Airflow credentials in {layout.passwords_file}",
        timeout=60,
        log=sup.files.log(AIRFLOW),
    )
    say(f"    UI login: {AIRFLOW_USER} / {login}  (from {layout.passwords_file})")


def start_serving(sup: Supervisor, layout: Layout, program: Program) -> None:
    """`tabular-mlops serve` under supervisord, once a champion exists; a stack without one still comes up."""
    if not layout.serving_token_file.exists():
        # Created with mode 0600 before anything is written to it; the service reads it at start.
        fd = os.open(layout.serving_token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
    what = f"scoring service at {layout.serving_url}/health/ready"
    try:
        say(f"    {services.ensure_program(sup, layout, program, START_TIMEOUT[SERVING], what)}")
    except StackError as exc:
        say(f"    not started: {exc} (it needs a champion; `make run` again once train_model promoted one)")


def cmd_down(layout: Layout) -> int:
    """Stop all programs (each process group) and supervisord."""
    say("stopping the stack (supervisorctl stop all, then shutdown)...")
    started = time.monotonic()
    if not services.stop_all(layout):
        say("nothing to stop: the stack is not running")
        return 0
    say(f"stopped in {fmt_duration(time.monotonic() - started)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    parser = argparse.ArgumentParser(prog="python -m tabular_mlops.stack", description=__doc__)
    parser.add_argument("command", choices=("up", "down", "status"))
    args = parser.parse_args(argv)
    try:
        layout = Layout.from_env()
        if args.command == "status":
            return status.show(layout)
        if args.command == "down":  # never waits for a running `up`: stopping must work at any time
            return cmd_down(layout)
        with stack_lock(layout):
            return cmd_up(layout)
    except StackError as exc:
        say(f"\nERROR: {exc}")
        tail = log_tail(exc.log)
        if tail:
            say(f"--- last lines of {exc.log} ---\n{tail}\n---")
        if args.command == "up":
            say("Processes that did start keep running: fix the cause and `make run` again, or `make stop`.")
        return 1
    except BrokenPipeError:  # `make run | head`: the reader went away, the work is done or continues
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        say(
            "\ninterrupted. Processes that did start keep running: `make run` resumes, `make stop` stops them."
        )
        return 130
