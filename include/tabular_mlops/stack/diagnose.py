"""Why a DAG run failed, in a few lines: each failed task and the end of its log (Airflow 3 JSON lines)."""

from __future__ import annotations

import json
from pathlib import Path

from tabular_mlops.stack.airflow_api import AirflowAPI
from tabular_mlops.stack.stack_error import log_tail


def render_task_log(path: Path, lines: int = 25) -> str:
    """The warnings and errors of a task log (else its last lines), with exception details."""
    rendered, important = [], []
    for line in log_tail(path, 400).splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            rendered.append(line[:300])
            continue
        if not isinstance(rec, dict):
            rendered.append(line[:300])
            continue
        level = str(rec.get("level", "")).upper()
        text = f"{str(rec.get('timestamp', ''))[:19]} {level:7} {str(rec.get('event', ''))[:300]}"
        for err in rec.get("error_detail") or []:
            text += f"\n      {err.get('exc_type')}: {str(err.get('exc_value'))[:1500]}"
        rendered.append(text)
        if level in ("WARNING", "ERROR", "CRITICAL"):
            important.append(text)
    shown = important[-lines:] if important else rendered[-lines:]
    return f"      log: {path}\n" + "\n".join("      " + r for r in shown)


def task_log_excerpt(airflow_home: Path, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
    folder = airflow_home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    path = folder / f"attempt={try_number}.log"
    if not path.exists():
        attempts = sorted(folder.glob("attempt=*.log"))
        if not attempts:
            return f"      (no log file under {folder})"
        path = attempts[-1]
    return render_task_log(path)


def explain_run(api: AirflowAPI, airflow_home: Path, dag_id: str, run_id: str) -> str:
    """Each failed task instance of the run with its log excerpt."""
    lines = []
    for ti in api.task_instances(dag_id, run_id):
        if ti.get("state") == "failed":
            try_number = int(ti.get("try_number") or 1)
            lines.append(f"    task {ti['task_id']} failed (try {try_number}):")
            lines.append(task_log_excerpt(airflow_home, dag_id, run_id, ti["task_id"], try_number))
    return "\n".join(lines) or "    (no failed task instance found)"
