"""settle_scheduled_runs never blocks `make run` for ever: a run queued for the future is skipped at once, a run
stuck active past the timeout is marked failed through the REST API (a fake API: no Airflow here)."""

from __future__ import annotations

import datetime as dt

from tabular_mlops.stack import backfill

NOW = dt.datetime.now(dt.UTC)


def _run(run_id: str, state: str, run_after: dt.datetime, run_type: str = "manual") -> dict:
    return {"dag_run_id": run_id, "state": state, "run_type": run_type, "run_after": run_after.isoformat()}


class FakeAPI:
    def __init__(self, runs: list[dict]) -> None:
        self.runs = runs
        self.marked: list[tuple[str, str, str]] = []

    def dag(self, dag_id: str) -> dict:
        return {"is_paused": False, "next_dagrun_run_after": (NOW + dt.timedelta(days=1)).isoformat()}

    def dag_runs(self, dag_id: str) -> list[dict]:
        return self.runs

    def set_run_state(self, dag_id: str, run_id: str, state: str) -> None:
        self.marked.append((dag_id, run_id, state))
        next(r for r in self.runs if r["dag_run_id"] == run_id)["state"] = state


def test_future_and_backfill_runs_are_not_waited_for() -> None:
    runs = [
        _run("drill__tomorrow", "queued", NOW + dt.timedelta(days=1)),
        _run("backfill__x", "running", NOW - dt.timedelta(hours=1), "backfill"),
        _run("scheduled__today", "running", NOW - dt.timedelta(minutes=1), "scheduled"),
        _run("old", "success", NOW - dt.timedelta(days=3), "scheduled"),
    ]
    wait, future = backfill.stale_runs(runs, NOW)
    assert [r["dag_run_id"] for r in wait] == ["scheduled__today"]
    assert [r["dag_run_id"] for r in future] == ["drill__tomorrow"]


def test_a_future_run_does_not_block(capsys) -> None:
    api = FakeAPI([_run("drill__tomorrow", "queued", NOW + dt.timedelta(days=1))])
    backfill.settle_scheduled_runs(api, "ingest", timeout=5)  # type: ignore[arg-type]
    assert api.marked == []
    assert "skipped ingest run drill__tomorrow" in capsys.readouterr().out


def test_a_stuck_run_is_marked_failed_after_the_timeout(capsys) -> None:
    api = FakeAPI([_run("drill__stuck", "running", NOW - dt.timedelta(hours=2))])
    backfill.settle_scheduled_runs(api, "ingest", timeout=1)  # type: ignore[arg-type]
    assert api.marked == [("ingest", "drill__stuck", "failed")]
    assert "marked ingest run drill__stuck (manual, running" in capsys.readouterr().out
