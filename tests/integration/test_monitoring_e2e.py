"""Fire drills through real Airflow (dag.test), MLflow, DVC and Evidently: a covariate shift the champion handles
(kept: "drifted, performing (estimated)"), then one that hurts it (the model extrapolates) and must trigger a
retraining on its first night with its reasons, the cooldown, idempotent scoring, an empty night."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
import yaml

from tests.support.airflow_runs import challenger_of, drop_queued_runs, project_env, run_dag, task_states
from tests.support.project import make_project, simulate

pytestmark = pytest.mark.e2e

START = dt.date(2026, 1, 1)
LAG = 30
SHIFT = dt.date(2026, 2, 4)
BENIGN = [SHIFT - dt.timedelta(days=3), SHIFT - dt.timedelta(days=2), SHIFT - dt.timedelta(days=1)]


@pytest.fixture(scope="module")
def drill(tmp_path_factory, airflow_db):
    project = make_project(tmp_path_factory.mktemp("drill") / "project")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["preprocess"].update({"window_days": 14, "holdout_days": 5})
    params["monitor"].update({"window_days": 3, "min_rows": 300, "cooldown_days": 7})
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env, db, monitor_db = project_env(project)
    simulate(project, db, START.isoformat(), 40, 1200)
    # Three nights of a shift the model handles (P(default | x) unchanged, inside what it trained on), then one
    # that hurts it (half the applicants beyond the open-account counts it ever saw).
    simulate(project, db, BENIGN[0].isoformat(), 3, 1200, scenario="covariate_shift")
    simulate(project, db, SHIFT.isoformat(), 3, 1200, scenario="covariate_harmful")
    night0 = START + dt.timedelta(days=LAG)
    out = {"project": project, "monitor_db": monitor_db}
    assert (
        str(
            run_dag(
                "ingest",
                conf={
                    "window_start": night0.isoformat(),
                    "window_end": (night0 + dt.timedelta(days=20)).isoformat(),
                },
            ).state
        )
        == "success"
    )
    assert str(run_dag("train_model", logical_date=night0 + dt.timedelta(days=20)).state) == "success"
    out["nights"] = {}
    for night in [
        SHIFT - dt.timedelta(days=3),
        SHIFT - dt.timedelta(days=2),
        SHIFT - dt.timedelta(days=1),
        SHIFT,
        SHIFT + dt.timedelta(days=1),
    ]:
        out["nights"][night] = run = run_dag("monitor_nightly", logical_date=night)
        # dag.test() replaces an earlier run of the same logical date, so read the task states now.
        out.setdefault("states", {})[night] = task_states(run)
    out["log_before_rerun"] = _log_rows(monitor_db, SHIFT - dt.timedelta(days=3))
    # The first night built the champion's reference cache; the re-run reads it.
    out["summary_cold"] = _result(project, SHIFT - dt.timedelta(days=3)).summary
    out["rerun"] = run_dag("monitor_nightly", logical_date=SHIFT - dt.timedelta(days=3))
    out["log_after_rerun"] = _log_rows(monitor_db, SHIFT - dt.timedelta(days=3))
    out["summary_warm"] = _result(project, SHIFT - dt.timedelta(days=3)).summary
    out["empty"] = run_dag("monitor_nightly", logical_date=dt.date(2026, 3, 20))
    out["empty_states"] = task_states(out["empty"])
    out["triggered"] = _dag_run("train_model", f"retrain__{SHIFT.isoformat()}")
    # The scheduler would now run the triggered retraining: run it with the same conf, after one more night
    # of matured data has been ingested (otherwise DVC rightly finds nothing new to train on).
    run_dag("ingest", logical_date=night0 + dt.timedelta(days=20))
    out["retrain"] = run_dag("train_model", logical_date=SHIFT, conf=out["triggered"]["conf"])
    # History is not rewritten: after the promotion, re-running an old night keeps the version that scored it,
    # unless the run asks to re-score with today's champion.
    old_night = SHIFT - dt.timedelta(days=3)
    _ensure_newest_is_champion(monitor_db)
    out["after_promotion_rerun"] = run_dag("monitor_nightly", logical_date=old_night)
    out["log_after_promotion_rerun"] = _log_rows(monitor_db, old_night)
    out["rescored"] = run_dag("monitor_nightly", logical_date=old_night, conf={"rescore": True})
    out["log_rescored"] = _log_rows(monitor_db, old_night)
    yield out
    drop_queued_runs("train_model")
    env.restore()


def _ensure_newest_is_champion(monitor_db):
    """Whatever the retraining's gate decided, the newest version becomes champion with the gate's marks (this
    module tests re-runs after a promotion, not the gate)."""
    from mlflow import MlflowClient

    from tests.support.gate_marks import promote_as_the_gate

    client = MlflowClient()
    newest = max(int(v.version) for v in client.search_model_versions("name='credit_default'"))
    if str(newest) != client.get_model_version_by_alias("credit_default", "champion").version:
        promote_as_the_gate("credit_default", str(newest), sa.create_engine(f"sqlite:///{monitor_db}"))


def _log_rows(path, night):
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT prediction_id, score, model_version FROM prediction_log "
                "WHERE applied_at >= :a AND applied_at < :b ORDER BY prediction_id"
            ),
            {"a": str(night), "b": str(night + dt.timedelta(days=1))},
        ).fetchall()


def _dag_run(dag_id, run_id):
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.run_id == run_id).one_or_none()
        if run is None:
            return None
        return {"conf": dict(run.conf or {}), "state": str(run.state), "note": run.note}


def _result(project, night):
    from tabular_mlops.core.config import load_params
    from tabular_mlops.monitoring.night_record import read_result

    return read_result(project, load_params(project / "params.yaml").paths, night)


def _decisions(path):
    """NightRecord per night."""
    from tabular_mlops.monitoring import decisions_log

    return {r.night: r for r in decisions_log.history(sa.create_engine(f"sqlite:///{path}"))}


def test_a_shift_that_does_not_hurt_keeps_the_champion_on_its_estimate(drill):
    """The drift rules fire on the benign shift, but the estimated ROC AUC stays within
    monitor.max_estimated_drop of the holdout's: kept, "drifted, performing (estimated)", with the figures."""
    decisions = _decisions(drill["monitor_db"])
    for night in BENIGN:
        assert str(drill["nights"][night].state) == "success"
        assert decisions[night].action == "keep", decisions[night]
        assert drill["states"][night]["trigger_retraining"][0] == "skipped"
    last = decisions[BENIGN[-1]]
    assert last.reasons[0].startswith("drifted, performing (estimated): estimated ROC AUC "), last.reasons
    assert "monitor.max_estimated_drop 0.03" in last.reasons[0] and "income" in " ".join(last.reasons[1:])
    estimate = _result(drill["project"], BENIGN[-1]).estimate
    roc = estimate.cbpe.metric("roc_auc")
    assert roc.lower < roc.value < roc.upper and estimate.calibrator in ("isotonic", "identity")
    assert estimate.harm.drop <= 0.03 and estimate.harm.unsupported is None
    assert estimate.importance.details["effective_rows"] >= 300 and not estimate.importance.withheld
    assert estimate.value.per_row is not None and estimate.value_unit == "EUR"
    for name in ("pr_auc", "precision", "recall", "flag_rate", "brier"):
        assert estimate.cbpe.metric(name).value is not None, name


def test_covariate_shift_triggers_retraining_with_reasons(drill):
    assert str(drill["nights"][SHIFT].state) == "success"
    assert drill["states"][SHIFT]["trigger_retraining"][0] == "success"
    decision = _decisions(drill["monitor_db"])[SHIFT]
    assert decision.action == "retrain"
    assert decision.triggered_run_id == f"retrain__{SHIFT.isoformat()}"
    text = " ".join(decision.reasons)
    assert "has_smartphone" in text and "income" in text
    # Retrained on the shift's first night, on the estimate: matured labels arrive 30 nights later.
    assert decision.reasons[0].startswith("drifted, harmed (estimated): estimated ROC AUC "), decision.reasons
    harm = _result(drill["project"], SHIFT).estimate.harm
    assert harm.unsupported is not None or harm.drop > 0.03, harm
    assert drill["triggered"] is not None, "train_model was not triggered"
    assert "has_smartphone" in drill["triggered"]["conf"]["reason"]
    assert drill["triggered"]["conf"]["night"] == SHIFT.isoformat()
    report = drill["project"] / "reports" / SHIFT.isoformat() / "drift_report.html"
    assert report.exists() and report.stat().st_size > 10_000
    # The night's typed result (summary.json) is what the task returned: its reason went into the conf.
    result = _result(drill["project"], SHIFT)
    assert result.action == "retrain" and result.reason == drill["triggered"]["conf"]["reason"]
    assert result.training_window_end.isoformat() == drill["triggered"]["conf"]["window_end"]
    assert str(report) in result.reports
    assert ("retraining", f"retraining needed on night {SHIFT}") in [(a.kind, a.title) for a in result.alerts]


def test_the_airflow_runs_explain_themselves_in_their_notes(drill):
    """The nightly run's note: decision, the decision's figures and reasons; the retraining's: why it ran."""
    night = _dag_run("monitor_nightly", drill["nights"][SHIFT].run_id)
    assert night["note"].startswith(f"**RETRAIN** night {SHIFT}, champion v1"), night["note"]
    assert "drift share" in night["note"]
    # The reasons fit whole or are counted and pointed to (`tabular-mlops why`), never cut.
    result = _result(drill["project"], SHIFT)
    assert "has_smartphone" in night["note"] or (
        f"more, in full in tabular-mlops why --night {SHIFT}" in night["note"]
        and "has_smartphone" in " ".join(result.decision.reasons)
    ), night["note"]
    headline = result.estimate.headline()
    assert headline.startswith("estimated ROC AUC 0.") and "| estimated ROC AUC |" in night["note"]
    assert f"| {headline.removeprefix('estimated ROC AUC ')} |" in night["note"], night["note"]
    retrain = _dag_run("train_model", drill["retrain"].run_id)
    assert f"| monitoring night {SHIFT} |" in retrain["note"], retrain["note"]
    assert "\n- why: " in retrain["note"], retrain["note"]
    assert "PROMOTED" in retrain["note"]
    # Each note links to the other run, as a path on the Airflow UI that shows it, and the run it names exists.
    from urllib.parse import quote

    monitor_run_id = drill["nights"][SHIFT].run_id
    training_run_id = f"retrain__{SHIFT.isoformat()}"
    assert f"](/dags/train_model/runs/{quote(training_run_id, safe='')})" in night["note"], night["note"]
    assert f"](/dags/monitor_nightly/runs/{quote(monitor_run_id, safe='')})" in retrain["note"], retrain[
        "note"
    ]
    assert _dag_run("train_model", training_run_id) is not None
    assert _dag_run("monitor_nightly", monitor_run_id)["note"] == night["note"]


def test_single_flight_keeps_the_next_night(drill):
    """The triggered retraining is still queued (no scheduler in tests): the next night must not pile on."""
    decision = _decisions(drill["monitor_db"])[SHIFT + dt.timedelta(days=1)]
    assert decision.action == "keep"
    assert any("already in flight" in r for r in decision.reasons)
    assert any("drift" in r for r in decision.reasons)


def test_retraining_run_carries_the_trigger_reason_and_ends_at_the_gate(drill):
    assert str(drill["retrain"].state) == "success"
    run, version = challenger_of(drill["retrain"].run_id)
    assert "has_smartphone" in run.data.tags["retrain_reason"]
    assert run.data.tags["trigger_night"] == SHIFT.isoformat()
    assert version.tags["gate.decision"] != "pending"


def test_metrics_are_logged_per_night_in_mlflow(drill):
    from mlflow import MlflowClient

    client = MlflowClient()
    exp = client.get_experiment_by_name("credit_default_monitoring")
    # One series for the registered model, whatever the champion: a chart over nights is one line.
    (run,) = client.search_runs([exp.experiment_id], "tags.monitoring_series = 'credit_default'")
    history = client.get_metric_history(run.info.run_id, "drift/share")
    assert len({m.step for m in history}) >= 5
    assert any(m.value > 0 for m in history)
    assert "drift/psi.income" in run.data.metrics
    # Wall time is the night; the step is the night's day count since the series' first night (one per night).
    stamps = {dt.datetime.fromtimestamp(m.timestamp / 1000, dt.UTC).date(): m.step for m in history}
    start = dt.date.fromisoformat(run.data.tags["series_start"])
    assert SHIFT in stamps and all(step == (night - start).days for night, step in stamps.items())
    versions: dict[int, set[float]] = {}
    for m in client.get_metric_history(run.info.run_id, "champion/version"):
        versions.setdefault(m.step, set()).add(m.value)
    # The champion is logged every night, also on a night without a drift window (no drift/share); a night
    # monitored again by a later champion keeps both values on its step (MLflow appends, never overwrites).
    assert set(stamps.values()) <= set(versions) and 1.0 in versions[min(versions)]
    # The estimate beside the drift, the same figures as the night's record.
    estimate = _result(drill["project"], BENIGN[-1]).estimate
    stamp = int(dt.datetime.combine(BENIGN[-1], dt.time(), tzinfo=dt.UTC).timestamp() * 1000)
    for key, figure in (
        ("estimated/roc_auc", estimate.cbpe.metric("roc_auc").value),
        ("estimated/roc_auc.lower", estimate.cbpe.metric("roc_auc").lower),
        ("estimated/importance.roc_auc", estimate.importance.metric("roc_auc").value),
        ("estimated/value_per_row", estimate.value.per_row),
    ):
        (value,) = [m.value for m in client.get_metric_history(run.info.run_id, key) if m.timestamp == stamp]
        assert value == pytest.approx(figure), key


def test_decision_record_mlflow_and_evidently_agree_on_the_shift_night(drill):
    """One set of numbers: the decision record, the MLflow metrics and the Evidently snapshot of the same night."""
    from evidently.ui.workspace import Workspace
    from mlflow import MlflowClient
    from tabular_mlops.core.config import load_params
    from tabular_mlops.monitoring.workspace import INDEX_FILE

    from tests.unit.monitoring.test_evidently_reports import evidently_figures

    record = _decisions(drill["monitor_db"])[SHIFT]
    result = _result(drill["project"], SHIFT)
    client = MlflowClient()
    stamp = int(dt.datetime.combine(SHIFT, dt.time(), tzinfo=dt.UTC).timestamp() * 1000)

    def logged(key):
        (value,) = [
            m.value for m in client.get_metric_history(result.monitoring_run_id, key) if m.timestamp == stamp
        ]
        return value

    params = load_params(drill["project"] / "params.yaml")
    ws_dir = drill["project"] / params.paths.evidently_workspace
    workspace = Workspace.create(str(ws_dir))
    (project,) = workspace.search_project("credit_default monitoring")
    index = __import__("json").loads((ws_dir / INDEX_FILE).read_text())
    snapshot = workspace.get_run(project.id, index[f"{project.id}/{SHIFT}/drift"])
    evidently = evidently_figures(snapshot)
    assert (
        record.drift_share == pytest.approx(logged("drift/share")) == pytest.approx(evidently["drift_share"])
    )
    # The retrain fired on the window or on the newest night alone: both figures are in MLflow.
    last = result.summary.last_night
    assert logged("drift/last_night_share") == pytest.approx(last.drift_share)
    assert max(record.drift_share, last.drift_share) > params.monitor.drift_share_threshold
    banner = (drill["project"] / params.paths.reports_dir / str(SHIFT) / "drift_report.html").read_text()
    assert (
        f"drift share {last.drift_share:.3f}" in banner and f"drift share {record.drift_share:.3f}" in banner
    )
    assert result.summary.score_psi == pytest.approx(logged("drift/score_psi"))
    assert logged("drift/score_psi") == pytest.approx(evidently["score"])
    for column in result.summary.window.columns:
        assert logged(f"drift/psi.{column.column}") == pytest.approx(column.psi, abs=1e-6)
    labels = {"night": SHIFT.isoformat(), "champion": "v1", "decision": "retrain", "mark": "retrain"}
    assert snapshot.metadata == labels
    # The report page names the night, champion and decision, then draws the nights with the decision's figure.
    banner_widget, drift_chart = snapshot.widgets[:2]
    assert banner_widget.title == f"{SHIFT} drift report: champion v1, decision retrain"
    assert f"drift share {record.drift_share:.3f}" in banner_widget.params["text"]
    line, *marks = drift_chart.params["data"]
    assert dict(zip(line["x"], line["y"], strict=True))[SHIFT.isoformat()] == pytest.approx(
        record.drift_share
    )
    assert SHIFT.isoformat() in next(m for m in marks if m["name"] == "retrain night")["x"]


def test_the_reference_is_prepared_once_per_champion_version_and_reused(drill):
    from tabular_mlops.core.config import load_params
    from tabular_mlops.core.contracts import ReferenceCacheFile
    from tabular_mlops.monitoring.reference_profile import load_profile

    params = load_params(drill["project"] / "params.yaml")
    entries = sorted((drill["project"] / params.paths.reference_cache_dir).iterdir())
    # Version 1 for the drill's nights, the promoted newest version for the re-runs after the promotion.
    # No interrupted build left behind (those are hidden temporary folders).
    assert sorted(e.name.split("-")[1] for e in entries) == sorted({"v1", f"v{_newest()}"})
    for entry in entries:
        assert (entry / ReferenceCacheFile.COMPLETE).exists()
    v1 = next(e for e in entries if "-v1-" in e.name)
    assert load_profile(v1 / ReferenceCacheFile.PROFILE).rows == drill["summary_cold"].reference_rows
    # A night computed from the cache is the night computed from the reference itself.
    assert drill["summary_warm"] == drill["summary_cold"]


def _newest():
    from mlflow import MlflowClient

    return max(int(v.version) for v in MlflowClient().search_model_versions("name='credit_default'"))


def test_rescoring_a_night_replaces_rather_than_duplicates(drill):
    assert str(drill["rerun"].state) == "success"
    assert len(drill["log_before_rerun"]) == 1200
    assert [(r[0], r[1]) for r in drill["log_after_rerun"]] == [
        (r[0], r[1]) for r in drill["log_before_rerun"]
    ]


def test_empty_night_ends_with_no_data_and_no_decision(drill):
    assert str(drill["empty"].state) == "success"
    decision = _decisions(drill["monitor_db"])[dt.date(2026, 3, 20)]
    assert decision.status == "no_data" and decision.action is None
    assert drill["empty_states"]["trigger_retraining"][0] == "skipped"


def test_a_rerun_after_a_promotion_keeps_the_version_that_scored_the_night(drill):
    from mlflow import MlflowClient
    from tabular_mlops.core.contracts import CHAMPION

    champion = MlflowClient().get_model_version_by_alias("credit_default", CHAMPION).version
    before = {r[2] for r in drill["log_before_rerun"]}
    assert before == {"1"} and str(champion) != "1", (before, champion)
    assert str(drill["after_promotion_rerun"].state) == "success"
    assert drill["log_after_promotion_rerun"] == drill["log_before_rerun"]
    assert str(drill["rescored"].state) == "success"
    assert {r[2] for r in drill["log_rescored"]} == {str(champion)}
