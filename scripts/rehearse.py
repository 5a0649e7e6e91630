"""Rehearse deploy_model on the local stack (issue 25): night by night, replay the night's applications through
the real scoring service (`tabular-mlops traffic`), run ingest and monitor_nightly (and the retraining it
triggers) through the scheduler, then deploy_model, and print each step's verdict and figures until the
rollout ends: promoted (the `champion` alias moved by deploy_model) or rolled back (with its reasons).

    MLOPS_PARAMS_OVERRIDE=deploy/rehearsal/params.override.yaml make run   # require_proof, a 3-day label delay
    make rehearse OUTCOME=promote    # covariate_harmful: the retrained challenger learns what the champion cannot
    make rehearse OUTCOME=rollback   # then: the superseded champion proposed again, truly worse in that world

Two things differ from production, and the rehearsal says so as it starts: the label delay is the override's
(labels of a night's applications mature that many nights later), and the service's answers are dated to the
simulated night they belong to (the service dates its log rows by its clock, today; a simulated night is in the
past). Everything else is the product: the gate, the service's strategies, the nightly paired comparison, the
sequential test, the canary guard and deploy_model's steps.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from typing import Any

import sqlalchemy as sa
from drill import (
    REPO,
    VENV_BIN,
    DrillError,
    connection_url,
    first_night,
    gate_text,
    judged_nights,
    night_line,
    run,
    stack_env,
)
from tabular_mlops.core.config import Params, load_params
from tabular_mlops.core.contracts import (
    CHALLENGER,
    CHAMPION,
    DEPLOY_DAG_ID,
    INGEST_DAG_ID,
    MONITOR_DAG_ID,
    MONITORING_CONN_ID,
    PARAMS_OVERRIDE_ENV,
    PREVIOUS_CHAMPION,
    SHADOW_SOURCE,
    SOURCE_CONN_ID,
    TRAIN_DAG_ID,
    LogSource,
    RolloutStage,
    Tag,
)

TERMINAL = {"success", "failed"}
ENDED = (RolloutStage.FULL, RolloutStage.ROLLED_BACK)
RUN_TIMEOUT = 1200
TRAIN_TIMEOUT = 3600
# The service flushes its log every serving.log_flush_seconds and scores shadow rows every shadow.batch_ms.
LOG_SETTLE_SECONDS = 3.0


def say(line: str = "") -> None:
    print(line, flush=True)


class Airflow:
    """The stack's Airflow through its REST API (one login; no CLI process per poll)."""

    def __init__(self) -> None:
        from tabular_mlops.stack.layout import Layout
        from tabular_mlops.stack.programs import airflow_api

        self.api = airflow_api(Layout.from_env(REPO))

    def run_night(
        self, dag_id: str, night: dt.date, conf: dict | None = None, timeout: int = RUN_TIMEOUT
    ) -> str:
        """Trigger the night's run (a successful one is kept, a failed one cleared and re-run) and wait."""
        logical = f"{night.isoformat()}T00:00:00+00:00"
        existing = [
            r for r in self.api.dag_runs(dag_id) if (r.get("logical_date") or "").startswith(str(night))
        ]
        if existing and existing[-1]["state"] == "success":
            return "success (earlier run)"
        if existing:
            run_id = existing[-1]["dag_run_id"]
            body = {"dag_run_id": run_id, "dry_run": False, "only_failed": False, "reset_dag_runs": True}
            self.api.call("POST", f"/dags/{dag_id}/clearTaskInstances", body)
        else:
            run_id = f"rehearse__{night.isoformat()}"
            body = {"dag_run_id": run_id, "logical_date": logical, "conf": conf or {}}
            self.api.trigger(dag_id, body)
        return self.wait(dag_id, run_id, timeout)

    def wait(self, dag_id: str, run_id: str, timeout: int, progress_every: float | None = None) -> str:
        started = last = time.time()
        while time.time() - started < timeout:
            state = self.api.dag_run(dag_id, run_id)["state"]
            if state in TERMINAL:
                return state
            if progress_every and time.time() - last >= progress_every:
                last = time.time()
                say(f"    ... {dag_id} {run_id}: {state} for {(last - started) / 60:.1f} min")
            time.sleep(3)
        raise DrillError(
            f"{dag_id} run {run_id} did not end within {timeout} s (`make status`, its log in the UI)"
        )


def traffic(
    params: Params, env: dict[str, str], night: dt.date, scenario: str, rate: float
) -> dict[str, Any]:
    """The night's applications (the simulator's rows of that day: the source's ids and features) through the
    service, each once, as `make traffic` sends them."""
    cmd = [str(VENV_BIN / "tabular-mlops"), "traffic", "--url", env["MLOPS_SERVING_URL"], "--rate", str(rate),
           "--requests", str(params.simulate.rows_per_day), "--resubmit-share", "0", "--day", night.isoformat(),
           "--scenario", scenario, "--seed", str(params.simulate.seed)]  # fmt: skip
    return dict(json.loads(run(cmd, env)))


def date_answers(
    engine: sa.Engine, params: Params, night: dt.date, since: dt.datetime, scenario: str
) -> dict:
    """Date the service's answers logged since `since` (by its clock) at their applications' own times on the
    simulated night, so the night's comparison, canary guard and label join find them. Returns rows per source
    logged on the night (besides the batch's)."""
    from tabular_mlops.data.simulate import generate_day
    from tabular_mlops.store import prediction_log

    schema = params.schema
    table = prediction_log.ensure_table(engine, schema)
    ts, ids = table.c[schema.timestamp_column], table.c[schema.id_column]
    # Two comparisons, not IN: SQLAlchemy expands an IN list per statement, which executemany cannot.
    answers = sa.or_(table.c.source == LogSource.ONLINE, table.c.source == SHADOW_SOURCE)
    day = generate_day(night, params.simulate.rows_per_day, params.simulate.seed, scenario)
    stmt = (
        table.update()
        .where(ids == sa.bindparam("_id"), ts >= since, answers)
        .values({schema.timestamp_column: sa.bindparam("_at")})
    )
    values = [
        {"_id": str(i), "_at": at.to_pydatetime()}
        for i, at in zip(day[schema.id_column], day[schema.timestamp_column], strict=True)
    ]
    first = dt.datetime.combine(night, dt.time())
    count = sa.select(table.c.source, sa.func.count()).where(ts >= first, ts < first + dt.timedelta(days=1))
    with engine.begin() as conn:
        conn.execute(stmt, values)
        return dict(conn.execute(count.where(answers).group_by(table.c.source)).all())  # type: ignore[arg-type]


def _alias(client: Any, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except Exception:  # noqa: BLE001 - no such alias
        return None


def step_of(client: Any, name: str, night: dt.date) -> tuple[str, dict[str, str]] | None:
    """The version deploy_model stepped on `night` and its tags, or None."""
    for mv in client.search_model_versions(f"name='{name}'"):
        # A version handed over mid-rollout closes the earlier one with a step of the same night: not its step.
        superseded = mv.tags.get(Tag.ROLLOUT_STAGE) == RolloutStage.SUPERSEDED
        if f"{Tag.ROLLOUT_STEP_PREFIX}{night}" in mv.tags and not superseded:
            return str(mv.version), dict(mv.tags)
    return None


def shadow_line(params: Params, night: dt.date) -> str | None:
    from tabular_mlops.monitoring.night_record import read_result

    result = read_result(REPO, params.paths, night)
    shadow = None if result is None else result.shadow
    if shadow is None:
        return None
    parts = [f"v{shadow.challenger_version} beside v{shadow.champion_version}"]
    if shadow.recent is not None:
        r = shadow.recent
        agree = "-" if r.decision_agreement is None else f"{r.decision_agreement:.1%}"
        psi = "-" if r.score_psi is None else f"{r.score_psi:.4f}"
        corr = "-" if r.score_correlation is None else f"{r.score_correlation:.3f}"
        parts.append(
            f"window {r.rows} pairs, correlation {corr}, decision agreement {agree}, score PSI {psi}"
        )
    if shadow.matured is not None:
        m = shadow.matured
        diffs = ", ".join(
            f"{d.metric} {d.difference:+.4f} [{d.ci_low:+.4f}, {d.ci_high:+.4f}]"
            for d in m.differences
            if d.difference is not None and d.ci_low is not None and d.ci_high is not None
        )
        parts.append(f"matured {m.labelled_rows} labelled pairs: {diffs}")
    if shadow.test is not None:
        t = shadow.test
        parts.append(
            f"test {t.verdict} after {t.looks} looks, {t.samples} samples: {t.reasons[0] if t.reasons else ''}"
        )
    else:
        parts.append("; ".join(shadow.reasons))
    return "\n      ".join(parts)


def service_state(env: dict[str, str], serving: Any) -> dict[str, Any]:
    from tabular_mlops.serving.strategy_client import StrategyClient

    os.environ.update(env)
    return StrategyClient.from_environ(serving).state()


def final_report(
    params: Params, env: dict[str, str], client: Any, version: str, nights: list[dt.date]
) -> None:
    name = params.registry.model_name
    mv = client.get_model_version(name, version)
    say("\n== the end of the rollout ==")
    say(f"aliases: {CHAMPION} v{_alias(client, name, CHAMPION)}, {CHALLENGER} v{_alias(client, name, CHALLENGER)}, "
        f"{PREVIOUS_CHAMPION} v{_alias(client, name, PREVIOUS_CHAMPION)}")  # fmt: skip
    say(f"v{version} tags:")
    for key in sorted(mv.tags):
        if key == Tag.GATE_DECISION or key.startswith(("rollout.", "deploy.")):
            say(f"  {key} = {mv.tags[key][:600]}")
    state = service_state(env, params.serving)
    say(f"service: strategy {state.get('strategy')} since {state.get('since')} by {state.get('actor')}")
    say(f"\n`tabular-mlops why --night {nights[-1]}`:")
    db = connection_url(env, MONITORING_CONN_ID)
    say(run([str(VENV_BIN / "tabular-mlops"), "why", "--db-url", db, "--night", nights[-1].isoformat()], env))


def rehearse(args: argparse.Namespace) -> int:
    env = stack_env()
    os.environ.update(env)  # MLflow, the databases and the override, as the stack's processes have them
    import mlflow
    from mlflow import MlflowClient
    from tabular_mlops.data.simulate import scenario_for
    from tabular_mlops.model.tracking import tracking_uri
    from tabular_mlops.monitoring import decisions_log

    params = load_params(REPO / "params.yaml")
    committed = load_params_without_override()
    if not params.deploy.require_proof:
        raise DrillError(
            "deploy.require_proof is false on this stack: start it with "
            f"`{PARAMS_OVERRIDE_ENV}=deploy/rehearsal/params.override.yaml make run` (a fresh stack: `make clean`)"
        )
    delay = params.schema.label_delay_days
    say("=" * 100)
    say(f"REHEARSAL ({args.outcome}) with {params.source_file}")
    if delay != committed.schema.label_delay_days:
        say(f"  LABEL DELAY {delay} DAYS (params.yaml: {committed.schema.label_delay_days}): labels of a night's "
            f"applications mature {delay} nights later, so the paired test can judge within the rehearsal")  # fmt: skip
    say(
        "  the service's answers are dated to the simulated night they belong to (it logs by its clock, today)"
    )
    say("=" * 100)
    mlflow.set_tracking_uri(tracking_uri(REPO))
    client = MlflowClient()
    name = params.registry.model_name
    monitoring_db = sa.create_engine(connection_url(env, MONITORING_CONN_ID), connect_args={"timeout": 60})
    version = None
    if args.outcome == "rollback":
        version = args.version or _alias(client, name, PREVIOUS_CHAMPION)
        if version is None:
            raise DrillError(
                f"no {PREVIOUS_CHAMPION} alias: run `make rehearse OUTCOME=promote` first (or CHALLENGER=<version>)"
            )
        origin = "given" if args.version else f"the champion before v{_alias(client, name, CHAMPION)}"
        say(f"the worse challenger: v{version} ({origin}), started by hand: deploy_model's `version` Param")
    start = first_night(params, judged_nights(monitoring_db), args.max_nights, dt.date.today())
    run([str(VENV_BIN / "python"), "-m", "tabular_mlops", "simulate", "--db-url", connection_url(env, SOURCE_CONN_ID),
         "--conn-id", SOURCE_CONN_ID, "--start", start.isoformat(), "--days", str(args.max_nights),
         "--scenario", args.scenario, "--scenario-start", start.isoformat()], env)  # fmt: skip
    say(f"scenario {args.scenario} injected from {start} for up to {args.max_nights} nights\n")
    airflow = Airflow()
    nights: list[dt.date] = []
    for i in range(args.max_nights):
        night = start + dt.timedelta(days=i)
        nights.append(night)
        t_night = time.time()
        scenario = scenario_for(night, args.scenario, start)
        say(f"== night {night} ({scenario}) ==")
        strategy = service_state(env, params.serving).get("strategy")
        since = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=1)
        sent = traffic(params, env, night, scenario, args.rate)
        time.sleep(LOG_SETTLE_SECONDS)
        dated = date_answers(monitoring_db, params, night, since, scenario)
        lat = sent.get("latency_ms", {})
        say(f"  traffic ({strategy}): {sent['requests']} requests at {sent['achieved_rate']}/s, statuses "
            f"{sent['statuses']}, answered by {sent['by_model_version']}, p50 {lat.get('p50')} ms p99 "
            f"{lat.get('p99')} ms; logged on the night: {dated}")  # fmt: skip
        states = {
            "ingest": airflow.run_night(INGEST_DAG_ID, night),
            "monitor": airflow.run_night(MONITOR_DAG_ID, night),
        }
        record = decisions_log.night_record(monitoring_db, night)
        triggered = record.triggered_run_id if record else None
        if triggered:
            say(f"  {night}: waiting for the retraining it triggered ({TRAIN_DAG_ID} {triggered})")
            states["retraining"] = airflow.wait(TRAIN_DAG_ID, triggered, TRAIN_TIMEOUT, progress_every=60)
        from tabular_mlops.model.scoring import champion_version
        from tabular_mlops.monitoring.night_record import read_result

        line = night_line(night, states, read_result(REPO, params.paths, night), record,
                          gate_text(params, triggered), champion_version(name),
                          params.wording.rate_text(params.schema.target_column))  # fmt: skip
        say("  " + line.replace("\n", "\n  "))
        shadow = shadow_line(params, night)
        if shadow:
            say(f"  shadow: {shadow}")
        conf = {"version": version} if version else None
        deployed = airflow.run_night(DEPLOY_DAG_ID, night, conf)
        stepped = step_of(client, name, night)
        after = service_state(env, params.serving).get("strategy")
        if stepped is None:
            say(f"  deploy_model {deployed}: nothing stepped (no challenger handed over); service: {after}")
        else:
            v, tags = stepped
            say(f"  deploy_model {deployed}: v{v} -> stage {tags.get(Tag.ROLLOUT_STAGE)}; service: {after}")
            say(f"    {tags[f'{Tag.ROLLOUT_STEP_PREFIX}{night}']}")
        say(f"  (night took {time.time() - t_night:.0f} s; load average {os.getloadavg()[0]:.1f})")
        if stepped is not None and stepped[1].get(Tag.ROLLOUT_STAGE) in ENDED:
            final_report(params, env, client, stepped[0], nights)
            return 0
        if deployed != "success" and not deployed.startswith("success"):
            say(
                f"  deploy_model {deployed}: its log in the Airflow UI; the rehearsal goes on to the next night"
            )
    say(f"\nno rollout ended within {args.max_nights} nights")
    return 1


def load_params_without_override() -> Params:
    saved = os.environ.pop(PARAMS_OVERRIDE_ENV, None)
    try:
        return load_params(REPO / "params.yaml")
    finally:
        if saved is not None:
            os.environ[PARAMS_OVERRIDE_ENV] = saved


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--outcome", choices=("promote", "rollback"), default="promote")
    parser.add_argument(
        "--scenario",
        default="covariate_harmful",
        help="the drill injected from the first night (make rehearse DRILL=...): covariate_harmful's applicants "
        "beyond the champion's training range are what a retrained challenger can truly do better on",
    )
    parser.add_argument("--max-nights", type=int, default=20)
    parser.add_argument(
        "--rate", type=float, default=100.0, help="requests per second of the night's traffic"
    )
    parser.add_argument(
        "--version", default=None, help="rollback: the version to propose (default: previous_champion)"
    )
    args = parser.parse_args()
    try:
        sys.exit(rehearse(args))
    except DrillError as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
