"""`make status` lists every DAG of the project, simulate_source included (a fake API: no Airflow here)."""

from __future__ import annotations

from tabular_mlops.core import contracts
from tabular_mlops.stack.status import print_dag_runs


class FakeAPI:
    def dag(self, dag_id: str) -> dict:
        return {"dag_id": dag_id, "is_paused": dag_id == contracts.SIMULATE_DAG_ID}

    def dag_runs(self, dag_id: str) -> list[dict]:
        return [
            {"dag_run_id": f"scheduled__{dag_id}", "state": "success", "run_after": "2026-11-27T00:00:00Z"}
        ]


def test_status_lists_every_dag(capsys) -> None:
    print_dag_runs(FakeAPI())  # type: ignore[arg-type]
    out = capsys.readouterr().out
    for dag_id in (
        contracts.SIMULATE_DAG_ID,
        contracts.INGEST_DAG_ID,
        contracts.TRAIN_DAG_ID,
        contracts.MONITOR_DAG_ID,
    ):
        assert f"latest scheduled__{dag_id} success" in out, dag_id
