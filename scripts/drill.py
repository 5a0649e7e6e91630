"""Fire drill against the local stack of `make run`: inject a simulator scenario into the source database from
the next night on, run the nightly DAGs night by night through the real scheduler, and print one line per night.

    make drill SCENARIO=covariate_shift NIGHTS=5

The DAGs run through the `airflow` CLI; what a night produced is read through the package: its NightResult
(summary.json), its decision record, the retraining's outcome and the champion. Names come from params.yaml.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from tabular_mlops.core.config import Params, load_params
from tabular_mlops.core.contracts import (
    INGEST_DAG_ID,
    MONITOR_DAG_ID,
    MONITORING_CONN_ID,
    SOURCE_CONN_ID,
    TRAIN_DAG_ID,
)
from tabular_mlops.monitoring.results import NightRecord, NightResult, Status

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = REPO / ".venv" / "bin"
STACK_ENV = REPO / "var" / "stack.env"
TERMINAL = {"success", "failed"}
SQLALCHEMY_DRIVERS = {"postgres": "postgresql+psycopg2", "postgresql": "postgresql+psycopg2"}
RUN_TIMEOUT = 900  # seconds per DAG run; a night takes well under a minute on an idle stack
PROGRESS_EVERY = 30  # seconds between progress lines while a retraining runs


class DrillError(Exception):
    """What stops the drill, said in one line (main prints it and exits 1)."""


def stack_env() -> dict[str, str]:
    """The environment `make run` wrote; refuse to run without a stack."""
    if not STACK_ENV.exists():
        sys.exit("error: var/stack.env not found: start the local stack with `make run` first")
    env = dict(os.environ)
    for line in STACK_ENV.read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export ") :].partition("=")
            value = value.replace('"$PATH"', env.get("PATH", ""))
            env[key] = shlex.split(value)[0] if value else ""
    return env


def connection_url(env: dict[str, str], conn_id: str) -> str:
    """SQLAlchemy URL of an Airflow connection given as JSON in `AIRFLOW_CONN_<ID>` (how the stack defines it)."""
    raw = env.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if not raw:
        sys.exit(f"error: connection '{conn_id}' is not in var/stack.env (restart the stack with `make run`)")
    conn = json.loads(raw)
    if conn.get("conn_type") == "sqlite":
        return f"sqlite:///{conn['host']}"
    driver = SQLALCHEMY_DRIVERS.get(conn.get("conn_type", ""))
    if driver is None:
        sys.exit(f"error: connection '{conn_id}' has unsupported type {conn.get('conn_type')!r}")
    url = sa.URL.create(
        driver,
        username=conn.get("login"),
        password=conn.get("password"),
        host=conn.get("host"),
        port=conn.get("port"),
        database=conn.get("schema"),
    )
    return url.render_as_string(hide_password=False)


def run(cmd: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        sys.exit(f"error: {' '.join(cmd[:4])} failed: {(proc.stderr or proc.stdout)[-1500:]}")
    return proc.stdout


def airflow(args: list[str], env: dict[str, str]) -> str:
    return run([str(VENV_BIN / "airflow"), *args], env)


def parse_runs(out: str) -> list[dict]:
    """The JSON list of `airflow dags list-runs -o json` (the CLI may print warnings before it)."""
    doc = next((ln for ln in out.splitlines() if ln.startswith("[{") or ln.strip() == "[]"), "[]")
    return json.loads(doc)


def list_runs(dag_id: str, env: dict[str, str]) -> list[dict]:
    return parse_runs(airflow(["dags", "list-runs", dag_id, "-o", "json"], env))


def trigger_and_wait(dag_id: str, night: dt.date, env: dict[str, str], timeout: int = RUN_TIMEOUT) -> str:
    """Trigger the night; a night that already has a run (one per logical date) is cleared and re-run."""
    if night > dt.date.today():
        raise DrillError(
            f"night {night} is in the future: Airflow would not start its {dag_id} run before then"
        )
    logical = f"{night.isoformat()}T00:00:00+00:00"
    existing = next((r for r in list_runs(dag_id, env) if r["logical_date"] == logical), None)
    if existing is None:
        run_id = f"drill__{night.isoformat()}"
        airflow(["dags", "trigger", dag_id, "-l", logical, "-r", run_id], env)
        return wait(dag_id, run_id, env, timeout)
    run_id = existing["run_id"]
    airflow(["tasks", "clear", dag_id, "-s", logical, "-e", logical, "-y"], env)
    # Until the scheduler picks the cleared run up, the CLI may still show the old outcome: wait for a new end.
    return wait(dag_id, run_id, env, timeout, stale_end=existing.get("end_date"))


def wait(
    dag_id: str,
    run_id: str,
    env: dict[str, str],
    timeout: int = RUN_TIMEOUT,
    stale_end: str | None = None,
    progress_every: float | None = None,
) -> str:
    """Poll the run until it ends; with `progress_every`, print a progress line that often (a retraining takes
    minutes, and a silent terminal looks hung)."""
    started = time.time()
    deadline = started + timeout
    last_said = started
    state = "not found"
    while time.time() < deadline:
        run = next((r for r in list_runs(dag_id, env) if r["run_id"] == run_id), None)
        state = run["state"] if run else "not found"
        if run and run["state"] in TERMINAL and (stale_end is None or run.get("end_date") != stale_end):
            return run["state"]
        if progress_every is not None and time.time() - last_said >= progress_every:
            last_said = time.time()
            print(progress_line(dag_id, run_id, state, last_said - started, timeout), flush=True)
        time.sleep(5)
    raise DrillError(
        f"{dag_id} run {run_id} did not finish within {timeout} s (still {state}): is the scheduler up and "
        "the dvc_repo pool free? `make status`, the run's log in the Airflow UI; --timeout waits longer"
    )


def progress_line(dag_id: str, run_id: str, state: str, elapsed: float, timeout: int) -> str:
    return f"  ... {dag_id} run {run_id}: {state} for {elapsed / 60:.1f} min (gives up after {timeout // 60} min)"


def first_night(params: Params, judged: set[dt.date], nights: int, today: dt.date) -> dt.date:
    """The first of `nights` consecutive nights after the seeded history that none was judged yet, all on or
    before `today`. A live stack judges today's night on schedule: the drill then uses the nights between the
    history and the live ones, and never a night Airflow would only run in the future."""
    day = dt.timedelta(days=1)
    start = dt.date.fromisoformat(str(params.simulate.history_start)) + params.simulate.history_days * day
    while clash := [n for n in judged if start <= n < start + nights * day]:
        start = max(clash) + day
    end = start + (nights - 1) * day
    if end > today:
        raise DrillError(
            f"{nights} drill night(s) from {start} would end on {end}, after today ({today}): Airflow runs no "
            "future night. Ask for fewer NIGHTS, or start from a fresh stack (`make clean && make run`)"
        )
    return start


def judged_nights(engine: sa.Engine) -> set[dt.date]:
    """The monitored nights that had data, read-only (empty before the first monitored night)."""
    from tabular_mlops.monitoring import decisions_log

    url = engine.url
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        return set()
    if not sa.inspect(engine).has_table(decisions_log.TABLE):
        return set()
    return {r.night for r in decisions_log.history(engine) if r.status is not Status.NO_DATA}


def _labels(result: NightResult | None, rate_name: str) -> str:
    """Matured-label ROC AUC and base rate, named as params.yaml `wording` says (labels arrive label_delay_days
    after their rows)."""
    if result is None:
        return "matured labels -"
    summary = result.summary
    auc, labels = summary.matured_roc_auc, summary.label_drift
    if auc is None and labels.matured_rate is None:
        return "matured labels none yet"
    rate = labels.matured_rate
    return (
        f"matured AUC {'-' if auc is None else round(auc, 3)}, {rate_name} "
        f"{'-' if rate is None else f'{rate:.2%}'}{' (label drift)' if labels.drifted else ''}"
    )


def _top_psi(result: NightResult | None) -> str:
    if result is None or result.summary.window is None:
        return "-"
    top = result.summary.window.top_psi(3)
    return ", ".join(f"{c.column} {c.psi:.3f}{'*' if c.drifted else ''}" for c in top)


def _rows(result: NightResult | None, record: NightRecord | None) -> str:
    """The window's rows (what the decision, the notes and the dashboards count) beside the night's own."""
    if result is not None:
        summary = result.summary
        return f"rows {summary.rows} in the window ({summary.night_rows} last night)"
    return "rows 0" if record is not None and record.status is Status.NO_DATA else "rows -"


def _champions(judged: str | None, after: str | None) -> str:
    """The champion that judged the night, and the one after its retraining (if any) was decided."""
    if judged is None or judged == after:
        return f"champion v{after}"
    return f"champion v{judged} -> v{after}"


def night_line(
    night: dt.date,
    states: dict[str, str],
    result: NightResult | None,
    record: NightRecord | None,
    gate: str,
    champion: str | None,
    rate_name: str = "positive rate",
) -> str:
    """One night: DAG states, rows, drift, matured labels, decision, retraining, gate, the champion that judged
    -> the champion after; then the decision's reasons in full, one a line (as the run note lists them)."""
    share = None if record is None else record.drift_share
    action = None if record is None else record.action
    judged = record.champion_version if record is not None else None
    retraining = "no"
    if record is not None and record.triggered_run_id:
        retraining = f"triggered: {states.get('retraining')}"
    line = (
        f"{night} | ingest {states.get('ingest')} | monitor {states.get('monitor')} | "
        f"{_rows(result, record)} | "
        f"drift share {share if share is None else round(share, 4)} | top PSI {_top_psi(result)} | "
        f"{_labels(result, rate_name)} | decision {None if action is None else action.value} | "
        f"retraining {retraining} | gate {gate} | {_champions(judged, champion)}"
    )
    reasons = record.reasons if record is not None else ()
    return "\n".join([line, *(f"    - {reason}" for reason in reasons)])


def gate_text(params: Params, triggered_run_id: str | None) -> str:
    """`v<version>: <gate decision>` of the retraining a night triggered, or what is known about it."""
    from tabular_mlops.monitoring.audit import retraining_outcome

    if not triggered_run_id:
        return "-"
    outcome = retraining_outcome(params.registry, triggered_run_id)
    return f"v{outcome.version}: {outcome.gate}" if outcome.version else str(outcome.gate)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", default="covariate_shift")
    parser.add_argument("--nights", type=int, default=5)
    parser.add_argument(
        "--rows", type=int, default=None, help="rows per night (default simulate.rows_per_day)"
    )
    parser.add_argument(
        "--timeout", type=int, default=RUN_TIMEOUT, help=f"seconds per DAG run (default {RUN_TIMEOUT})"
    )
    args = parser.parse_args()
    try:
        drill(args)
    except DrillError as exc:
        sys.exit(f"error: {exc}")


def drill(args: argparse.Namespace) -> None:
    """Inject the scenario, then run and report each night."""
    env = stack_env()
    os.environ.update(env)  # the package's MLflow and database calls below talk to the same stack

    import mlflow
    from tabular_mlops.model.scoring import champion_version
    from tabular_mlops.model.tracking import tracking_uri
    from tabular_mlops.monitoring import decisions_log
    from tabular_mlops.monitoring.night_record import read_result

    params = load_params(REPO / "params.yaml")
    mlflow.set_tracking_uri(tracking_uri(REPO))
    monitoring_db = sa.create_engine(connection_url(env, MONITORING_CONN_ID))
    start = first_night(params, judged_nights(monitoring_db), args.nights, dt.date.today())
    simulate = [
        str(VENV_BIN / "python"),
        "-m",
        "tabular_mlops",
        "simulate",
        "--db-url",
        connection_url(env, SOURCE_CONN_ID),
        "--conn-id",
        SOURCE_CONN_ID,
        "--start",
        start.isoformat(),
        "--days",
        str(args.nights),
        "--scenario",
        args.scenario,
        "--scenario-start",
        start.isoformat(),
    ]
    if args.rows:
        simulate += ["--rows", str(args.rows)]
    run(simulate, env)
    print(f"drill: scenario {args.scenario} injected from {start} for {args.nights} night(s)")
    for i in range(args.nights):
        night = start + dt.timedelta(days=i)
        states = {
            "ingest": trigger_and_wait(INGEST_DAG_ID, night, env, args.timeout),
            "monitor": trigger_and_wait(MONITOR_DAG_ID, night, env, args.timeout),
        }
        record = decisions_log.night_record(monitoring_db, night)
        triggered = record.triggered_run_id if record else None
        if triggered:
            print(
                f"{night}: waiting for the retraining it triggered ({TRAIN_DAG_ID} run {triggered})",
                flush=True,
            )
            states["retraining"] = wait(
                TRAIN_DAG_ID, triggered, env, max(args.timeout, 3600), progress_every=PROGRESS_EVERY
            )
        print(
            night_line(
                night,
                states,
                read_result(REPO, params.paths, night),
                record,
                gate_text(params, triggered),
                champion_version(params.registry.model_name),
                params.wording.rate_text(params.schema.target_column),
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
