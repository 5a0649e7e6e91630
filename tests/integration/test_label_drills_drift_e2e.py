"""The label drills' drifts, through real Airflow (dag.test), MLflow, DVC and Evidently, on labels that mature
2 days late (config, not code). One timeline, one champion trained just before it (the session's shared champion,
copied: tests/support/shared_champion.py):
  2 stable nights             -> the matured labels of stable days (nothing to report);
  label drift (base rate x3)  -> reported from the matured labels, the champion kept (ranking still works);
  concept drift (new world)   -> nothing visible until the labels mature, then caught by the matured-label
                                 ROC AUC and retrained; the retraining ends at the gate; the estimator's
                                 self-check (the estimate said fine, LAG nights later the labels disagree,
                                 monitor.concept_drift_nights in a row) raises `concept drift suspected`.
The 30 stable nights (false alarms counted) run on a timeline of their own, so pytest-xdist runs the two modules
on two workers: test_label_drills_stable_e2e.py.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from tabular_mlops.stats.estimate_grading import CONCEPT_DRIFT as CONCEPT_DRIFT_SUSPECTED

from tests.support.airflow_runs import challenger_of, run_dag
from tests.support.label_drills import (
    LAG,
    TRAIN_NIGHT,
    dag_run_conf,
    decisions,
    monitoring_metric,
    restore,
    result,
    run_nights,
    summary,
    trained_project,
)

pytestmark = pytest.mark.e2e

LABEL_DRIFT = TRAIN_NIGHT + dt.timedelta(days=LAG + 1)  # 4 days with three times the default rate
# Before the drift, LAG stable nights: the label drift's first nights judge the matured labels of stable days.
BEFORE = [TRAIN_NIGHT + dt.timedelta(days=i) for i in range(1, LAG + 1)]
LABEL_NIGHTS = [LABEL_DRIFT + dt.timedelta(days=i) for i in range(7)]
CONCEPT_DRIFT = LABEL_DRIFT + dt.timedelta(days=7)  # after 3 stable days: the same applicants, another world
# The nights after the caught one (its retraining queued, so they keep) until the self-check's alert stands.
SELF_CHECK_WAIT = 3
LAST_DAY = CONCEPT_DRIFT + dt.timedelta(days=LAG + 2 + SELF_CHECK_WAIT + 1)


@pytest.fixture(scope="module")
def timeline(tmp_path_factory, airflow_db):
    concept_days = (LAST_DAY - CONCEPT_DRIFT).days + 1
    project, env, monitor_db = trained_project(
        tmp_path_factory,
        "drifts",
        [
            (BEFORE[0], LAG, None),
            (LABEL_DRIFT, 4, "label_drift"),
            (LABEL_DRIFT + dt.timedelta(days=4), 3, None),
            (CONCEPT_DRIFT, concept_days, "concept_drift"),
        ],
    )
    out = {"project": project, "monitor_db": monitor_db}
    concept_nights = [CONCEPT_DRIFT + dt.timedelta(days=i) for i in range(concept_days)]

    def caught_and_waited(night, run) -> bool:
        if "caught" not in out and night >= CONCEPT_DRIFT:
            if out["states"][night][1]["trigger_retraining"][0] == "success":
                out["caught"] = night
        # The retraining waits (queued) while the self-check's alert has not stood yet: those nights keep.
        caught = out.get("caught")
        return caught is not None and (
            "alerted" in out or night >= caught + dt.timedelta(days=SELF_CHECK_WAIT)
        )

    run_nights(project, [*BEFORE, *LABEL_NIGHTS, *concept_nights], out, caught_and_waited)
    out["decisions"] = decisions(monitor_db)
    if "caught" in out:
        triggered = dag_run_conf("train_model", f"retrain__{out['caught'].isoformat()}")
        out["triggered_conf"] = triggered
        # What the scheduler would do next: ingest the nights since training, then run the triggered retraining.
        window = {
            "window_start": (TRAIN_NIGHT + dt.timedelta(days=1)).isoformat(),
            "window_end": out["caught"].isoformat(),
        }
        assert str(run_dag("ingest", conf=window).state) == "success"
        out["retrain"] = run_dag("train_model", logical_date=out["caught"], conf=triggered)
        # The night after, under whichever champion the gate left: matured rows are re-scored by it.
        out["after"] = out["last_night"] + dt.timedelta(days=1)
        run_dag("monitor_nightly", logical_date=out["after"])
    yield out
    restore(env)


def test_label_drift_is_reported_from_matured_labels_and_keeps_the_champion(timeline):
    project, decided = timeline["project"], timeline["decisions"]
    # Nothing to see until the labels of the first label-drift day have matured (those of stable days have).
    for night in LABEL_NIGHTS[:LAG]:
        assert summary(project, night).matured_roc_auc is not None
        assert not any("label drift" in r for r in decided[night].reasons)
    # Once the matured window is all label-drift days (3 days from LAG + 2 on), it must be reported.
    fully = LABEL_DRIFT + dt.timedelta(days=LAG + 2)
    night = summary(project, fully)
    assert night.label_drift.drifted, night.label_drift
    assert night.label_drift.rate_ratio > 1.5
    reported = [n for n in LABEL_NIGHTS if any("label drift" in r for r in decided[n].reasons)]
    assert fully in reported
    # Reported, kept, and alerted as label drift (not as a retraining).
    assert "drift" in [a.kind for a in result(project, fully).alerts]
    assert all(decided[n].action == "keep" for n in [*BEFORE, *LABEL_NIGHTS])
    # The ranking still works on the matured labels: no performance retrain for a base-rate shift.
    assert night.matured_roc_auc > 0.7
    assert (project / "reports" / fully.isoformat() / "performance_report.html").stat().st_size > 10_000


def test_concept_drift_is_caught_once_its_labels_mature(timeline):
    assert "caught" in timeline, "no retraining was triggered after the concept drift"
    caught, decided = timeline["caught"], timeline["decisions"]
    # The applicants look the same: no feature or score drift, so nothing fires before labels mature.
    for night in (CONCEPT_DRIFT, CONCEPT_DRIFT + dt.timedelta(days=1)):
        assert decided[night].action == "keep"
        assert summary(timeline["project"], night).drifted_columns == []
    assert CONCEPT_DRIFT + dt.timedelta(days=LAG) <= caught <= CONCEPT_DRIFT + dt.timedelta(days=LAG + 2)
    decision = decided[caught]
    assert decision.action == "retrain" and decision.triggered_run_id == f"retrain__{caught}"
    assert any(r.startswith("matured-label ROC AUC") for r in decision.reasons), decision.reasons
    assert "matured-label ROC AUC" in timeline["triggered_conf"]["reason"]
    night = result(timeline["project"], caught)
    assert night.summary.matured_roc_auc < 0.7
    # One performance alert and one retraining alert, both with the decision's reasons.
    kinds = {a.kind: a for a in night.alerts}
    assert kinds["performance"].title == f"matured-label ROC AUC {night.summary.matured_roc_auc:.3f}"
    assert kinds["retraining"].details == kinds["performance"].details == night.decision.reasons


def test_concept_drift_retraining_ends_at_the_gate(timeline):
    assert str(timeline["retrain"].state) == "success"
    run, version = challenger_of(timeline["retrain"].run_id)
    assert "matured-label ROC AUC" in run.data.tags["retrain_reason"]
    assert run.data.tags["trigger_night"] == timeline["caught"].isoformat()
    gate = version.tags["gate.decision"]
    assert gate == "promoted" or gate.startswith("rejected: "), gate


def test_matured_performance_is_plotted_per_night_in_mlflow(timeline):
    """One point a night with matured labels, stamped with the night (MLflow's wall-time axis reads as dates),
    each the night's own figure: above 0.7 through the label drift, below it on the caught night."""
    auc = monitoring_metric("performance/matured_roc_auc")
    rate = monitoring_metric("performance/matured_positive_rate")
    nights = [*timeline["states"], timeline["after"]]
    measured = {n: summary(timeline["project"], n).matured_roc_auc for n in nights}
    measured = {n: a for n, a in measured.items() if a is not None}
    assert len(measured) >= len(nights) - LAG and set(auc) == set(rate) == set(measured)
    assert {n: auc[n] for n in measured} == pytest.approx(measured)
    assert auc[timeline["caught"]] < 0.7 < min(auc[n] for n in LABEL_NIGHTS)


def test_why_answers_what_changed_that_night(timeline):
    """`tabular-mlops why` joins the night's decision with the retraining it triggered and its gate outcome."""
    import contextlib
    import io

    from tabular_mlops.cli import main
    from tabular_mlops.core.config import load_params
    from tabular_mlops.monitoring.audit import retraining_outcome

    caught = timeline["caught"].isoformat()
    # The command's own function (`cli.main`), in this process: a new interpreter importing the package, MLflow
    # and SQLAlchemy costs more than the query (about 7 CPU s), and the command reads the same environment.
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["why", "--db-url", f"sqlite:///{timeline['monitor_db']}", "--last", "10"]) == 0
    nights = {n["night"]: n for n in json.loads(printed.getvalue())}
    night = nights[caught]
    assert night["action"] == "retrain" and night["triggered_run_id"] == f"retrain__{caught}"
    # The estimator's self-check, where it stood: said among the night's reasons, not acted on.
    alerted = nights[timeline["alerted"].isoformat()]
    assert alerted["reasons"][1].startswith(CONCEPT_DRIFT_SUSPECTED), alerted["reasons"]
    assert any("matured-label ROC AUC" in r for r in night["reasons"])
    # dag.test ran the retraining under its own run id; the triggered run itself is still queued here.
    assert night["retraining"]["gate"].startswith("no training run tagged with this Airflow run")
    params = load_params(timeline["project"] / "params.yaml")
    outcome = retraining_outcome(params.registry, timeline["retrain"].run_id)
    run, version = challenger_of(timeline["retrain"].run_id)
    assert outcome.mlflow_run_id == run.info.run_id and outcome.version == str(version.version)
    assert outcome.gate == version.tags["gate.decision"]


def test_matured_labels_judge_the_current_champion_after_a_promotion(timeline):
    from mlflow import MlflowClient

    _, version = challenger_of(timeline["retrain"].run_id)
    champion = MlflowClient().get_model_version_by_alias("credit_default", "champion").version
    after = summary(timeline["project"], timeline["after"])
    caught = summary(timeline["project"], timeline["caught"])
    # On the caught night v1 was champion and had logged every matured score: both views agree.
    assert caught.matured_roc_auc == pytest.approx(caught.matured_roc_auc_logged)
    if str(champion) == str(version.version):  # promoted: the matured window is now judged on its scores
        assert after.matured_roc_auc != pytest.approx(after.matured_roc_auc_logged)
    else:
        assert after.matured_roc_auc == pytest.approx(after.matured_roc_auc_logged)
    # The triggered run is still queued (no scheduler here): whatever fires, single-flight keeps.
    assert decisions(timeline["monitor_db"])[timeline["after"]].action == "keep"


def test_the_estimate_made_before_the_concept_drift_matured_misses_below_its_interval(timeline):
    """Graded as its labels matured, the estimate made on the caught night's matured window missed: the realized
    ROC AUC fell below its interval (on the stable nights it covers the truth: test_label_drills_stable_e2e.py)."""
    caught = result(timeline["project"], timeline["caught"]).estimate
    latest = caught.grades["cbpe/roc_auc"].nights[-1]
    assert latest.night == caught.matured_night and latest.miss == "below", latest


def test_the_estimators_self_check_raises_concept_drift_suspected_once_labels_mature(timeline):
    """The applicants do not change, so the estimates say all is well; LAG nights later the labels disagree, and
    on monitor.concept_drift_nights matured nights in a row below the ROC AUC interval the self-check raises
    `concept drift suspected` with its figures: in the alert, the decision record, the run note and MLflow. The
    label drift raises none (more defaults, the ranking unchanged), nor do the 30 stable nights
    (test_label_drills_stable_e2e.py)."""
    import re

    from tabular_mlops.core.config import load_params

    project, alerted = timeline["project"], timeline.get("alerted")
    k = load_params(project / "params.yaml").monitor.concept_drift_nights
    assert alerted is not None, "no `concept drift suspected` alert after the concept drift"
    assert min(timeline["self_check_nights"]) == alerted
    # Not before k windows with concept-drift days have matured (the first is the window ending CONCEPT_DRIFT).
    assert CONCEPT_DRIFT + dt.timedelta(days=LAG + k - 1) <= alerted <= timeline["last_night"]
    night = result(project, alerted)
    (alert,) = [a for a in night.alerts if a.title.startswith(CONCEPT_DRIFT_SUSPECTED)]
    assert alert.kind == "drift" and alert.title == f"{CONCEPT_DRIFT_SUSPECTED} on night {alerted}"
    reason = alert.details[0]
    figures = re.fullmatch(
        CONCEPT_DRIFT_SUSPECTED
        + r": realized roc_auc outside the (cbpe|importance_weighting) interval on (\d+) matured nights in a "
        r"row \(from (\S+), latest below it\), mean absolute error (0\.\d{4})",
        reason,
    )
    assert figures, reason
    method = figures[1]
    grade = night.estimate.grades[f"{method}/roc_auc"]
    assert grade.alert and grade.alert_night == night.estimate.matured_night
    missed = grade.nights[-int(figures[2]) :]
    assert len(missed) == int(figures[2]) >= k and missed[0].night == figures[3]
    assert figures[4] == f"{grade.mean_absolute_error:.4f}"
    # Each missed window: estimated fine then, realized below its interval, ending on a concept-drift day.
    for graded in missed:
        then = result(project, dt.date.fromisoformat(graded.night)).estimate
        figure = (then.cbpe if method == "cbpe" else then.importance).metric("roc_auc")
        assert graded.miss == "below" and dt.date.fromisoformat(graded.night) >= CONCEPT_DRIFT, graded
        realized = figure.value - graded.error  # below the interval: the realized figure under the estimate
        assert figure.value > 0.7 and realized < figure.lower, (figure, graded)
    print(f"self-check: {alert.title}: {' | '.join(alert.details)}")
    # Where a user reads the night: the decision record (`tabular-mlops why`) and the run note.
    assert timeline["decisions"][alerted].reasons[1] == reason
    # In the note, a paragraph of its own (it outlasts the other reasons and the report links).
    assert f"**{reason}**" in timeline["alert_note"], timeline["alert_note"]
    flags = monitoring_metric(f"realized/concept_drift.{method}.roc_auc")
    assert flags[alerted] == 1.0
    # The label drift, and the stable nights after it: no night with the flag raised, no self-check among the
    # reasons (from the first night whose estimate had matured: LAG nights after the first monitored night).
    quiet = [n for n in timeline["decisions"] if BEFORE[0] + dt.timedelta(days=LAG) <= n < CONCEPT_DRIFT]
    assert quiet == LABEL_NIGHTS and all(flags[n] == 0.0 for n in quiet), {n: flags.get(n) for n in quiet}
    for n in [*BEFORE, *LABEL_NIGHTS]:
        assert not any(CONCEPT_DRIFT_SUSPECTED in r for r in timeline["decisions"][n].reasons)


def test_mlflow_evidently_and_the_run_note_show_the_same_estimate(timeline):
    """One night's estimate, everywhere a user reads it: the record, MLflow's estimated/* and realized/*, the
    Evidently dashboard's estimate panel (its series query, as the UI serves it) and the run note."""
    from evidently.ui.workspace import Workspace
    from mlflow import MlflowClient
    from tabular_mlops.core.config import load_params
    from tabular_mlops.monitoring.estimate_records import interval_text

    from tests.unit.monitoring.test_estimate_panel import _panel_series

    project, night = timeline["project"], timeline["alerted"]
    estimate = result(project, night).estimate
    cbpe = estimate.cbpe.metric("roc_auc")
    realized = estimate.realized.metric("roc_auc").value
    client = MlflowClient()
    run_id = result(project, night).monitoring_run_id
    stamp = int(dt.datetime.combine(night, dt.time(), tzinfo=dt.UTC).timestamp() * 1000)

    def logged(key):
        (value,) = {m.value for m in client.get_metric_history(run_id, key) if m.timestamp == stamp}
        return value

    figures = {"estimate": cbpe.value, "interval low": cbpe.lower, "interval high": cbpe.upper}
    for key, legend in (
        ("estimated/roc_auc", "estimate"),
        ("estimated/roc_auc.lower", "interval low"),
        ("estimated/roc_auc.upper", "interval high"),
    ):
        assert logged(key) == pytest.approx(figures[legend]), key
    assert logged("realized/roc_auc") == pytest.approx(realized)
    ws_dir = project / load_params(project / "params.yaml").paths.evidently_workspace
    (evidently_project,) = Workspace.create(str(ws_dir)).search_project("credit_default monitoring")
    panels = Workspace.create(str(ws_dir)).get_dashboard(evidently_project.id).panels
    (panel,) = [p for p in panels if p.title.startswith("Estimated ROC AUC before labels arrive")]
    series = _panel_series(ws_dir, evidently_project.id, panel)
    for legend, value in figures.items():
        assert series[legend][night] == pytest.approx(value), legend
    # The night's chart point carries the self-check alert the estimate report's banner and the dashboard's
    # "Decisions and promotions (and alerts)" panel read (monitoring/nightly.py fills it in).
    from tabular_mlops.monitoring.workspace import NIGHTS_FILE

    point = json.loads((ws_dir / NIGHTS_FILE).read_text())[night.isoformat()]
    assert point["self_check"].startswith(CONCEPT_DRIFT_SUSPECTED), point
    # The realized figure of the window whose labels matured tonight, drawn where its estimate was made.
    matured = dt.date.fromisoformat(estimate.matured_night)
    assert series["realized (matured labels)"][matured] == pytest.approx(realized)
    # The note's table: a row of names, then a row of values (the estimate last).
    assert "| estimated ROC AUC |" in timeline["alert_note"]
    assert f"| {interval_text(cbpe)} (CBPE) |" in timeline["alert_note"], timeline["alert_note"]
    print(f"night {night}: estimated ROC AUC {interval_text(cbpe, 4)}, realized {realized:.4f} ({matured})")
