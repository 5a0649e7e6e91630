"""Bootstrap steps after (or before) the processes run: params, seed, DAGs loaded, first training, monitoring.

Each step is idempotent: a second `up` skips what is done (seeding replaces the same days with the same rows).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

from tabular_mlops.core.contracts import (
    DEPLOY_DAG_ID,
    INGEST_DAG_ID,
    MONITOR_DAG_ID,
    SIMULATE_DAG_ID,
    SOURCE_URL_ENV,
    TRAIN_DAG_ID,
)
from tabular_mlops.stack import backfill, commands, own_table
from tabular_mlops.stack.airflow_api import ACTIVE, TERMINAL, AirflowAPI
from tabular_mlops.stack.console import fmt_duration, say
from tabular_mlops.stack.diagnose import explain_run
from tabular_mlops.stack.layout import Layout
from tabular_mlops.stack.overview import champion
from tabular_mlops.stack.own_table import SourceTable
from tabular_mlops.stack.stack_error import StackError
from tabular_mlops.stack.waiting import NotYet, poll_until

if TYPE_CHECKING:
    from tabular_mlops.core.config import Params

TRAIN_REASON = "initial training after backfill"
DAG_PARSE_TIMEOUT = 300
TRAIN_TIMEOUT = 90 * 60


def load_params(layout: Layout) -> Params:
    from tabular_mlops.core.config import load_params as load

    try:
        return load(layout.repo / "params.yaml")
    except ValueError as exc:  # ConfigError and validation errors name the file and the key
        raise StackError(str(exc)) from exc


def seed_source(layout: Layout) -> str:
    """The simulated history of params.yaml into var/source.db (a day is replaced, never duplicated); returns
    what was written (`up` seeds while Airflow starts and prints it afterwards)."""
    url = f"sqlite:///{layout.source_db}"
    proc = commands.project_cli(
        layout, "simulate", "--db-url", url, what="seeding the source database", timeout=1800
    )
    try:
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        return (
            f"    {info['rows']} rows, {info['days']} days {info['first_day']}..{info['last_day']} "
            f"(scenario {info['scenario']}) in {layout.source_db}"
        )
    except (ValueError, IndexError, KeyError):
        return f"    {proc.stdout.strip()[-300:]}"


def seed_live_days(layout: Layout, params: Params, today: dt.date) -> str | None:
    """With `simulate.live_source`, the days tonight's runs read (today - label delay .. tomorrow) exist from the
    start; the simulate_source DAG writes each next day from then on. Returns what was written."""
    if not params.simulate.live_source:
        return None
    start = today - dt.timedelta(days=params.schema.label_delay_days)
    days = params.schema.label_delay_days + 2
    url = f"sqlite:///{layout.source_db}"
    commands.project_cli(
        layout,
        "simulate",
        "--db-url",
        url,
        "--start",
        start.isoformat(),
        "--days",
        str(days),
        "--scenario",
        "stable",
        what="seeding the live days of the source database",
        timeout=1800,
    )
    return f"    live days {start}..{start + dt.timedelta(days=days - 1)} (simulate.live_source)"


def check_source(layout: Layout, params: Params) -> SourceTable | None:
    """Before any server starts: your table (MLOPS_SOURCE_URL) against params.yaml's schema, or the simulator's
    example schema against it. Every mismatch is named in one line (a StackError)."""
    if layout.source_url:
        return own_table.inspect_source(layout.source_url, params.schema)
    from tabular_mlops.data.simulate import check_example_schema

    try:
        check_example_schema(params.schema)
    except ValueError as exc:
        raise StackError(f"{exc} (set {SOURCE_URL_ENV} to its SQLAlchemy URL)") from exc
    return None


def seed(layout: Layout, params: Params, today: dt.date, source: SourceTable | None = None) -> list[str]:
    """The history and, with a live source, tonight's days; the lines to print. Your own table is never
    written: nothing to seed."""
    if source is not None:
        return [f"    {source.describe()} at {own_table.safe_url(source.url)}"]
    lines = [seed_source(layout), seed_live_days(layout, params, today)]
    return [line for line in lines if line]


def ensure_live_source(layout: Layout, api: AirflowAPI, params: Params) -> None:
    """Unpause simulate_source when params.yaml asks for a live simulated source; never on your own table (it
    would write simulated rows into it)."""
    dag = api.dag(SIMULATE_DAG_ID)
    if layout.source_url:
        if params.simulate.live_source:
            say(f"    {SIMULATE_DAG_ID} stays paused: {SOURCE_URL_ENV} is set (simulate.live_source ignored)")
        return
    if params.simulate.live_source and dag is not None and dag.get("is_paused"):
        api.set_paused(SIMULATE_DAG_ID, False)
        say(f"    unpaused {SIMULATE_DAG_ID}: each night writes the next day's simulated applications")


def wait_for_dags(layout: Layout, api: AirflowAPI) -> None:
    """Until the DAG processor has loaded the DAGs; import errors end the wait after 30 s with their traces."""
    started = dt.datetime.now()

    def loaded() -> None:
        missing = [d for d in (INGEST_DAG_ID, TRAIN_DAG_ID) if api.dag(d) is None]
        if not missing:
            return
        errors = api.import_errors()
        if errors and (dt.datetime.now() - started).total_seconds() > 30:
            text = "\n".join(f"  {e.get('filename')}:\n{e.get('stack_trace', '')[-1500:]}" for e in errors)
            raise StackError(
                f"DAGs {missing} did not appear in Airflow; the DAG processor reports import errors:\n{text}",
                layout.logs / "airflow.log",
            )
        raise NotYet(f"DAGs {missing} not loaded yet")

    poll_until(
        loaded, what="DAGs in Airflow", timeout=DAG_PARSE_TIMEOUT, interval=3, log=layout.logs / "airflow.log"
    )


def wait_run(layout: Layout, api: AirflowAPI, dag_id: str, run_id: str, timeout: float) -> None:
    """Print each change of the run's task states until it ends; raise with the failed tasks' logs."""
    started = dt.datetime.now()
    last: list[str] = [""]

    def ended() -> str:
        state = api.dag_run(dag_id, run_id)["state"]
        tis = {ti["task_id"]: ti.get("state") or "none" for ti in api.task_instances(dag_id, run_id)}
        line = ", ".join(f"{t}={s}" for t, s in tis.items()) or state
        if line != last[0]:
            say(f"    [{fmt_duration((dt.datetime.now() - started).total_seconds()):>7}] {state}: {line}")
            last[0] = line
        if state not in TERMINAL:
            raise NotYet(f"{dag_id} run {run_id} is {state}")
        return state

    state = poll_until(
        ended, what=f"{dag_id} run {run_id}", timeout=timeout, interval=5, log=layout.logs / "airflow.log"
    )
    if state != "success":
        raise StackError(
            f"{dag_id} run {run_id} {state}:\n{explain_run(api, layout.airflow_home, dag_id, run_id)}"
        )


def initial_training_run(api: AirflowAPI) -> dict | None:
    ours = [
        r
        for r in api.dag_runs(TRAIN_DAG_ID)
        if r.get("run_type") == "manual" and (r.get("conf") or {}).get("reason") == TRAIN_REASON
    ]
    return max(ours, key=lambda r: r.get("run_after") or "", default=None)


def ensure_training(layout: Layout, api: AirflowAPI, params: Params) -> None:
    """Trigger the first training (once) after the backfill and wait for it."""
    existing = initial_training_run(api)
    if existing is not None and existing["state"] == "success":
        say(f"    {existing['dag_run_id']} already succeeded: not triggering again")
        return
    if existing is not None and existing["state"] in ACTIVE:
        run_id = existing["dag_run_id"]
        say(f"    {run_id} is {existing['state']}: waiting for it")
    else:
        paused = (api.dag(TRAIN_DAG_ID) or {}).get("is_paused")
        # While train_model is paused the run stays queued. Unpausing also makes the scheduler create today's
        # scheduled run (catchup=False); queued runs start in run_after order and the DAG allows one active run,
        # so this run's run_after is the end of the history: it trains first and the scheduled run afterwards
        # finds nothing new (dvc repro reuses the cache; the version is already champion).
        end = backfill.window(layout, params)[1]
        run_after = dt.datetime.combine(end, dt.time(3, 0), tzinfo=dt.UTC)
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        body = {
            "dag_run_id": f"manual__{now.isoformat()}",
            "logical_date": None,
            "run_after": run_after.isoformat(),
            "conf": {"reason": TRAIN_REASON},
            "note": "triggered by `make run` (tabular_mlops.stack up) after the ingestion backfill",
        }
        run_id = api.trigger(TRAIN_DAG_ID, body)["dag_run_id"]
        say(f"    triggered {TRAIN_DAG_ID} run {run_id} with conf {json.dumps(body['conf'])}")
        if paused:
            api.set_paused(TRAIN_DAG_ID, False)
            say(f"    unpaused {TRAIN_DAG_ID} (03:00 daily, catchup=False)")
    wait_run(layout, api, TRAIN_DAG_ID, run_id, TRAIN_TIMEOUT)


def ensure_monitoring(layout: Layout, api: AirflowAPI) -> None:
    """monitor_nightly scores each night with the champion: unpause it once there is one (make drill needs it)."""
    dag = api.dag(MONITOR_DAG_ID)
    if dag is None or not dag.get("is_paused"):
        return
    info = champion(layout)
    if not info or info.get("champion") is None:
        say(f"    {MONITOR_DAG_ID} stays paused: no champion to score with yet")
        return
    api.set_paused(MONITOR_DAG_ID, False)
    say(f"    unpaused {MONITOR_DAG_ID} (@daily, catchup=False): it scores each night with the champion")


def ensure_deploy(api: AirflowAPI, params: Params) -> None:
    """deploy_model rolls out what the gate hands over with `deploy.require_proof: true`: unpause it then (a
    paused DAG would leave the challenger in its first stage for ever). Without it the DAG stays paused: the gate
    promotes by itself, and a rollout started by hand needs `airflow dags unpause deploy_model` first."""
    dag = api.dag(DEPLOY_DAG_ID)
    if dag is None or not dag.get("is_paused"):
        return
    if not params.deploy.require_proof:
        say(f"    {DEPLOY_DAG_ID} stays paused: deploy.require_proof is false (the gate promotes by itself)")
        return
    api.set_paused(DEPLOY_DAG_ID, False)
    say(f"    unpaused {DEPLOY_DAG_ID} (04:00 daily): deploy.require_proof hands accepted challengers to it")
