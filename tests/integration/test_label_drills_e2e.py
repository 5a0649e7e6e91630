"""Fire drills that need matured labels, through real Airflow (dag.test), MLflow, DVC and Evidently.

Ground truth arrives `label_delay_days` after the applications; this project sets it to 2 (config, not code) so
the drills fit in a test run. One timeline, one champion:
  30 stable nights             -> count false alarms (retrain decisions, label-drift reports): expect none;
  label drift (base rate x3)   -> reported from the matured labels, the champion kept (ranking still works);
  concept drift (new world)    -> nothing visible until the labels mature, then caught by the matured-label
                                  ROC AUC and retrained; the retraining ends at the gate; the estimator's
                                  self-check (the estimate said fine, LAG nights later the labels disagree,
                                  monitor.concept_drift_nights in a row) raises `concept drift suspected`.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml
from tabular_mlops.stats.estimate_grading import CONCEPT_DRIFT as CONCEPT_DRIFT_SUSPECTED

from tests.support.airflow_runs import challenger_of, drop_queued_runs, project_env, run_dag, task_states
from tests.support.project import make_project, simulate

pytestmark = pytest.mark.e2e

START = dt.date(2026, 2, 1)  # params.yaml dags.start_date is 2026-01-31: an earlier night fails
LAG = 2
ROWS = 1200
TRAIN_NIGHT = START + dt.timedelta(days=LAG + 19)
STABLE_NIGHTS = [TRAIN_NIGHT + dt.timedelta(days=i) for i in range(1, 31)]
LABEL_DRIFT = STABLE_NIGHTS[-1] + dt.timedelta(days=1)  # 4 days with three times the default rate
CONCEPT_DRIFT = LABEL_DRIFT + dt.timedelta(days=7)  # after 3 stable days: the same applicants, another world
# The nights after the caught one (its retraining queued, so they keep) until the self-check's alert stands.
SELF_CHECK_WAIT = 3
LAST_DAY = CONCEPT_DRIFT + dt.timedelta(days=LAG + 2 + SELF_CHECK_WAIT + 1)


@pytest.fixture(scope="module")
def timeline(tmp_path_factory, airflow_db):
    project = make_project(tmp_path_factory.mktemp("labels") / "project")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["schema"]["label_delay_days"] = LAG
    params["preprocess"].update({"window_days": 14, "holdout_days": 5})
    params["monitor"].update({"window_days": 3, "min_rows": 300})
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env, db, monitor_db = project_env(project)
    simulate(project, db, START.isoformat(), (LABEL_DRIFT - START).days, ROWS)
    simulate(project, db, LABEL_DRIFT.isoformat(), 4, ROWS, scenario="label_drift")
    simulate(project, db, (LABEL_DRIFT + dt.timedelta(days=4)).isoformat(), 3, ROWS)
    simulate(
        project, db, CONCEPT_DRIFT.isoformat(), (LAST_DAY - CONCEPT_DRIFT).days + 1, ROWS, "concept_drift"
    )
    # A retraining queued by another module's drill (no scheduler runs it here) must not count as in flight.
    drop_queued_runs("train_model")
    window = {
        "window_start": (START + dt.timedelta(days=LAG)).isoformat(),
        "window_end": TRAIN_NIGHT.isoformat(),
    }
    assert str(run_dag("ingest", conf=window).state) == "success"
    assert str(run_dag("train_model", logical_date=TRAIN_NIGHT).state) == "success"
    out = {"project": project, "monitor_db": monitor_db, "states": {}}
    nights = [*STABLE_NIGHTS, *[LABEL_DRIFT + dt.timedelta(days=i) for i in range(7)]]
    nights += [CONCEPT_DRIFT + dt.timedelta(days=i) for i in range((LAST_DAY - CONCEPT_DRIFT).days + 1)]
    for night in nights:
        run = run_dag("monitor_nightly", logical_date=night)
        out["states"][night] = (str(run.state), task_states(run))
        caught = out.get("caught")
        if (
            caught is None
            and night >= CONCEPT_DRIFT
            and out["states"][night][1]["trigger_retraining"][0] == "success"
        ):
            out["caught"] = caught = night
        if any(a.title.startswith(CONCEPT_DRIFT_SUSPECTED) for a in _result(project, night).alerts):
            out.setdefault("self_check_nights", []).append(night)
            if "alerted" not in out:
                out["alerted"], out["alert_note"] = night, _dag_run_note("monitor_nightly", run.run_id)
        # The retraining waits (queued) while the self-check's alert has not stood yet: those nights keep.
        if caught is not None and ("alerted" in out or night >= caught + dt.timedelta(days=SELF_CHECK_WAIT)):
            out["last_night"] = night
            break
    out["decisions"] = _decisions(monitor_db)
    if "caught" in out:
        triggered = _dag_run_conf("train_model", f"retrain__{out['caught'].isoformat()}")
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
    drop_queued_runs("train_model")
    env.restore()


def _decisions(path):
    import sqlalchemy as sa
    from tabular_mlops.monitoring import decisions_log

    return {r.night: r for r in decisions_log.history(sa.create_engine(f"sqlite:///{path}"))}


def _dag_run_conf(dag_id, run_id):
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.run_id == run_id).one()
        return dict(run.conf or {})


def _dag_run_note(dag_id, run_id):
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.run_id == run_id).one().note


def _result(project, night):
    """The night's NightResult, as written beside its reports."""
    from tabular_mlops.core.config import load_params
    from tabular_mlops.monitoring.night_record import read_result

    return read_result(project, load_params(project / "params.yaml").paths, night)


def _summary(project, night):
    return _result(project, night).summary


def test_thirty_stable_nights_raise_no_false_alarm(timeline):
    decisions = [timeline["decisions"][n] for n in STABLE_NIGHTS]
    assert all(timeline["states"][n][0] == "success" for n in STABLE_NIGHTS)
    assert [d.status for d in decisions] == ["ok"] * 30
    false_alarms = [(d.night, d.reasons) for d in decisions if d.action != "keep"]
    label_reports = [d.night for d in decisions if any("label drift" in r for r in d.reasons)]
    drifted_columns = sum(len(_summary(timeline["project"], n).drifted_columns) for n in STABLE_NIGHTS)
    print(
        f"30 stable nights: {len(false_alarms)} retrain decisions, {len(label_reports)} label-drift reports, "
        f"{drifted_columns} drifted column flags"
    )
    assert false_alarms == [] and label_reports == [] and drifted_columns == 0
    assert all(timeline["states"][n][1]["trigger_retraining"][0] == "skipped" for n in STABLE_NIGHTS)
    # Labels of the first stable nights have matured by the end: the performance on them was measured.
    aucs = [_summary(timeline["project"], n).matured_roc_auc for n in STABLE_NIGHTS[LAG + 2 :]]
    assert all(a is not None and a > 0.7 for a in aucs), aucs


def test_label_drift_is_reported_from_matured_labels_and_keeps_the_champion(timeline):
    project, decisions = timeline["project"], timeline["decisions"]
    label_nights = [LABEL_DRIFT + dt.timedelta(days=i) for i in range(7)]
    # Nothing to see until the labels of the first label-drift day have matured.
    for night in label_nights[:LAG]:
        assert not any("label drift" in r for r in decisions[night].reasons)
    # Once the matured window is all label-drift days (3 days from LAG + 2 on), it must be reported.
    fully = LABEL_DRIFT + dt.timedelta(days=LAG + 2)
    summary = _summary(project, fully)
    assert summary.label_drift.drifted, summary.label_drift
    assert summary.label_drift.rate_ratio > 1.5
    reported = [n for n in label_nights if any("label drift" in r for r in decisions[n].reasons)]
    assert fully in reported
    # Reported, kept, and alerted as label drift (not as a retraining).
    assert "drift" in [a.kind for a in _result(project, fully).alerts]
    assert all(decisions[n].action == "keep" for n in label_nights)
    # The ranking still works on the matured labels: no performance retrain for a base-rate shift.
    assert summary.matured_roc_auc > 0.7
    assert (project / "reports" / fully.isoformat() / "performance_report.html").stat().st_size > 10_000


def test_concept_drift_is_caught_once_its_labels_mature(timeline):
    assert "caught" in timeline, "no retraining was triggered after the concept drift"
    caught, decisions = timeline["caught"], timeline["decisions"]
    # The applicants look the same: no feature or score drift, so nothing fires before labels mature.
    for night in (CONCEPT_DRIFT, CONCEPT_DRIFT + dt.timedelta(days=1)):
        assert decisions[night].action == "keep"
        assert _summary(timeline["project"], night).drifted_columns == []
    assert CONCEPT_DRIFT + dt.timedelta(days=LAG) <= caught <= CONCEPT_DRIFT + dt.timedelta(days=LAG + 2)
    decision = decisions[caught]
    assert decision.action == "retrain" and decision.triggered_run_id == f"retrain__{caught}"
    assert any(r.startswith("matured-label ROC AUC") for r in decision.reasons), decision.reasons
    assert "matured-label ROC AUC" in timeline["triggered_conf"]["reason"]
    result = _result(timeline["project"], caught)
    assert result.summary.matured_roc_auc < 0.7
    # One performance alert and one retraining alert, both with the decision's reasons.
    kinds = {a.kind: a for a in result.alerts}
    assert kinds["performance"].title == f"matured-label ROC AUC {result.summary.matured_roc_auc:.3f}"
    assert kinds["retraining"].details == kinds["performance"].details == result.decision.reasons


def test_concept_drift_retraining_ends_at_the_gate(timeline):
    assert str(timeline["retrain"].state) == "success"
    run, version = challenger_of(timeline["retrain"].run_id)
    assert "matured-label ROC AUC" in run.data.tags["retrain_reason"]
    assert run.data.tags["trigger_night"] == timeline["caught"].isoformat()
    gate = version.tags["gate.decision"]
    assert gate == "promoted" or gate.startswith("rejected: "), gate


def test_matured_performance_is_plotted_per_night_in_mlflow(timeline):
    from mlflow import MlflowClient

    client = MlflowClient()
    exp = client.get_experiment_by_name("credit_default_monitoring")
    (run,) = client.search_runs([exp.experiment_id], "tags.monitoring_series = 'credit_default'")
    # Each night's metrics carry the night as their timestamp, so MLflow's wall-time axis reads as dates.
    auc = {
        dt.datetime.fromtimestamp(m.timestamp / 1000, dt.UTC).date(): m.value
        for m in client.get_metric_history(run.info.run_id, "performance/matured_roc_auc")
    }
    rate = client.get_metric_history(run.info.run_id, "performance/matured_positive_rate")
    assert len(auc) >= 30 and len(rate) >= 30
    assert auc[timeline["caught"]] < 0.7 < auc[STABLE_NIGHTS[-1]]


def test_why_answers_what_changed_that_night(timeline):
    """`tabular-mlops why` joins the night's decision with the retraining it triggered and its gate outcome."""
    import subprocess
    import sys

    from tabular_mlops.core.config import load_params
    from tabular_mlops.monitoring.audit import retraining_outcome

    caught = timeline["caught"].isoformat()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tabular_mlops",
            "why",
            "--db-url",
            f"sqlite:///{timeline['monitor_db']}",
            "--last",
            "10",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    nights = {n["night"]: n for n in json.loads(proc.stdout)}
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
    summary = _summary(timeline["project"], timeline["after"])
    caught = _summary(timeline["project"], timeline["caught"])
    # On the caught night v1 was champion and had logged every matured score: both views agree.
    assert caught.matured_roc_auc == pytest.approx(caught.matured_roc_auc_logged)
    if str(champion) == str(version.version):  # promoted: the matured window is now judged on its scores
        assert summary.matured_roc_auc != pytest.approx(summary.matured_roc_auc_logged)
    else:
        assert summary.matured_roc_auc == pytest.approx(summary.matured_roc_auc_logged)
    # The triggered run is still queued (no scheduler here): whatever fires, single-flight keeps.
    assert _decisions(timeline["monitor_db"])[timeline["after"]].action == "keep"


def test_the_estimate_is_recorded_every_night_and_graded_as_labels_mature(timeline):
    """Each night records the champion's estimated figures; LAG nights later the labels of that window mature
    and the estimate is set against them: over the stable nights it is close and its interval mostly covers the
    truth; on the caught concept-drift night the realized ROC AUC falls below the interval."""
    project, last_stable = timeline["project"], STABLE_NIGHTS[-1]
    estimate = _result(project, last_stable).estimate
    roc = estimate.cbpe.metric("roc_auc")
    assert roc.lower <= roc.value <= roc.upper and not estimate.importance.withheld
    # The decision record (what `tabular-mlops why` prints) carries the estimate as context on a quiet night.
    reasons = timeline["decisions"][last_stable].reasons
    assert any(r.startswith("estimated ROC AUC ") for r in reasons), reasons
    assert estimate.matured_night == (last_stable - dt.timedelta(days=LAG)).isoformat()
    figures = estimate.matured["cbpe/roc_auc"]
    earlier = _result(project, last_stable - dt.timedelta(days=LAG)).estimate.cbpe.metric("roc_auc")
    assert figures.estimate == earlier.value and figures.realized == estimate.realized.metric("roc_auc").value
    grade = estimate.grades["cbpe/roc_auc"]
    print(f"stable nights: CBPE ROC AUC MAE {grade.mean_absolute_error:.4f}, coverage {grade.coverage:.0%}")
    assert grade.matured_nights >= 20 and grade.mean_absolute_error < 0.06 and grade.coverage >= 0.6
    assert estimate.value_realized is not None and estimate.value_realized.per_row is not None
    caught = _result(project, timeline["caught"]).estimate
    latest = caught.grades["cbpe/roc_auc"].nights[-1]
    assert latest.night == caught.matured_night and latest.miss == "below", latest


def test_the_estimators_self_check_raises_concept_drift_suspected_once_labels_mature(timeline):
    """The applicants do not change, so the estimates say all is well; LAG nights later the labels disagree, and
    on monitor.concept_drift_nights matured nights in a row below the ROC AUC interval the self-check raises
    `concept drift suspected` with its figures: in the alert, the decision record, the run note and MLflow. The
    30 stable nights raise none, nor does the label drift (more defaults, the ranking unchanged)."""
    import re

    from mlflow import MlflowClient
    from tabular_mlops.core.config import load_params

    project, alerted = timeline["project"], timeline.get("alerted")
    k = load_params(project / "params.yaml").monitor.concept_drift_nights
    assert alerted is not None, "no `concept drift suspected` alert after the concept drift"
    assert min(timeline["self_check_nights"]) == alerted
    # Not before k windows with concept-drift days have matured (the first is the window ending CONCEPT_DRIFT).
    assert CONCEPT_DRIFT + dt.timedelta(days=LAG + k - 1) <= alerted <= timeline["last_night"]
    result = _result(project, alerted)
    (alert,) = [a for a in result.alerts if a.title.startswith(CONCEPT_DRIFT_SUSPECTED)]
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
    grade = result.estimate.grades[f"{method}/roc_auc"]
    assert grade.alert and grade.alert_night == result.estimate.matured_night
    missed = grade.nights[-int(figures[2]) :]
    assert len(missed) == int(figures[2]) >= k and missed[0].night == figures[3]
    assert figures[4] == f"{grade.mean_absolute_error:.4f}"
    # Each missed window: estimated fine then, realized below its interval, ending on a concept-drift day.
    for graded in missed:
        then = _result(project, dt.date.fromisoformat(graded.night)).estimate
        figure = (then.cbpe if method == "cbpe" else then.importance).metric("roc_auc")
        assert graded.miss == "below" and dt.date.fromisoformat(graded.night) >= CONCEPT_DRIFT, graded
        realized = figure.value - graded.error  # below the interval: the realized figure under the estimate
        assert figure.value > 0.7 and realized < figure.lower, (figure, graded)
    print(f"self-check: {alert.title}: {' | '.join(alert.details)}")
    # Where a user reads the night: the decision record (`tabular-mlops why`) and the run note.
    assert timeline["decisions"][alerted].reasons[1] == reason
    # In the note, a paragraph of its own (it outlasts the other reasons and the report links).
    assert f"**{reason}**" in timeline["alert_note"], timeline["alert_note"]
    client = MlflowClient()
    exp = client.get_experiment_by_name("credit_default_monitoring")
    (run,) = client.search_runs([exp.experiment_id], "tags.monitoring_series = 'credit_default'")
    flags = {
        dt.datetime.fromtimestamp(m.timestamp / 1000, dt.UTC).date(): m.value
        for m in client.get_metric_history(run.info.run_id, f"realized/concept_drift.{method}.roc_auc")
    }
    assert flags[alerted] == 1.0
    # The stable timeline and the label drift: no night with the flag raised, no self-check among the reasons.
    quiet = [n for n in timeline["decisions"] if STABLE_NIGHTS[LAG] <= n < CONCEPT_DRIFT]
    assert len(quiet) == 30 - LAG + 7 and all(flags[n] == 0.0 for n in quiet), {
        n: flags.get(n) for n in quiet
    }
    for night in quiet:
        assert not any(CONCEPT_DRIFT_SUSPECTED in r for r in timeline["decisions"][night].reasons)


def test_mlflow_evidently_and_the_run_note_show_the_same_estimate(timeline):
    """One night's estimate, everywhere a user reads it: the record, MLflow's estimated/* and realized/*, the
    Evidently dashboard's estimate panel (its series query, as the UI serves it) and the run note."""
    from evidently.ui.workspace import Workspace
    from mlflow import MlflowClient
    from tabular_mlops.core.config import load_params
    from tabular_mlops.monitoring.estimate_records import interval_text

    from tests.unit.monitoring.test_estimate_panel import _panel_series

    project, night = timeline["project"], timeline["alerted"]
    estimate = _result(project, night).estimate
    cbpe = estimate.cbpe.metric("roc_auc")
    realized = estimate.realized.metric("roc_auc").value
    client = MlflowClient()
    run_id = _result(project, night).monitoring_run_id
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
    # The realized figure of the window whose labels matured tonight, drawn where its estimate was made.
    matured = dt.date.fromisoformat(estimate.matured_night)
    assert series["realized (matured labels)"][matured] == pytest.approx(realized)
    # The note's table: a row of names, then a row of values (the estimate last).
    assert "| estimated ROC AUC |" in timeline["alert_note"]
    assert f"| {interval_text(cbpe)} (CBPE) |" in timeline["alert_note"], timeline["alert_note"]
    print(f"night {night}: estimated ROC AUC {interval_text(cbpe, 4)}, realized {realized:.4f} ({matured})")
