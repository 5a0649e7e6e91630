"""The pipeline end to end through real Airflow (dag.test), GX, DVC, and an MLflow store, on a temporary
source database, project copy and DVC remote."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml

from tests.support.airflow_runs import Env, run_dag, task_states, tree_bytes
from tests.support.project import REPO, make_project, simulate

pytestmark = pytest.mark.e2e

START = dt.date(2026, 1, 1)
LAG = 30  # params.yaml schema.label_delay_days


def night(app_day: int) -> dt.date:
    """The ingestion night whose data interval extracts application day START + app_day."""
    return START + dt.timedelta(days=app_day + LAG)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, airflow_db):
    project = make_project(tmp_path_factory.mktemp("e2e") / "project")
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["schema"]["label_delay_days"] == LAG
    params["preprocess"].update({"window_days": 14, "holdout_days": 5})
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    db = project / "var" / "source.db"
    db.parent.mkdir(parents=True)
    simulate(project, db, START.isoformat(), 17, 1500)
    simulate(project, db, (START + dt.timedelta(days=15)).isoformat(), 1, 1500, scenario="null_burst")

    env = Env()
    env.set(
        MLOPS_PROJECT_DIR=str(project),
        AIRFLOW_CONN_SOURCE_DB=json.dumps({"conn_type": "sqlite", "host": str(db)}),
        AIRFLOW_CONN_MONITORING_DB=json.dumps(
            {"conn_type": "sqlite", "host": str(db.with_name("monitoring.db"))}
        ),
        MLFLOW_TRACKING_URI=f"sqlite:///{project / 'var' / 'mlflow.db'}",
    )
    out = {"project": project}
    # History in one manual run with an explicit window (application days 0..13), then one scheduled-style night.
    out["window_run"] = run_dag(
        "ingest",
        conf={"window_start": night(0).isoformat(), "window_end": night(14).isoformat()},
    )
    out["night_run"] = run_dag("ingest", logical_date=night(14))
    out["after_first"] = tree_bytes(project / "data") | {"data.dvc": (project / "data.dvc").read_bytes()}
    out["night_rerun"] = run_dag("ingest", logical_date=night(14))
    out["after_rerun"] = tree_bytes(project / "data") | {"data.dvc": (project / "data.dvc").read_bytes()}

    out["train_1"] = run_dag("train_model", logical_date=night(15), conf={"reason": "e2e first training"})
    out["champion_1"] = _champion(params)

    # A deliberately worse model: one shallow tree with a tiny learning rate.
    params["train"]["search_space"] = [
        {"model": "hist_gradient_boosting", "learning_rate": 0.001, "max_depth": 1, "max_iter": 1}
    ]
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out["train_2"] = run_dag("train_model", logical_date=night(16), conf={"reason": "e2e worse model"})
    out["champion_2"] = _champion(params)
    out["versions"] = _versions(params)

    # A broken batch (null burst in income) must stop at validation.
    dvc_before = (project / "data.dvc").read_bytes()
    out["bad_batch"] = run_dag("ingest", logical_date=night(15))
    out["dvc_unchanged_after_bad_batch"] = (project / "data.dvc").read_bytes() == dvc_before
    out["champion_3"] = _champion(params)

    # The source database is unreachable: the extract task retries, then fails.
    env.set(
        AIRFLOW_CONN_SOURCE_DB=json.dumps(
            {"conn_type": "postgres", "host": "127.0.0.1", "port": 1, "login": "nobody", "schema": "none"}
        )
    )
    out["unreachable"] = run_dag("ingest", logical_date=night(16))
    yield out
    env.restore()


def _client():
    from mlflow import MlflowClient

    return MlflowClient()


def _champion(params) -> dict | None:
    from mlflow.exceptions import MlflowException

    try:
        mv = _client().get_model_version_by_alias(params["registry"]["model_name"], "champion")
    except MlflowException:
        return None
    return {"version": mv.version, "tags": dict(mv.tags), "run_id": mv.run_id, "description": mv.description}


def _versions(params) -> dict[str, dict]:
    name = params["registry"]["model_name"]
    return {mv.version: dict(mv.tags) for mv in _client().search_model_versions(f"name='{name}'")}


def test_ingestion_runs_succeed_and_version_the_data(pipeline):
    assert str(pipeline["window_run"].state) == "success"
    assert str(pipeline["night_run"].state) == "success"
    data = pipeline["project"] / "data"
    assert len(list(data.glob("day=*.parquet"))) == 15
    assert (pipeline["project"] / "data.dvc").exists()
    remote = pipeline["project"] / "var" / "dvc-remote"
    assert any(remote.rglob("*")), "dvc push sent nothing to the remote"


def test_rerunning_an_interval_changes_no_bytes(pipeline):
    assert str(pipeline["night_rerun"].state) == "success"
    assert pipeline["after_rerun"] == pipeline["after_first"]


def test_champion_exists_with_lineage(pipeline):
    assert str(pipeline["train_1"].state) == "success"
    champion = pipeline["champion_1"]
    assert champion is not None
    tags = champion["tags"]
    dvc_md5 = yaml.safe_load((pipeline["project"] / "data.dvc").read_text())["outs"][0]["md5"]
    assert tags["dvc_data_hash"] == dvc_md5
    assert len(tags["git_commit"]) == 40
    assert tags["airflow_dag_id"] == "train_model"
    assert tags["airflow_run_id"] == pipeline["train_1"].run_id
    assert tags["retrain_reason"] == "e2e first training"
    assert tags["gate.decision"] == "promoted"
    for gate in ("model_tests", "thresholds", "champion_comparison"):
        assert tags[f"gate.{gate}"].startswith("passed: ")
    assert "# Model card" in champion["description"] and dvc_md5 in champion["description"]


def test_champion_run_has_metrics_params_and_artifacts(pipeline):
    client = _client()
    run = client.get_run(pipeline["champion_1"]["run_id"])
    for metric in ("roc_auc", "pr_auc", "precision", "recall", "f1", "brier", "log_loss"):
        assert f"holdout_{metric}" in run.data.metrics
    assert run.data.params["gate.min_roc_auc"]
    assert run.inputs.dataset_inputs, "training data not logged as an MLflow dataset"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"evaluation", "validation", "model_card.md", "lineage"} <= artifacts
    figures = {a.path.split("/")[-1] for a in client.list_artifacts(run.info.run_id, "evaluation")}
    assert {
        "roc_curve.png",
        "pr_curve.png",
        "calibration_curve.png",
        "confusion_matrix.png",
        "feature_importance.png",
    } <= figures
    children = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    # One child run per search-space candidate, each naming its estimator.
    space = yaml.safe_load((REPO / "params.yaml").read_text())["train"]["search_space"]
    assert len(children) == len(space)
    assert {c.data.params["candidate.model"] for c in children} == {c["model"] for c in space}


def test_worse_model_is_registered_but_not_promoted(pipeline):
    assert str(pipeline["train_2"].state) == "success", "a rejected model is not a DAG failure"
    assert len(pipeline["versions"]) == 2
    assert pipeline["champion_2"]["version"] == pipeline["champion_1"]["version"]
    worse = next(tags for v, tags in pipeline["versions"].items() if v != pipeline["champion_1"]["version"])
    assert worse["gate.decision"].startswith("rejected")
    assert worse["gate.thresholds"].startswith("failed") or worse["gate.champion_comparison"].startswith(
        "failed"
    )


def test_bad_batch_is_quarantined_and_nothing_downstream_runs(pipeline):
    run = pipeline["bad_batch"]
    assert str(run.state) == "failed"
    states = task_states(run)
    assert states["extract"][0] == "success"
    assert states["validate"] == ("failed", 1), "validation failures must not retry"
    assert states["version"][0] == "upstream_failed"
    quarantine = pipeline["project"] / "quarantine"
    assert list(quarantine.glob("*/day=2026-01-16.parquet"))
    assert list(quarantine.glob("*/validation_result.json"))
    assert not (pipeline["project"] / "data" / "day=2026-01-16.parquet").exists()
    assert pipeline["dvc_unchanged_after_bad_batch"]
    assert pipeline["champion_3"]["version"] == pipeline["champion_1"]["version"]


def test_unreachable_source_fails_after_retries(pipeline):
    run = pipeline["unreachable"]
    assert str(run.state) == "failed"
    states = task_states(run)
    assert states["extract"] == ("failed", 3)
    assert states["validate"][0] == "upstream_failed"
    assert not list((pipeline["project"] / "var" / "landing").glob("2026-02-16*/*.parquet"))
