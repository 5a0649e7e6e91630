"""Every alert of a night comes from alerts_for: quality, retraining, label drift, performance."""

import datetime as dt
from dataclasses import replace

from tabular_mlops.monitoring.decision import alerts_for, decide, quality_problems
from tabular_mlops.monitoring.results import ColumnDrift, LabelDrift, NightSummary, Status, WindowDrift

NIGHT = dt.date(2026, 4, 4)


def _summary(**changes) -> NightSummary:
    columns = (
        ColumnDrift("income", "ks", 0.01, 0.5, 0.01, False, "stable"),
        ColumnDrift("channel", "psi", 0.01, None, 0.01, False, "stable"),
    )
    base = NightSummary(
        night=NIGHT,
        status=Status.OK,
        rows=8400,
        night_rows=1200,
        reference_rows=28_000,
        expected_rows=8400.0,
        labelled_rows=0,
        window=WindowDrift(8400, columns, 0.0, 0.01),
        missing_rate={"income": 0.0, "channel": 0.0},
        outlier_share=0.0,
        row_count_ratio=1.0,
    )
    return replace(base, **changes)


def _alerts(summary, params, **decide_args):
    rate_name = params.wording.rate_text(params.schema.target_column)
    decision = decide(
        summary, params.monitor, params.gate, None, decide_args.get("in_flight", False), rate_name
    )
    return alerts_for(summary, decision, params.monitor, params.gate)


def test_a_quiet_night_sends_nothing(repo_params):
    assert _alerts(_summary(), repo_params) == ()


def test_quality_problems_are_one_alert(repo_params):
    flagged = ColumnDrift(
        "channel", "psi", 0.01, None, 0.01, False, "stable", ("a single category in both windows",)
    )
    summary = _summary(
        missing_rate={"income": 0.2, "channel": 0.0},
        outlier_share=0.1,
        row_count_ratio=0.2,
        rows=1680,
        window=WindowDrift(1680, (flagged,), 0.0, 0.0),
    )
    (alert,) = _alerts(summary, repo_params)
    assert alert.kind == "quality" and alert.title == f"data quality on night {NIGHT}"
    assert alert.details == (
        "missing rate of 'income' is 20.0% (> 5%)",
        "10.0% of rows hold out-of-range values or unseen categories",
        "1680 rows where about 8400 are normal",
        "column 'channel': a single category in both windows",
    )


def test_no_data_is_a_quality_alert_and_operational_problems_join_it(repo_params):
    empty = NightSummary(NIGHT, Status.NO_DATA, 0, 0, 28_000, 8400.0, 0)
    assert quality_problems(empty, repo_params.monitor) == [f"no data in the current window ending {NIGHT}"]
    decision = decide(empty, repo_params.monitor, repo_params.gate, None, False)
    (alert,) = alerts_for(empty, decision, repo_params.monitor, repo_params.gate, ["workspace not updated"])
    assert alert.details == (f"no data in the current window ending {NIGHT}", "workspace not updated")


def test_underperformance_alerts_retraining_and_performance_with_the_decision_reasons(repo_params):
    summary = _summary(matured_roc_auc=0.55, labelled_rows=8000)
    alerts = _alerts(summary, repo_params)
    assert [(a.kind, a.title) for a in alerts] == [
        ("retraining", f"retraining needed on night {NIGHT}"),
        ("performance", "matured-label ROC AUC 0.550"),
    ]
    assert alerts[0].details == alerts[1].details
    assert alerts[1].details[0].startswith("matured-label ROC AUC 0.550 < promotion threshold")
    # Single-flight keeps the champion: still a performance alert, no retraining alert.
    assert [a.kind for a in _alerts(summary, repo_params, in_flight=True)] == ["performance"]


def test_performance_alert_follows_the_gate_threshold(repo_params):
    summary = _summary(matured_roc_auc=0.72, labelled_rows=8000)
    assert _alerts(summary, repo_params) == ()
    strict = replace(repo_params, gate=replace(repo_params.gate, min_roc_auc=0.75))
    assert [a.kind for a in _alerts(summary, strict)] == ["retraining", "performance"]


def test_label_drift_that_keeps_the_champion_is_alerted(repo_params):
    labels = LabelDrift(0.035, 0.095, 2.71, 1e-12, True)
    (alert,) = _alerts(_summary(matured_roc_auc=0.8, labelled_rows=8000, label_drift=labels), repo_params)
    assert alert.kind == "drift" and alert.title == f"label drift on night {NIGHT}"
    assert any(d.startswith("label drift: matured default rate 9.50%") for d in alert.details)


def test_the_estimators_self_check_raises_concept_drift_suspected(repo_params):
    from tabular_mlops.monitoring.results import Decision

    night = dt.date(2026, 5, 1)
    summary = NightSummary(night, Status.NO_DATA, 0, 0, 100, 0.0, 0)
    decision = Decision(night, Status.NO_DATA, None)
    reason = (
        "concept drift suspected: realized roc_auc outside the cbpe interval on 3 matured nights in a row"
    )
    alerts = alerts_for(summary, decision, repo_params.monitor, repo_params.gate, (), (reason,))
    drift = [a for a in alerts if a.title.startswith("concept drift suspected")]
    assert len(drift) == 1 and drift[0].kind == "drift" and drift[0].details == (reason,)
    assert not any(
        a.title.startswith("concept drift")
        for a in alerts_for(summary, decision, repo_params.monitor, repo_params.gate)
    )


def test_the_self_check_is_said_second_among_the_reasons_and_not_acted_on():
    from tabular_mlops.monitoring.decision import with_self_check
    from tabular_mlops.monitoring.results import Action, Decision

    night = dt.date(2026, 5, 1)
    keep = Decision(
        night, Status.OK, Action.KEEP, ("no drift or performance rule fired", "estimated ROC AUC 0.75")
    )
    first, second = "concept drift suspected: realized roc_auc outside the cbpe interval", "and importance's"
    noted = with_self_check(keep, (first, second))
    assert noted.reasons == ("no drift or performance rule fired", first, "estimated ROC AUC 0.75")
    assert noted.action is Action.KEEP and noted.drift_reasons == keep.drift_reasons
    assert with_self_check(keep, ()) is keep
    assert with_self_check(Decision(night, Status.OK, Action.KEEP), (first,)).reasons == (first,)
