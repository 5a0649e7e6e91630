"""Monitoring over your own table when its days are past (MLOPS_SOURCE_URL, a table that ends before yesterday).

The schedule monitors the nights to come, and a table that ended in 2023 has none: monitor_nightly would score
empty nights for ever and never decide. After the first champion, `make run` therefore runs monitor_nightly
through the scheduler over the table's last `monitor.window_days + schema.label_delay_days` days, one night after
the other (night D scores the rows of D and joins the labels of D - label delay), so the last night's window
holds scored rows and, label delay days back, matured labels: it decides. Nights already monitored are skipped.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from urllib.parse import quote

from tabular_mlops.core.contracts import MONITOR_DAG_ID
from tabular_mlops.stack.airflow_api import TERMINAL, AirflowAPI, parse_ts
from tabular_mlops.stack.console import fmt_duration, say
from tabular_mlops.stack.diagnose import explain_run
from tabular_mlops.stack.layout import Layout
from tabular_mlops.stack.own_table import SourceTable
from tabular_mlops.stack.stack_error import StackError
from tabular_mlops.stack.waiting import NotYet, poll_until

if TYPE_CHECKING:
    from tabular_mlops.core.config import Params

NIGHT_TIMEOUT = 1800
RUN_ID_PREFIX = "past_night__"


def past_nights(source: SourceTable, params: Params, today: dt.date) -> list[dt.date]:
    """The nights to monitor on a table that ended before yesterday (none on a table that is still written):
    its last window_days + label_delay_days days, none before its first day or dags.start_date."""
    if source.last_day >= today - dt.timedelta(days=1):
        return []
    span = params.monitor.window_days + params.schema.label_delay_days
    first = max(
        source.last_day - dt.timedelta(days=span - 1),
        source.first_day,
        dt.date.fromisoformat(str(params.dags.start_date)),
    )
    return [first + dt.timedelta(days=i) for i in range((source.last_day - first).days + 1)]


def _monitored(api: AirflowAPI) -> set[dt.date]:
    """Nights with a successful monitor_nightly run (any run type)."""
    done = set()
    for run in api.dag_runs(MONITOR_DAG_ID):
        logical = parse_ts(run.get("logical_date"))
        if logical is not None and run.get("state") == "success":
            done.add(logical.date())
    return done


def _headline(note: str | None) -> str:
    """The note's first line without Markdown emphasis (the decision and its night)."""
    line = next((ln for ln in (note or "").splitlines() if ln.strip()), "no note")
    return line.replace("**", "").strip()


def _run_night(layout: Layout, api: AirflowAPI, night: dt.date) -> dict:
    run_id = f"{RUN_ID_PREFIX}{night.isoformat()}"
    body = {
        "dag_run_id": run_id,
        "logical_date": f"{night.isoformat()}T00:00:00+00:00",
        "conf": {},
        "note": f"triggered by `make run`: night {night} of your table, whose days are past",
    }
    existing = {r["dag_run_id"] for r in api.dag_runs(MONITOR_DAG_ID)}
    if run_id in existing:  # a failed or stopped earlier attempt: clear it, the scheduler runs it again
        api.call("POST", f"/dags/{MONITOR_DAG_ID}/dagRuns/{quote(run_id, safe='')}/clear", {"dry_run": False})
    else:
        api.trigger(MONITOR_DAG_ID, body)

    def ended() -> dict:
        run = api.dag_run(MONITOR_DAG_ID, run_id)
        if run["state"] not in TERMINAL:
            raise NotYet(f"{MONITOR_DAG_ID} run {run_id} is {run['state']}")
        return run

    run = poll_until(
        ended,
        what=f"{MONITOR_DAG_ID} run {run_id}",
        timeout=NIGHT_TIMEOUT,
        interval=5,
        log=layout.logs / "airflow.log",
    )
    if run["state"] != "success":
        raise StackError(
            f"{MONITOR_DAG_ID} run {run_id} {run['state']}:\n"
            f"{explain_run(api, layout.airflow_home, MONITOR_DAG_ID, run_id)}"
        )
    return run


def monitor_past_nights(layout: Layout, api: AirflowAPI, params: Params, source: SourceTable | None) -> None:
    """Run monitor_nightly over the past nights of your table, in order, saying what each decided."""
    if source is None:
        return
    nights = past_nights(source, params, dt.date.today())
    if not nights:
        say(f"    your table's last day is {source.last_day}: the schedule monitors each night to come")
        return
    todo = [n for n in nights if n not in _monitored(api)]
    say(
        f"    your table ends on {source.last_day}: no night to come to monitor, so monitor_nightly runs over its "
        f"last {len(nights)} days {nights[0]}..{nights[-1]} (monitor.window_days {params.monitor.window_days} + "
        f"label_delay_days {params.schema.label_delay_days}); {len(nights) - len(todo)} already monitored"
    )
    for night in todo:
        started = dt.datetime.now()
        run = _run_night(layout, api, night)
        elapsed = fmt_duration((dt.datetime.now() - started).total_seconds())
        say(f"    [{elapsed:>7}] {night}: {_headline(run.get('note'))}")
