"""The typed monitoring records: JSON round trip (XCom, summary.json, MLflow artifact) and their shape."""

import datetime as dt
import json

import numpy as np
import pytest
from pydantic import ValidationError
from tabular_mlops.monitoring.results import (
    Action,
    Alert,
    ColumnDrift,
    Decision,
    LabelDrift,
    NightRecord,
    NightResult,
    NightSummary,
    RetrainingOutcome,
    Status,
    WindowDrift,
)

NIGHT = dt.date(2026, 4, 4)


def _result() -> NightResult:
    columns = (
        ColumnDrift("income", "ks", 0.31, 1e-9, 0.42, True, "significant"),
        ColumnDrift(
            "channel", "psi", 0.02, None, 0.02, False, "stable", ("unseen categories ['x'] (0.5% of rows)",)
        ),
    )
    window = WindowDrift(rows=8400, columns=columns, drift_share=0.5, score_psi=0.12)
    summary = NightSummary(
        night=NIGHT,
        status=Status.OK,
        rows=8400,
        night_rows=1200,
        reference_rows=28_000,
        expected_rows=8400.0,
        labelled_rows=8000,
        window=window,
        last_night=window,
        missing_rate={"income": 0.0, "channel": 0.01},
        outlier_share=0.0,
        row_count_ratio=1.0,
        matured_roc_auc=0.61,
        matured_roc_auc_logged=0.6,
        label_drift=LabelDrift(0.035, 0.036, 1.03, 0.6, False),
        labelled_window_drifted=("income",),
    )
    decision = Decision(NIGHT, Status.OK, Action.RETRAIN, ("reason one", "reason two"), ("reason two",))
    return NightResult(
        summary=summary,
        decision=decision,
        alerts=(Alert("retraining", f"retraining needed on night {NIGHT}", decision.reasons),),
        champion_version="3",
        monitoring_run_id="abc",
        reports=("reports/2026-04-04/drift_report.html",),
        training_window_end=NIGHT - dt.timedelta(days=30),
    )


def test_night_result_round_trips_through_json():
    result = _result()
    data = json.loads(json.dumps(result.to_dict()))
    assert NightResult.from_dict(data) == result


def test_the_xcom_keeps_what_the_dag_and_the_retraining_conf_read_at_the_top_level():
    data = _result().to_dict()
    assert data["action"] == "retrain"
    assert data["reason"] == "reason one; reason two"
    assert data["training_window_end"] == "2026-03-05"
    assert data["night"] == "2026-04-04"
    assert set(data) >= {"summary", "decision", "alerts", "champion_version", "monitoring_run_id", "reports"}


def test_summary_json_is_readable():
    summary = _result().to_dict()["summary"]
    assert summary["status"] == "ok" and summary["night"] == "2026-04-04"
    assert summary["window"]["drifted_columns"] == ["income"]
    assert summary["window"]["columns"][1]["flags"] == ["unseen categories ['x'] (0.5% of rows)"]
    assert summary["label_drift"] == {
        "reference_rate": 0.035,
        "matured_rate": 0.036,
        "rate_ratio": 1.03,
        "p_value": 0.6,
        "drifted": False,
    }


def test_window_helpers():
    window = _result().summary.window
    assert window.psi == {"income": 0.42, "channel": 0.02}
    assert window.flags == {"channel": ["unseen categories ['x'] (0.5% of rows)"]}
    assert [c.column for c in window.top_psi(1)] == ["income"]


def test_a_night_without_data_has_no_window():
    summary = NightSummary(NIGHT, Status.NO_DATA, 0, 0, 28_000, 8400.0, 0)
    assert summary.drift_share is None and summary.drifted_columns == []
    assert summary.label_drift == LabelDrift()
    assert NightSummary.from_dict(summary.to_dict()) == summary


def test_numpy_scalars_become_plain_json_values():
    drift = ColumnDrift(
        "age", "ks", np.float64(0.2), np.float64(0.01), np.float64(0.3), np.bool_(True), "moderate"
    )
    assert type(drift.drifted) is bool and type(drift.psi) is float
    json.dumps(drift.to_dict())


def test_wrong_values_are_rejected_on_the_way_in():
    with pytest.raises(ValidationError):
        Decision.from_dict({"night": "2026-04-04", "status": "fine", "action": "keep"})
    with pytest.raises(ValidationError):
        Alert.from_dict({"kind": "gossip", "title": "x"})


def test_audit_record_round_trips():
    record = NightRecord(
        NIGHT,
        Status.OK,
        Action.RETRAIN,
        ("why",),
        "1",
        0.4,
        "retrain__2026-04-04",
        RetrainingOutcome("r", "m", "2", "promoted"),
    )
    assert NightRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record
