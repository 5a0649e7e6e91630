"""The records data/ and training/ steps hand on: what the DAGs put in XCom reads back as the same record."""

from __future__ import annotations

import json

import pytest
from tabular_mlops.data.batch_records import ExtractedBatch, PublishedBatch, ValidatedBatch
from tabular_mlops.model.model_tests import GateResult
from tabular_mlops.training.registry_records import (
    ChampionDescription,
    PromotionResult,
    RegisteredVersion,
    RollbackResult,
    defined_metrics,
)

RECORDS = [
    ExtractedBatch("2026-01-31_2026-02-01", ("2026-01-01",), 400, ("/p/landing/day=2026-01-01.parquet",)),
    ValidatedBatch("2026-01-31_2026-02-01", ("/p/landing/day=2026-01-01.parquet",), None),
    PublishedBatch("2026-01-31_2026-02-01", ("/p/data/day=2026-01-01.parquet",), "abc.dir", "file:///d"),
    RegisteredVersion("4", "run-4", new=True),
    PromotionResult(
        "4",
        promoted=False,
        decision="rejected: roc_auc 0.61 < 0.7",
        previous_champion="3",
        compared_with="3",
        gates=(GateResult("thresholds", False, "roc_auc 0.61 < 0.7"), GateResult("model_tests", True, "ok")),
        metrics={"roc_auc": 0.61, "pr_auc": None},
        run_id="run-4",
        service_reload={"outcome": "skipped", "url": "http://127.0.0.1:1", "reason": "no token"},
    ),
    RollbackResult("3", "4", "manual rollback"),
    ChampionDescription("credit_default", None),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_a_record_survives_the_xcom_round_trip(record):
    as_json = json.loads(json.dumps(record.to_dict()))
    assert type(record).from_dict(as_json) == record


def test_the_gate_result_keeps_the_keys_the_run_note_and_the_drill_read():
    result = RECORDS[4]
    data = result.to_dict()
    assert data["gates"][0] == {"name": "thresholds", "passed": False, "reason": "roc_auc 0.61 < 0.7"}
    assert {"version", "promoted", "decision", "previous_champion", "run_id", "metrics"} <= set(data)
    assert result.rejected and not PromotionResult("4", False, "already champion").rejected


def test_an_undefined_metric_is_none_in_the_record_never_nan():
    metrics = defined_metrics({"roc_auc": float("nan"), "brier": 0.05})
    assert metrics == {"roc_auc": None, "brier": 0.05}
    assert PromotionResult("1", True, "promoted", metrics=metrics).to_dict()["metrics"]["roc_auc"] is None


def test_a_record_with_an_unknown_key_is_refused():
    with pytest.raises(ValueError, match=r"ExtractedBatch: unknown keys \['paths_'\]"):
        ExtractedBatch.from_dict({"batch_id": "b", "row_days": [], "rows": 0, "paths_": []})


def test_records_are_frozen():
    with pytest.raises(AttributeError):
        RECORDS[3].version = "5"  # type: ignore[misc]
