"""scripts/drill.py without a stack: its pure parts, and that it reads names from params.yaml, not literals."""

import datetime as dt
import importlib.util
import json
import subprocess
import sys
from dataclasses import replace

import pytest
import sqlalchemy as sa
from tabular_mlops.monitoring import decisions_log
from tabular_mlops.monitoring.results import (
    Action,
    ColumnDrift,
    Decision,
    LabelDrift,
    NightRecord,
    NightResult,
    NightSummary,
    Status,
    WindowDrift,
)

from tests.support.project import REPO

NIGHT = dt.date(2026, 4, 1)


@pytest.fixture(scope="module")
def drill():
    spec = importlib.util.spec_from_file_location("drill", REPO / "scripts" / "drill.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_help_runs_without_a_stack():
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "drill.py"), "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "--scenario" in proc.stdout


def test_no_model_experiment_or_column_names_and_no_code_in_strings(repo_params):
    text = (REPO / "scripts" / "drill.py").read_text()
    for literal in (
        repo_params.registry.model_name,
        repo_params.registry.experiment_name,
        repo_params.schema.timestamp_column,
        repo_params.schema.table,
        "SELECT",
        '"-c"',
    ):
        assert literal not in text, literal


def test_connection_urls_from_the_stack_env(drill):
    env = {
        "AIRFLOW_CONN_MONITORING_DB": json.dumps({"conn_type": "sqlite", "host": "/x/var/monitoring.db"}),
        "AIRFLOW_CONN_SOURCE_DB": json.dumps(
            {
                "conn_type": "postgres",
                "host": "db",
                "login": "u",
                "password": "p@w",
                "port": 5432,
                "schema": "src",
            }
        ),
    }
    assert drill.connection_url(env, "monitoring_db") == "sqlite:////x/var/monitoring.db"
    url = sa.make_url(drill.connection_url(env, "source_db"))
    assert (url.drivername, url.username, url.password, url.host, url.port, url.database) == (
        "postgresql+psycopg2",
        "u",
        "p@w",
        "db",
        5432,
        "src",
    )
    with pytest.raises(SystemExit):
        drill.connection_url({}, "monitoring_db")


def test_list_runs_output_with_warnings_first(drill):
    out = 'WARNING something\n[{"run_id": "a", "state": "success"}]\n'
    assert drill.parse_runs(out) == [{"run_id": "a", "state": "success"}]
    assert drill.parse_runs("no runs\n[]\n") == []


def test_first_night_follows_the_history_skips_judged_nights_and_never_the_future(
    drill, repo_params, tmp_path
):
    sim = repo_params.simulate
    history_end = dt.date.fromisoformat(str(sim.history_start)) + dt.timedelta(days=sim.history_days)
    today = history_end + dt.timedelta(days=200)
    day = dt.timedelta(days=1)
    assert drill.first_night(repo_params, set(), 5, today) == history_end
    assert drill.first_night(repo_params, {history_end - 9 * day}, 5, today) == history_end
    # after earlier drills: the night after the last drilled night
    drilled = {history_end + i * day for i in range(4)}
    assert drill.first_night(repo_params, drilled, 2, today) == history_end + 4 * day
    # a live stack has judged today (its scheduled monitoring night): never tomorrow, the nights before are free
    assert drill.first_night(repo_params, drilled | {today}, 2, today) == history_end + 4 * day
    # no room before today: a clear error, not a run Airflow will not start until tomorrow
    with pytest.raises(drill.DrillError, match="after today"):
        drill.first_night(repo_params, {history_end + day}, 2, history_end + day)
    with pytest.raises(drill.DrillError, match="after today"):
        drill.first_night(repo_params, set(), 2, history_end)

    missing = tmp_path / "monitoring.db"
    assert drill.judged_nights(sa.create_engine(f"sqlite:///{missing}")) == set()
    assert not missing.exists()
    engine = sa.create_engine(f"sqlite:///{missing}")
    decisions_log.record(engine, Decision(NIGHT, Status.OK, Action.KEEP, ("quiet",)), "1", 0.0)
    decisions_log.record(
        engine, Decision(NIGHT + dt.timedelta(1), Status.NO_DATA, None, ("none",)), "1", None
    )
    assert drill.judged_nights(engine) == {NIGHT}


def test_a_future_night_is_refused_before_anything_is_triggered(drill):
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    with pytest.raises(drill.DrillError, match="in the future"):
        drill.trigger_and_wait("ingest", tomorrow, {}, timeout=1)


def _result():
    columns = (
        ColumnDrift("income", "ks", 0.3, 1e-9, 0.52, True, "significant"),
        ColumnDrift("age", "ks", 0.2, 1e-6, 0.31, True, "significant"),
        ColumnDrift("channel", "psi", 0.01, None, 0.01, False, "stable"),
        ColumnDrift("has_smartphone", "psi", 0.4, None, 0.4, True, "significant"),
    )
    window = WindowDrift(8400, columns, 0.75, 0.2)
    summary = NightSummary(
        NIGHT,
        Status.OK,
        8400,
        1200,
        28_000,
        8400.0,
        8000,
        window,
        None,
        {},
        0.0,
        1.0,
        0.612,
        0.6,
        LabelDrift(0.035, 0.0951, 2.7, 1e-12, True),
    )
    decision = Decision(NIGHT, Status.OK, Action.RETRAIN, ("drift", "label drift"))
    return NightResult(summary, decision, (), "1", "run", (), NIGHT - dt.timedelta(days=30))


def test_night_line_says_what_the_uis_say(drill):
    """The window's rows beside the night's, the champion that judged -> the one after, every reason in full
    (never cut mid-number), one a line."""
    result = _result()
    long_reason = (
        "last night: drift in key features income (PSI 0.280, ks 0.300), has_smartphone (PSI 0.519, psi 0.400)"
        ", age (PSI 0.310, ks 0.200); share of drifted columns 0.36 > 0.3; score drift PSI 0.078 > 0.05 " * 3
    ).strip()
    record = NightRecord(
        NIGHT, Status.OK, Action.RETRAIN, (long_reason, "label drift"), "1", 0.3636, "retrain__x"
    )
    states = {"ingest": "success", "monitor": "success", "retraining": "success"}
    lines = drill.night_line(
        NIGHT, states, result, record, "v2: promoted", "2", rate_name="default rate"
    ).splitlines()
    assert lines[0] == (
        "2026-04-01 | ingest success | monitor success | rows 8400 in the window (1200 last night) | "
        "drift share 0.3636 | top PSI income 0.520*, has_smartphone 0.400*, age 0.310* | "
        "matured AUC 0.612, default rate 9.51% (label drift) | decision retrain | "
        "retraining triggered: success | gate v2: promoted | champion v1 -> v2"
    )
    assert lines[1:] == [f"    - {long_reason}", "    - label drift"]
    empty = NightRecord(NIGHT, Status.NO_DATA, None, ("no rows in the current window",), "1", None, None)
    text = drill.night_line(NIGHT, {"ingest": "success", "monitor": "success"}, None, empty, "-", "1")
    assert "rows 0 | drift share None | top PSI - | matured labels - | decision None" in text
    assert text.splitlines()[0].endswith("retraining no | gate - | champion v1")
    assert text.splitlines()[1] == "    - no rows in the current window"
    quiet = replace(result, summary=replace(result.summary, matured_roc_auc=None, label_drift=LabelDrift()))
    assert "matured labels none yet" in drill.night_line(NIGHT, states, quiet, record, "-", "1")
    # A held retraining leaves the judging champion in place.
    assert (
        drill.night_line(NIGHT, states, result, record, "v2: refused", "1")
        .splitlines()[0]
        .endswith("| champion v1")
    )


def test_a_progress_line_while_a_retraining_runs(drill, monkeypatch, capsys):
    polls = iter([[{"run_id": "r", "state": "queued"}]] * 2 + [[{"run_id": "r", "state": "running"}]] * 2)
    final = [{"run_id": "r", "state": "success", "end_date": "x"}]
    monkeypatch.setattr(drill, "list_runs", lambda dag_id, env: next(polls, final))
    clock = iter(range(0, 10_000, 20))
    monkeypatch.setattr(drill.time, "time", lambda: next(clock))
    monkeypatch.setattr(drill.time, "sleep", lambda seconds: None)
    assert drill.wait("train_model", "r", {}, timeout=3600, progress_every=30) == "success"
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(line.startswith("  ... train_model run r: ") for line in lines)
    assert "queued for 1.0 min (gives up after 60 min)" in lines[0] and "running" in lines[-1]
