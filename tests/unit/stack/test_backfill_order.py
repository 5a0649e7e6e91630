"""The order of `make run`'s ingestion step (a recording fake API: no Airflow here): the backfill is created with
several active runs, it is never paused to wait for tonight's scheduled run (they run side by side, publishing
serialised by the dvc_repo pool), and the scheduled run is settled after the history nights, before training."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from tabular_mlops.stack import backfill

NOW = dt.datetime.now(dt.UTC)


def _params() -> SimpleNamespace:
    return SimpleNamespace(
        simulate=SimpleNamespace(history_start="2026-01-01", history_days=33, live_source=True),
        schema=SimpleNamespace(label_delay_days=30),
    )


class RecordingAPI:
    """The REST calls `ensure` makes, in order; the ingestion DAG starts paused with one backfill in progress."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.paused = True
        self.runs: list[dict] = []

    def backfills(self, dag_id: str) -> list[dict]:
        return [
            {"id": 7, "completed_at": None, "is_paused": False, "from_date": "2026-01-31T00:00:00Z",
             "to_date": "2026-02-02T00:00:00Z", "max_active_runs": backfill.MAX_ACTIVE_RUNS}
        ]  # fmt: skip

    def backfill_action(self, backfill_id: int, action: str) -> None:
        self.calls.append(f"backfill {action}")

    def dag(self, dag_id: str) -> dict:
        return {"is_paused": self.paused, "next_dagrun_run_after": (NOW + dt.timedelta(days=1)).isoformat()}

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.calls.append(f"{'pause' if paused else 'unpause'} {dag_id}")
        self.paused = paused

    def dag_runs(self, dag_id: str) -> list[dict]:
        return self.runs


def test_backfill_runs_beside_the_scheduled_run_which_is_settled_before_training(monkeypatch) -> None:
    api = RecordingAPI()

    def fake_wait(layout, api_, todo):  # the history nights run (through the scheduler in the real stack)
        api.calls.append(f"wait {len(todo)} nights")

    def fake_settle(api_, dag_id, timeout=0):
        api.calls.append(f"settle {dag_id}")

    monkeypatch.setattr(backfill, "wait", fake_wait)
    monkeypatch.setattr(backfill, "settle_scheduled_runs", fake_settle)
    monkeypatch.setattr(backfill, "report_latest_scheduled", lambda *a: api.calls.append("report"))

    backfill.ensure(SimpleNamespace(source_url=None), api, _params())  # type: ignore[arg-type]

    assert api.calls == [
        "unpause ingest",
        "wait 3 nights",
        "settle ingest",
        "report",
    ]
    assert not any(c == "backfill pause" for c in api.calls)


def test_the_backfill_is_created_with_several_active_runs() -> None:
    cmd = backfill.create_command(SimpleNamespace(source_url=None), _params())  # type: ignore[arg-type]
    assert cmd[cmd.index("--max-active-runs") + 1] == str(backfill.MAX_ACTIVE_RUNS)
    assert backfill.MAX_ACTIVE_RUNS > 1
