"""Fire drill against the local stack of `make run`: inject a simulator scenario into the source database from
the next night on, run the nightly DAGs night by night through the real scheduler, and print one line per night.

    make drill SCENARIO=covariate_shift NIGHTS=5
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tabular_mlops.orchestration import INGEST_DAG_ID, MONITOR_DAG_ID, TRAIN_DAG_ID

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = REPO / ".venv" / "bin"
STACK_ENV = REPO / "var" / "stack.env"
MONITOR_DB = REPO / "var" / "monitoring.db"
TERMINAL = {"success", "failed"}


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


def run(cmd: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        sys.exit(f"error: {' '.join(cmd[:4])} failed: {(proc.stderr or proc.stdout)[-1500:]}")
    return proc.stdout


def airflow(args: list[str], env: dict[str, str]) -> str:
    return run([str(VENV_BIN / "airflow"), *args], env)


def list_runs(dag_id: str, env: dict[str, str]) -> list[dict]:
    out = airflow(["dags", "list-runs", dag_id, "-o", "json"], env)
    # The CLI may print warnings before the JSON document.
    doc = next((ln for ln in out.splitlines() if ln.startswith("[{") or ln.strip() == "[]"), "[]")
    return json.loads(doc)


def trigger_and_wait(dag_id: str, night: dt.date, env: dict[str, str], timeout: int = 1800) -> str:
    """Trigger the night; a night that already has a run (one per logical date) is cleared and re-run."""
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
    dag_id: str, run_id: str, env: dict[str, str], timeout: int = 1800, stale_end: str | None = None
) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        run = next((r for r in list_runs(dag_id, env) if r["run_id"] == run_id), None)
        if run and run["state"] in TERMINAL and (stale_end is None or run.get("end_date") != stale_end):
            return run["state"]
        time.sleep(5)
    sys.exit(
        f"error: {dag_id} run {run_id} did not finish within {timeout} s (is the scheduler up? make status)"
    )


def next_night() -> dt.date:
    """The night after the last one monitored, or after the seeded history."""
    sys.path.insert(0, str(REPO / "include"))
    from tabular_mlops.config import load_params

    params = load_params(REPO / "params.yaml")
    last = dt.date.fromisoformat(params.simulate.history_start) + dt.timedelta(
        days=params.simulate.history_days
    )
    if MONITOR_DB.exists():
        with sqlite3.connect(MONITOR_DB) as conn:
            # Nights with no data (e.g. today's scheduled run, past the simulated history) do not count.
            row = conn.execute(
                "SELECT max(night) FROM monitoring_decisions WHERE status != 'no_data'"
            ).fetchone()
        if row and row[0]:
            last = max(last, dt.date.fromisoformat(row[0]) + dt.timedelta(days=1))
    return last


def decision(night: dt.date) -> dict:
    with sqlite3.connect(MONITOR_DB) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute(
            "SELECT * FROM monitoring_decisions WHERE night = ?", (night.isoformat(),)
        ).fetchone()
    return dict(row) if row else {}


def champion_and_gate(run_id: str | None, env: dict[str, str]) -> tuple[str, str]:
    code = (
        "import json,sys\nfrom mlflow import MlflowClient\nc=MlflowClient()\n"
        "name='credit_default'\n"
        "champ=c.get_model_version_by_alias(name,'champion').version\n"
        f"rid={run_id!r}\nout='-'\n"
        "if rid:\n"
        "  runs=c.search_runs([c.get_experiment_by_name('credit_default_training').experiment_id],"
        "f\"tags.airflow_run_id = '{rid}'\")\n"
        "  for r in runs:\n"
        "    for v in c.search_model_versions(f\"name='{name}' and run_id='{r.info.run_id}'\"):\n"
        "      out=f\"v{v.version}: {v.tags.get('gate.decision','?')}\"\n"
        "print(json.dumps([str(champ), out]))\n"
    )
    champion, gate = json.loads(run([str(VENV_BIN / "python"), "-c", code], env).strip().splitlines()[-1])
    return champion, gate


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", default="covariate_shift")
    parser.add_argument("--nights", type=int, default=5)
    parser.add_argument(
        "--rows", type=int, default=None, help="rows per night (default simulate.rows_per_day)"
    )
    args = parser.parse_args()
    env = stack_env()
    start = next_night()
    source_db = json.loads(env["AIRFLOW_CONN_SOURCE_DB"])["host"]
    simulate = [
        str(VENV_BIN / "python"),
        "-m",
        "tabular_mlops",
        "simulate",
        "--db-url",
        f"sqlite:///{source_db}",
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
        ingest = trigger_and_wait(INGEST_DAG_ID, night, env)
        monitor = trigger_and_wait(MONITOR_DAG_ID, night, env)
        d = decision(night)
        retrain_state, gate = None, "-"
        if d.get("triggered_run_id"):
            retrain_state = wait(TRAIN_DAG_ID, d["triggered_run_id"], env)
        champion, gate = champion_and_gate(d.get("triggered_run_id"), env)
        reasons = json.loads(d.get("reasons") or "[]")
        share = d.get("drift_share")
        print(
            f"{night} | ingest {ingest} | monitor {monitor} | rows {_rows(night)} | "
            f"drift share {share if share is None else round(share, 2)} | top PSI {_top_psi(night)} | "
            f"{_labels(night)} | "
            f"decision {d.get('action')} ({'; '.join(reasons)[:300]}) | "
            f"retraining {'triggered: ' + str(retrain_state) if d.get('triggered_run_id') else 'no'} | "
            f"gate {gate} | champion v{champion}"
        )


def _summary_path(night: dt.date) -> Path:
    sys.path.insert(0, str(REPO / "include"))
    from tabular_mlops.config import load_params

    return REPO / load_params(REPO / "params.yaml").paths.reports_dir / night.isoformat() / "summary.json"


def _top_psi(night: dt.date) -> str:
    path = _summary_path(night)
    if not path.exists():
        return "-"
    columns = json.loads(path.read_text())["summary"].get("columns", [])
    top = sorted(columns, key=lambda c: -c["psi"])[:3]
    return ", ".join(f"{c['column']} {c['psi']:.2f}{'*' if c['drifted'] else ''}" for c in top)


def _labels(night: dt.date) -> str:
    """Matured-label ROC AUC and default rate (labels arrive label_delay_days after the applications)."""
    path = _summary_path(night)
    if not path.exists():
        return "matured labels -"
    summary = json.loads(path.read_text())["summary"]
    auc, labels = summary.get("matured_roc_auc"), summary.get("label_drift") or {}
    if auc is None and labels.get("matured_rate") is None:
        return "matured labels none yet"
    rate = labels.get("matured_rate")
    return (
        f"matured AUC {'-' if auc is None else round(auc, 3)}, default rate "
        f"{'-' if rate is None else f'{rate:.2%}'}{' (label drift)' if labels.get('drifted') else ''}"
    )


def _rows(night: dt.date) -> int:
    with sqlite3.connect(MONITOR_DB) as conn:
        return conn.execute(
            "SELECT count(*) FROM prediction_log WHERE applied_at >= ? AND applied_at < ?",
            (night.isoformat(), (night + dt.timedelta(days=1)).isoformat()),
        ).fetchone()[0]


if __name__ == "__main__":
    main()
