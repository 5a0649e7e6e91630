"""Pure parts of the stack: layout and environment, backfill window, waits, log excerpts, import boundary."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from tabular_mlops.core import contracts
from tabular_mlops.stack import backfill
from tabular_mlops.stack.diagnose import render_task_log
from tabular_mlops.stack.layout import Layout, default_repo
from tabular_mlops.stack.programs import AIRFLOW, programs
from tabular_mlops.stack.stack_error import StackError
from tabular_mlops.stack.waiting import NotYet, poll_until

REPO = default_repo()


def test_ports_come_from_the_environment_and_are_checked() -> None:
    layout = Layout.from_env(REPO, {"MLOPS_AIRFLOW_PORT": "18080", "MLOPS_MLFLOW_PORT": "15000"})
    assert (layout.airflow_port, layout.mlflow_port, layout.evidently_port) == (18080, 15000, 8000)
    env = layout.stack_env()
    assert env["AIRFLOW__API__PORT"] == "18080"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:15000"
    with pytest.raises(StackError, match="MLOPS_MLFLOW_PORT"):
        Layout.from_env(REPO, {"MLOPS_MLFLOW_PORT": "http"})
    with pytest.raises(StackError, match="must differ"):
        Layout.from_env(REPO, {"MLOPS_MLFLOW_PORT": "8080"})


def test_connections_are_named_by_the_shared_ids(tmp_path: Path) -> None:
    env = Layout.from_env(REPO, {}).stack_env()
    source = json.loads(env[contracts.conn_env_var(contracts.SOURCE_CONN_ID)])
    assert source == {"conn_type": "sqlite", "host": str(REPO / "var" / "source.db")}
    assert "AIRFLOW_CONN_MONITORING_DB" in env


def test_process_env_keeps_user_choices_and_bypasses_proxies() -> None:
    layout = Layout.from_env(REPO, {})
    env = layout.process_env({"PATH": "/usr/bin", "OMP_NUM_THREADS": "4", "NO_PROXY": "corp.example"})
    assert env["PATH"].split(":")[0] == str(layout.bin_dir)
    assert env["OMP_NUM_THREADS"] == "4" and env["DO_NOT_TRACK"] == "1"
    assert env["NO_PROXY"] == "corp.example,127.0.0.1,localhost"


def test_env_file_is_sourceable(tmp_path: Path) -> None:
    (tmp_path / "dags").mkdir()
    (tmp_path / "params.yaml").write_text("{}")
    layout = Layout.from_env(tmp_path, {})
    layout.write_env_file()
    out = subprocess.run(
        ["bash", "-c", f"source {layout.env_file} && echo $AIRFLOW_CONN_SOURCE_DB"],
        capture_output=True,
        text=True,
    )
    assert json.loads(out.stdout)["host"] == str(tmp_path / "var" / "source.db")


def test_programs_bind_to_localhost_and_airflow_stops_as_a_group() -> None:
    layout = Layout.from_env(REPO, {})
    progs = {p.name: p for p in programs(layout, layout.var / "evidently")}
    assert list(progs) == ["mlflow", "evidently", "airflow", "serving"]
    for prog in progs.values():
        assert prog.port is not None
    assert "--serve-artifacts" in progs["mlflow"].command
    assert progs["mlflow"].command[progs["mlflow"].command.index("--host") + 1] == "127.0.0.1"
    assert progs[AIRFLOW].stopsignal == "INT" and not progs[AIRFLOW].stopasgroup
    serve = progs["serving"].command
    assert (
        serve[1:3] == ("serve", "--host")
        and serve[3] == "127.0.0.1"
        and serve[-1] == str(layout.serving_port)
    )


def test_the_stack_tells_the_scoring_service_where_its_log_and_token_are(tmp_path) -> None:
    layout = Layout.from_env(REPO, {"MLOPS_SERVING_PORT": "9099"})
    env = layout.stack_env()
    assert layout.serving_url == "http://127.0.0.1:9099"
    assert env["MLOPS_MONITORING_DB_URL"] == f"sqlite:///{layout.monitoring_db}"
    assert env["MLOPS_SERVING_ADMIN_TOKEN_FILE"] == str(layout.serving_token_file)
    assert env["MLOPS_SERVING_URL"] == layout.serving_url  # train_model's reload after a promotion
    assert "MLOPS_SERVING_ADMIN_TOKEN" not in env  # the secret itself never goes into stack.env


def _params(start: str, days: int, delay: int) -> SimpleNamespace:
    return SimpleNamespace(
        simulate=SimpleNamespace(history_start=start, history_days=days),
        schema=SimpleNamespace(label_delay_days=delay),
    )


def test_backfill_window_starts_once_labels_matured() -> None:
    params = _params("2026-01-01", 90, 30)
    layout = Layout.from_env(REPO, {})
    assert backfill.window(layout, params) == (dt.date(2026, 1, 31), dt.date(2026, 3, 31))
    assert len(backfill.nights(layout, params)) == 60
    assert "--reprocess-behavior" in backfill.create_command(layout, params)
    with pytest.raises(StackError, match="history_days"):
        backfill.window(layout, _params("2026-01-01", 10, 30))


def test_latest_run_per_night_wins() -> None:
    runs = [
        {"logical_date": "2026-02-01T00:00:00Z", "run_after": "2026-02-02T00:00:00Z", "state": "failed"},
        {"logical_date": "2026-02-01T00:00:00Z", "run_after": "2026-02-05T00:00:00Z", "state": "success"},
        {"logical_date": None, "run_after": "2026-02-06T00:00:00Z", "state": "success"},
    ]
    latest = backfill.latest_by_night(runs, [dt.date(2026, 2, 1)])
    assert latest == {dt.date(2026, 2, 1): runs[1]}


def test_poll_until_returns_retries_and_times_out() -> None:
    calls = []

    def third_time() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise NotYet("not yet")
        return "ready"

    assert poll_until(third_time, what="x", timeout=5, interval=0.01) == "ready"

    def never() -> None:
        raise NotYet("still starting")

    with pytest.raises(StackError, match=r"thing: not ready within 0s \(still starting\)"):
        poll_until(never, what="thing", timeout=0.05, interval=0.01)

    def dies() -> None:
        raise StackError("exited")

    with pytest.raises(StackError, match="exited"):
        poll_until(dies, what="y", timeout=5, interval=0.01)


def test_task_log_excerpt_prefers_errors_with_exception(tmp_path: Path) -> None:
    log = tmp_path / "attempt=1.log"
    records = [
        {"timestamp": "2026-02-01T00:00:01", "level": "info", "event": "extracting"},
        {
            "timestamp": "2026-02-01T00:00:02",
            "level": "error",
            "event": "Task failed",
            "error_detail": [{"exc_type": "ValidationError", "exc_value": "3 expectations failed"}],
        },
    ]
    log.write_text("\n".join(json.dumps(r) for r in records) + "\nplain line\n")
    text = render_task_log(log)
    assert "ValidationError: 3 expectations failed" in text and "extracting" not in text


def test_the_stack_never_imports_airflow() -> None:
    code = "import sys, tabular_mlops.stack.stack_cli; print(any(m.split('.')[0] == 'airflow' for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
