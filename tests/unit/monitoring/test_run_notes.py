"""Run notes: the decision, its figures and reasons, links, within Airflow's 1000-character note."""

from __future__ import annotations

import datetime as dt
import re

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
    # Markdown blocks: Airflow renders a headline, a table, a list and each link as its own paragraph.
    assert note.split("\n\n") == [
        "**RETRAIN** night 2026-02-04, champion v1: window: share of drifted columns 0.36 > 0.3",
        "| rows in the window | drift share | score PSI |\n| --- | --- | --- |\n| 3600 | 0.3640 (threshold 0.3) | 0.0500 |",
        "Reasons:",
        "- window: share of drifted columns 0.36 > 0.3",
        # The training this night started, on the Airflow UI that shows the note (a path: any host, any port).
        "[training it started: train_model retrain__2026-02-04](/dags/train_model/runs/retrain__2026-02-04)",
        "[MLflow monitoring run](http://127.0.0.1:5000/#/experiments/7/runs/abc123)",
        "[model v1](http://127.0.0.1:5000/#/models/credit_default/versions/1)",
        "[Evidently drift report](http://127.0.0.1:8000/projects/p1/reports/s1)",
    ]


def test_reasons_that_do_not_fit_are_left_out_whole_and_links_survive():
    reasons = tuple(
        f"last night: drift in key features income (PSI 0.28{i}, ks 0.300) " + "x" * 200 for i in range(10)
    )
    note = night_note(_result(reasons), "m", LINKS, "7", {"drift": "p1/s1"}, 0.3)
    assert len(note) <= MAX_NOTE and note.endswith("reports/s1)")
    assert (
        "[training it started: train_model retrain__2026-02-04](/dags/train_model/runs/retrain__2026-02-04)"
        in note
    )
    listed = [line[2:] for line in note.splitlines() if line.startswith("- ")]
    assert all(line in reasons for line in listed[:-1]) and listed
    assert listed[-1] == f"… and {10 - len(listed) + 1} more, in full in tabular-mlops why --night 2026-02-04"
    # No inline code in the list: Airflow paints a code span's box over the line above it (a reason's
    # underscores vanished under it in the browser).
    assert "`" not in note
    # The first reason is too long for the collapsed line: the headline stays whole without it.
    assert note.splitlines()[0] == "**RETRAIN** night 2026-02-04, champion v1"


def test_without_an_mlflow_server_there_is_no_dead_link():
    assert Links.from_env({"MLFLOW_TRACKING_URI": "sqlite:///x.db"}).mlflow is None
    note = night_note(_result(()), "m", Links(), None, {}, 0.3)
    # Only the link to the training run stays: it is on the Airflow UI that shows the note.
    assert (
        note.count("](") == 1 and "](/dags/train_model/" in note and "\n\nMLflow monitoring run\n\n" in note
    )


def test_the_training_note_says_why_it_ran_and_what_the_gate_decided():
    result = {
        "version": "2",
        "promoted": True,
        "decision": "promoted",
        "gates": [{"name": "thresholds", "passed": True, "reason": "roc_auc 0.80 >= 0.7"}],
    }
    conf = {
        "reason": "window: share of drifted columns 0.36 > 0.3; window: score drift PSI 0.078 > 0.05",
        "night": "2026-02-04",
        "monitor_run_id": "scheduled__2026-02-04T00:00:00+00:00",
    }
    note = training_note(conf, result, "credit_default", LINKS, "3", "run9")
    assert note.split("\n\n") == [
        "**PROMOTED** v2",  # not "v2: promoted": the decision repeated the verdict
        "| version | started by |\n| --- | --- |\n| v2 | monitoring night 2026-02-04 |",
        "The gates, and why it ran:",
        # The first reason before the gates: eight gates with their figures would leave no room for any reason.
        "- why: window: share of drifted columns 0.36 > 0.3\n"
        "- thresholds: passed: roc_auc 0.80 >= 0.7\n- why: window: score drift PSI 0.078 > 0.05",
        # Back to the monitoring night that started it (the run id quoted: ':' and '+' are not path characters).
        "[started by: monitoring night 2026-02-04 (monitor_nightly)]"
        "(/dags/monitor_nightly/runs/scheduled__2026-02-04T00%3A00%3A00%2B00%3A00)",
        "[MLflow training run](http://127.0.0.1:5000/#/experiments/3/runs/run9)",
        "[model v2](http://127.0.0.1:5000/#/models/credit_default/versions/2)",
    ]


def test_a_rejected_training_note_says_where_the_challenger_alias_went():
    """A retraining rejected during a rollout gives the alias back (design point 4): its note says so."""
    said = "the 'challenger' alias back on v3 from v4: v3's rollout (canary since 2026-03-05) goes on"
    result = {
        "version": "4",
        "promoted": False,
        "decision": "rejected: roc_auc 0.61 < 0.7",
        "gates": [{"name": "thresholds", "passed": False, "reason": "roc_auc 0.61 < 0.7"}],
        "challenger_alias": said,
    }
    note = training_note({"reason": "scheduled"}, result, "m", LINKS, "3", "run9")
    assert note.startswith("**NOT PROMOTED** v4: rejected: roc_auc 0.61 < 0.7"), note
    assert f"\n\nThe {said[4:]}.\n\n" in note, note
    assert "challenger" not in training_note({}, {**result, "challenger_alias": None}, "m", LINKS, "3", "r")


def test_a_training_note_with_many_long_gates_still_says_why_it_ran():
    """Eight gates with their figures fill the note: the first reason it ran comes before them, so it stays."""
    gates = [{"name": f"gate{i}", "passed": True, "reason": "z" * 180} for i in range(8)]
    result = {"version": "2", "promoted": True, "decision": "promoted", "gates": gates}
    conf = {"reason": "drifted, harmed (estimated): CBPE drop 0.05 > 0.03; second", "night": "2026-02-04"}
    note = training_note(conf, result, "m", LINKS, "3", "run9")
    assert len(note) <= MAX_NOTE
    assert "\n- why: drifted, harmed (estimated): CBPE drop 0.05 > 0.03\n- gate0: passed" in note, note
    assert "more, in full in the gate_and_promote task's XCom" in note


def test_the_cross_links_are_the_last_to_go_and_go_whole():
    """A note too long for Airflow's column leaves out reasons, then the other links, never the link to the other
    run, and never cuts one."""
    reasons = tuple(f"reason {i} " + "x" * 300 for i in range(5))
    note = night_note(
        _result(reasons), "m", Links(evidently="http://e:1", airflow="http://a:2"), "7", {}, 0.3
    )
    assert len(note) <= MAX_NOTE
    assert (
        "[training it started: train_model retrain__2026-02-04](http://a:2/dags/train_model/runs/retrain__2026-02-04)"
        in note
    )
    links = [block for block in note.split("\n\n") if block.startswith("[")]
    assert links and all(re.fullmatch(r"\[[^\]\n]+\]\([^)\s]+\)", block) for block in links)
    conf = {
        "reason": "; ".join("y" * 300 for _ in range(5)),
        "night": "2026-02-04",
        "monitor_run_id": "manual__1",
    }
    result = {"version": "2", "promoted": False, "decision": "rejected", "gates": []}
    note = training_note(conf, result, "m", LINKS, "3", "run9")
    assert len(note) <= MAX_NOTE and "(/dags/monitor_nightly/runs/manual__1)" in note


def test_a_night_that_keeps_its_champion_links_to_no_training():
    result = _result(())
    keep = NightResult(
        result.summary, Decision(NIGHT, Status.OK, Action.KEEP, ()), (), "1", "abc123", (), NIGHT, {}
    )
    assert "/dags/train_model/" not in night_note(keep, "m", LINKS, "7", {}, 0.3)


def _estimate(figure, harm_text: str, **changes):
    """A night's estimate whose CBPE ROC AUC is `figure` (the headline), with `changes` (e.g. grades)."""
    from tabular_mlops.monitoring.estimate_records import EstimatedHarm, NightEstimate
    from tabular_mlops.stats.business_value import BusinessValue
    from tabular_mlops.stats.metrics import MetricEstimate, PerformanceEstimate

    return NightEstimate(
        rows=3600,
        threshold=0.1,
        calibrator="isotonic",
        calibration_reason="isotonic: lowers the ECE",
        holdout=PerformanceEstimate("realized", 9000, {"roc_auc": MetricEstimate(0.79)}),
        cbpe=PerformanceEstimate("cbpe", 3600, {"roc_auc": figure}),
        importance=PerformanceEstimate("importance_weighting", 3600, {}),
        value=BusinessValue("cbpe", 3600, 720_000.0, 200.0, 684_000.0, 756_000.0),
        value_importance=BusinessValue("importance_weighting", 3600, None, None, reason="withheld"),
        value_unit="EUR",
        harm=EstimatedHarm(0.009, "cbpe", figure, 0.79, harm_text),
        **changes,
    )


def test_the_night_note_shows_the_estimate_with_its_interval():
    import dataclasses

    from tabular_mlops.stats.metrics import MetricEstimate

    estimate = _estimate(MetricEstimate(0.781, 0.762, 0.803), "estimated ROC AUC 0.781 ...")
    result = dataclasses.replace(_result(("x",)), estimate=estimate)
    note = night_note(result, "credit_default", LINKS, "7", {}, 0.3)
    table = note.split("\n\n")[1]
    assert table.splitlines()[0].endswith("| estimated ROC AUC |")
    assert table.splitlines()[2].endswith("| 0.78 [0.76, 0.80] (CBPE) |")


def test_the_self_check_alert_outlasts_the_other_reasons_and_the_report_links():
    """A night the concept-drift alert stands on: its line is a paragraph of its own (bold), kept when the note
    is long and only the first reason fits, and not said twice."""
    import dataclasses

    from tabular_mlops.monitoring.estimate_records import CBPE_ROC_AUC
    from tabular_mlops.stats.estimate_grading import NightFigures, grade_estimates
    from tabular_mlops.stats.metrics import MetricEstimate

    misses = [NightFigures(f"2026-02-0{i}", 0.80, 0.76, 0.84, 0.64) for i in range(1, 4)]
    grade = grade_estimates("roc_auc", "cbpe", misses, 3)
    harm = "estimated ROC AUC 0.800 [0.760, 0.840] (CBPE) " + "x" * 150
    estimate = _estimate(MetricEstimate(0.80, 0.76, 0.84), harm, grades={CBPE_ROC_AUC: grade})
    (alert,) = estimate.concept_drift
    reasons = ("a retraining is already in flight", alert, "matured-label ROC AUC 0.640 < 0.7", "y" * 200)
    result = dataclasses.replace(_result(reasons), estimate=estimate)
    reports = {
        kind: f"01a251be-fe5f-7fcb-bf20-b5f7649cf95d/01a251d5-{kind}"
        for kind in ("drift", "estimate", "performance")
    }
    note = night_note(result, "credit_default", LINKS, "7", reports, 0.3)
    assert len(note) <= MAX_NOTE
    assert f"**{alert}**" in note and note.count(alert) == 1
    assert "- a retraining is already in flight" in note


def test_on_an_alert_night_the_estimate_report_link_comes_first_and_outlasts_the_others():
    """The stack's concept-drift drill: the alert night's note kept the drift report's link and dropped the
    estimate report's, the one whose chart draws the realized figures below the estimates."""
    import dataclasses

    from tabular_mlops.monitoring.estimate_records import CBPE_ROC_AUC
    from tabular_mlops.stats.estimate_grading import NightFigures, grade_estimates
    from tabular_mlops.stats.metrics import MetricEstimate

    misses = [NightFigures(f"2026-03-{i}", 0.80, 0.76, 0.84, 0.61) for i in (17, 18, 19)]
    grade = grade_estimates("roc_auc", "cbpe", misses, 3)
    estimate = _estimate(
        MetricEstimate(0.80, 0.77, 0.82), "estimated ROC AUC 0.795", grades={CBPE_ROC_AUC: grade}
    )
    (alert,) = estimate.concept_drift
    reports = {kind: f"01a25265-05ee/01a25277-{kind}" for kind in ("drift", "estimate")}
    reasons = ("cooldown after the retraining of 2026-03-20 until 2026-03-27", alert)
    alerting = dataclasses.replace(_result(reasons), estimate=estimate)
    note = night_note(alerting, "credit_default", LINKS, "7", reports, 0.3)
    assert note.index("Evidently estimate report") < note.index("Evidently drift report")
    # A note long enough to keep one report link keeps the estimate report's.
    long = dataclasses.replace(_result((*reasons, "z" * 150)), estimate=estimate)
    kept = night_note(long, "credit_default", LINKS, "7", reports, 0.3)
    assert len(kept) <= MAX_NOTE and f"**{alert}**" in kept
    assert "Evidently estimate report" in kept and "Evidently drift report" not in kept
    # Without the alert the order is the reports' own.
    quiet = dataclasses.replace(
        _result(("no drift or performance rule fired",)),
        estimate=_estimate(MetricEstimate(0.80, 0.77, 0.82), "estimated ROC AUC 0.795"),
    )
    plain = night_note(quiet, "credit_default", LINKS, "7", reports, 0.3)
    assert plain.index("Evidently drift report") < plain.index("Evidently estimate report")
