"""One-shot commands the stack runs: the `airflow` CLI where the REST API cannot help (no server yet, or no
endpoint), the project's own CLI (seed, champion), and SQLite's WAL switch."""

from __future__ import annotations

import contextlib
import json
import shlex
import sqlite3
import subprocess
from pathlib import Path

from tabular_mlops.core import contracts
from tabular_mlops.stack.console import fmt_duration
from tabular_mlops.stack.layout import Layout
from tabular_mlops.stack.stack_error import StackError, error_lines


def run(
    layout: Layout, cmd: list[str], what: str, timeout: float, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a short command in the repo with the stack's environment; on failure raise with its own output."""
    try:
        proc = subprocess.run(
            cmd,
            cwd=layout.repo,
            env=layout.command_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(
            f"{what}: `{shlex.join(cmd)}` did not finish within {fmt_duration(timeout)}"
        ) from exc
    if check and proc.returncode != 0:
        out = error_lines(proc.stdout + "\n" + proc.stderr)
        raise StackError(f"{what} failed (exit {proc.returncode}): `{shlex.join(cmd)}`\n{out}")
    return proc


def airflow(
    layout: Layout, *args: str, what: str, timeout: float = 300, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return run(layout, [str(layout.bin_dir / "airflow"), *args], what, timeout, check=check)


def project_cli(
    layout: Layout, *args: str, what: str, timeout: float, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`python -m tabular_mlops ARGS` with the venv's interpreter."""
    return run(layout, [str(layout.bin_dir / "python"), "-m", "tabular_mlops", *args], what, timeout, check)


def wal(db: Path) -> None:
    """Switch a SQLite file to WAL (it persists in the file): readers and one writer at the same time."""
    db.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode.lower() != "wal":
        raise StackError(f"could not switch {db} to WAL journal mode (got {mode})")


def prepare_airflow_db(layout: Layout) -> None:
    """`airflow db migrate` (idempotent), WAL on the metadata DB and the DVC pool, before Airflow runs."""
    layout.airflow_home.mkdir(parents=True, exist_ok=True)
    airflow(layout, "db", "migrate", what="airflow db migrate", timeout=900)
    wal(layout.airflow_db)  # scheduler, DAG processor, API server and triggerer all write this file
    pool = contracts.DVC_POOL
    airflow(
        layout,
        *("pools", "set", pool, str(contracts.DVC_POOL_SLOTS), contracts.DVC_POOL_DESCRIPTION),
        what=f"creating pool {pool}",
    )


def json_array(output: str) -> list | None:
    """The JSON array a CLI printed with `-o json` (warnings may be printed around it)."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("["):
            try:
                value, _ = json.JSONDecoder().raw_decode("\n".join(lines[i:]))
            except ValueError:
                continue
            if isinstance(value, list):
                return value
    return None


def list_runs_offline(layout: Layout, dag_id: str) -> list[dict]:
    """A DAG's runs through the CLI (the API server is not up yet)."""
    proc = airflow(layout, "dags", "list-runs", dag_id, "-o", "json", what="airflow dags list-runs")
    listed = json_array(proc.stdout)
    if listed is None:
        raise StackError(f"unexpected output of `airflow dags list-runs`: {proc.stdout[-500:]}")
    return listed
