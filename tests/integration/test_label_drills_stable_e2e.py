"""The label drills' quiet timeline, through real Airflow (dag.test), MLflow and DVC: a champion, then 30 stable
nights whose labels mature 2 days late (config, not code), without Evidently's reports (monitor.evidently_reports:
no test here reads one). Every alarm on them is a false one: no
retrain decision, no label-drift report, no drifted column, no `concept drift suspected`; the matured-label
ROC AUC is measured and plotted per night, and the estimate made each night is graded as its labels mature.
The drifts themselves run beside it, on a timeline of their own: test_label_drills_drift_e2e.py."""

from __future__ import annotations

import datetime as dt

import pytest
from tabular_mlops.stats.estimate_grading import CONCEPT_DRIFT as CONCEPT_DRIFT_SUSPECTED

from tests.support.label_drills import (
    LAG,
    TRAIN_NIGHT,
    decisions,
    monitoring_metric,
    restore,
    result,
    run_nights,
    summary,
    trained_project,
)

pytestmark = pytest.mark.e2e

STABLE_NIGHTS = [TRAIN_NIGHT + dt.timedelta(days=i) for i in range(1, 31)]


@pytest.fixture(scope="module")
def timeline(tmp_path_factory, airflow_db):
    # No test here reads an Evidently report (the drift timeline and the monitoring e2e do): rendering them is
    # most of a night, so these 30 nights go without (monitor.evidently_reports), judged and recorded the same.
    project, env, monitor_db = trained_project(
        tmp_path_factory,
        "stable",
        [(STABLE_NIGHTS[0], len(STABLE_NIGHTS), None)],
        monitor={"evidently_reports": False},
    )
    out = {"project": project, "monitor_db": monitor_db}
    run_nights(project, STABLE_NIGHTS, out, stop=lambda night, run: False)
    out["decisions"] = decisions(monitor_db)
    yield out
    restore(env)


def test_thirty_stable_nights_raise_no_false_alarm(timeline):
    decided = [timeline["decisions"][n] for n in STABLE_NIGHTS]
    assert all(timeline["states"][n][0] == "success" for n in STABLE_NIGHTS)
    assert [d.status for d in decided] == ["ok"] * 30
    false_alarms = [(d.night, d.reasons) for d in decided if d.action != "keep"]
    label_reports = [d.night for d in decided if any("label drift" in r for r in d.reasons)]
    drifted_columns = sum(len(summary(timeline["project"], n).drifted_columns) for n in STABLE_NIGHTS)
    print(
        f"30 stable nights: {len(false_alarms)} retrain decisions, {len(label_reports)} label-drift reports, "
        f"{drifted_columns} drifted column flags"
    )
    assert false_alarms == [] and label_reports == [] and drifted_columns == 0
    assert all(timeline["states"][n][1]["trigger_retraining"][0] == "skipped" for n in STABLE_NIGHTS)
    # Labels of the first stable nights have matured by the end: the performance on them was measured.
    aucs = [summary(timeline["project"], n).matured_roc_auc for n in STABLE_NIGHTS[LAG + 2 :]]
    assert all(a is not None and a > 0.7 for a in aucs), aucs


def test_matured_performance_is_plotted_per_night_in_mlflow(timeline):
    """One point a night with matured labels (28 of the 30: the first LAG nights have none yet), stamped with the
    night so MLflow's wall-time axis reads as dates, each the night's own figure."""
    auc = monitoring_metric("performance/matured_roc_auc")
    rate = monitoring_metric("performance/matured_positive_rate")
    measured = {n: summary(timeline["project"], n).matured_roc_auc for n in STABLE_NIGHTS}
    measured = {n: a for n, a in measured.items() if a is not None}
    assert len(measured) >= 30 - LAG and set(auc) == set(rate) == set(measured)
    assert auc == pytest.approx(measured)
    assert all(a > 0.7 for a in auc.values()), auc


def test_the_estimate_is_recorded_every_night_and_graded_as_labels_mature(timeline):
    """Each night records the champion's estimated figures; LAG nights later the labels of that window mature
    and the estimate is set against them: over the stable nights it is close and its interval mostly covers the
    truth (the concept-drift night it misses: test_label_drills_drift_e2e.py)."""
    project, last_stable = timeline["project"], STABLE_NIGHTS[-1]
    estimate = result(project, last_stable).estimate
    roc = estimate.cbpe.metric("roc_auc")
    assert roc.lower <= roc.value <= roc.upper and not estimate.importance.withheld
    # The decision record (what `tabular-mlops why` prints) carries the estimate as context on a quiet night.
    reasons = timeline["decisions"][last_stable].reasons
    assert any(r.startswith("estimated ROC AUC ") for r in reasons), reasons
    assert estimate.matured_night == (last_stable - dt.timedelta(days=LAG)).isoformat()
    figures = estimate.matured["cbpe/roc_auc"]
    earlier = result(project, last_stable - dt.timedelta(days=LAG)).estimate.cbpe.metric("roc_auc")
    assert figures.estimate == earlier.value and figures.realized == estimate.realized.metric("roc_auc").value
    grade = estimate.grades["cbpe/roc_auc"]
    print(f"stable nights: CBPE ROC AUC MAE {grade.mean_absolute_error:.4f}, coverage {grade.coverage:.0%}")
    assert grade.matured_nights >= 20 and grade.mean_absolute_error < 0.06 and grade.coverage >= 0.6
    assert estimate.value_realized is not None and estimate.value_realized.per_row is not None


def test_the_stable_nights_never_raise_concept_drift_suspected(timeline):
    """The estimator's self-check stays down on every stable night once labels mature: the flag MLflow logs is
    0 each night and no decision names it (the drift timeline shows it raised: test_label_drills_drift_e2e.py)."""
    assert "self_check_nights" not in timeline, timeline.get("self_check_nights")
    flags = monitoring_metric("realized/concept_drift.cbpe.roc_auc")
    importance = monitoring_metric("realized/concept_drift.importance_weighting.roc_auc")
    quiet = STABLE_NIGHTS[LAG:]
    assert all(flags[n] == 0.0 and importance[n] == 0.0 for n in quiet), {
        n: (flags.get(n), importance.get(n)) for n in quiet
    }
    for night in STABLE_NIGHTS:
        assert not any(CONCEPT_DRIFT_SUSPECTED in r for r in timeline["decisions"][night].reasons)
        assert not any(
            a.title.startswith(CONCEPT_DRIFT_SUSPECTED) for a in result(timeline["project"], night).alerts
        )


def test_the_nights_go_without_evidently_reports_as_configured(timeline):
    """monitor.evidently_reports off: no report, no workspace snapshot, no link to one; the night judged, recorded
    (its record is the one file in its folder) and logged to MLflow all the same (the tests above)."""
    from tabular_mlops.core.config import load_params
    from tabular_mlops.core.contracts import NIGHT_RESULT_FILE

    project = timeline["project"]
    paths = load_params(project / "params.yaml").paths
    for night in STABLE_NIGHTS:
        recorded = result(project, night)
        assert recorded.reports == () and recorded.evidently == {}, night
        assert recorded.monitoring_run_id
        folder = project / paths.reports_dir / night.isoformat()
        assert [f.name for f in folder.iterdir()] == [NIGHT_RESULT_FILE], night
    assert not (project / paths.evidently_workspace).exists()
