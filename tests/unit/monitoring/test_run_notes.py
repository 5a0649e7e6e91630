"""Run notes: the decision, its figures and reasons, links, within Airflow's 1000-character note."""

from __future__ import annotations

import datetime as dt

from tabular_mlops.monitoring.results import (
    Action,
    ColumnDrift,
    Decision,
    NightResult,
    NightSummary,
    Status,
    WindowDrift,
)
from tabular_mlops.monitoring.run_notes import MAX_NOTE, Links, night_note, training_note

NIGHT = dt.date(2026, 2, 4)
LINKS = Links(mlflow="http://127.0.0.1:5000", evidently="http://127.0.0.1:8000")


def _result(reasons: tuple[str, ...]) -> NightResult:
    column = ColumnDrift("has_smartphone", "psi", 0.52, None, 0.52, True, "significant")
    summary = NightSummary(
        NIGHT,
        Status.OK,
        rows=3600,
        night_rows=1200,
        reference_rows=9000,
        expected_rows=3600.0,
        labelled_rows=0,
        window=WindowDrift(3600, (column,), 0.364, 0.05),
    )
    decision = Decision(NIGHT, Status.OK, Action.RETRAIN, reasons)
    return NightResult(summary, decision, (), "1", "abc123", (), NIGHT, {"drift": "p1/s1"})


def test_the_night_note_states_the_decision_figures_reasons_and_links():
    note = night_note(
        _result(("window: share of drifted columns 0.36 > 0.3",)),
        "credit_default",
        LINKS,
        "7",
        {"drift": "p1/s1"},
        0.3,
    )
    assert note.splitlines()[0] == (
        "**RETRAIN** night 2026-02-04, champion v1: window: share of drifted columns 0.36 > 0.3"
    )
    assert "drift share 0.364 (threshold 0.3), score PSI 0.050" in note
    assert "- window: share of drifted columns 0.36 > 0.3" in note
    assert "[MLflow monitoring run](http://127.0.0.1:5000/#/experiments/7/runs/abc123)" in note
    assert "[model v1](http://127.0.0.1:5000/#/models/credit_default/versions/1)" in note
    assert "[Evidently drift report](http://127.0.0.1:8000/projects/p1/reports/s1)" in note


def test_long_reasons_are_shortened_but_links_survive():
    note = night_note(_result(tuple("x" * 300 for _ in range(10))), "m", LINKS, "7", {"drift": "p1/s1"}, 0.3)
    assert len(note) <= MAX_NOTE and note.endswith("reports/s1)")


def test_without_an_mlflow_server_there_is_no_dead_link():
    assert Links.from_env({"MLFLOW_TRACKING_URI": "sqlite:///x.db"}).mlflow is None
    note = night_note(_result(()), "m", Links(), None, {}, 0.3)
    assert "](" not in note and "MLflow monitoring run" in note


def test_the_training_note_says_why_it_ran_and_what_the_gate_decided():
    result = {
        "version": "2",
        "promoted": True,
        "decision": "promoted",
        "gates": [{"name": "thresholds", "passed": True, "reason": "roc_auc 0.80 >= 0.7"}],
    }
    conf = {"reason": "window: share of drifted columns 0.36 > 0.3", "night": "2026-02-04"}
    note = training_note(conf, result, "credit_default", LINKS, "3", "run9")
    assert note.startswith("**PROMOTED** v2: promoted")
    assert (
        "why this training ran (monitoring night 2026-02-04): window: share of drifted columns 0.36 > 0.3"
        in note
    )
    assert "- thresholds: passed: roc_auc 0.80 >= 0.7" in note
    assert "(http://127.0.0.1:5000/#/experiments/3/runs/run9)" in note
