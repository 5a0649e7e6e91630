"""`tabular-mlops why` on a real local MLflow store and monitoring database (no Airflow)."""

import datetime as dt
import json

import mlflow
import pytest
import sqlalchemy as sa
from mlflow import MlflowClient
from tabular_mlops.cli import main
from tabular_mlops.monitoring import decisions_log
from tabular_mlops.monitoring.results import Action, Decision, NightRecord, Status

from tests.support.project import REPO

PARAMS = ["--params", str(REPO / "params.yaml")]


@pytest.fixture()
def stores(tmp_path, monkeypatch, repo_params):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLOPS_PROJECT_DIR", str(tmp_path))
    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    experiment = client.create_experiment(
        repo_params.registry.experiment_name, artifact_location=str(tmp_path / "artifacts")
    )
    # The challenger of a retraining (tagged with its Airflow run id) and an unrelated earlier training.
    for airflow_run_id, gate in (
        ("scheduled__2026-04-01", "promoted"),
        ("retrain__2026-04-04", "rejected: x"),
    ):
        run = client.create_run(experiment, tags={"airflow_run_id": airflow_run_id, "stage": "challenger"})
        if not client.search_registered_models(f"name='{repo_params.registry.model_name}'"):
            client.create_registered_model(repo_params.registry.model_name)
        version = client.create_model_version(
            repo_params.registry.model_name, str(tmp_path / "model"), run_id=run.info.run_id
        )
        client.set_model_version_tag(repo_params.registry.model_name, version.version, "gate.decision", gate)
    db = tmp_path / "monitoring.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    for night, action, reasons, share in (
        (dt.date(2026, 4, 4), Action.RETRAIN, ["drift in key features income"], 0.4),
        (dt.date(2026, 4, 5), Action.RETRAIN, ["score drift"], 0.4),
        (dt.date(2026, 4, 6), Action.KEEP, ["no drift or performance rule fired"], 0.0),
    ):
        decisions_log.record(engine, Decision(night, Status.OK, action, reasons), "1", share)
        if action is Action.RETRAIN:
            decisions_log.record_trigger(engine, night, f"retrain__{night}")
    yield db
    mlflow.set_tracking_uri(None)  # back to the environment (unset in tests)


def test_why_joins_the_decision_with_the_retraining_and_its_gate(stores, capsys):
    assert main([*PARAMS, "why", "--db-url", f"sqlite:///{stores}", "--night", "2026-04-04"]) == 0
    (night,) = json.loads(capsys.readouterr().out)
    assert night == {
        "night": "2026-04-04",
        "status": "ok",
        "action": "retrain",
        "reasons": ["drift in key features income"],
        "champion_version": "1",
        "drift_share": 0.4,
        "triggered_run_id": "retrain__2026-04-04",
        "retraining": {
            "airflow_run_id": "retrain__2026-04-04",
            "mlflow_run_id": night["retraining"]["mlflow_run_id"],
            "version": "2",
            "gate": "rejected: x",
        },
        "shadow": None,  # no challenger answered in shadow that night
    }
    # The same JSON reads back as the type the audit returns.
    assert NightRecord.from_dict(night).retraining.version == "2"


def test_why_lists_recent_nights_and_says_when_no_training_is_found(stores, capsys):
    assert main([*PARAMS, "why", "--db-url", f"sqlite:///{stores}", "--last", "2"]) == 0
    nights = json.loads(capsys.readouterr().out)
    assert [n["night"] for n in nights] == ["2026-04-05", "2026-04-06"]
    assert nights[0]["retraining"]["version"] is None
    assert nights[0]["retraining"]["gate"].startswith("no training run tagged with this Airflow run")
    assert nights[1]["retraining"] is None


def test_a_re_run_night_keeps_its_trigger_and_the_cooldown_counts_it(stores):
    engine = sa.create_engine(f"sqlite:///{stores}")
    night = dt.date(2026, 4, 4)
    decisions_log.record(engine, Decision(night, Status.OK, Action.RETRAIN, ("re-run",)), "1", 0.5)
    record = decisions_log.night_record(engine, night)
    assert record.reasons == ("re-run",) and record.triggered_run_id == "retrain__2026-04-04"
    assert decisions_log.last_retrain(engine, dt.date(2026, 4, 5)) == night
    assert decisions_log.last_retrain(engine, night) is None
    assert decisions_log.last_judged_night(engine) == dt.date(2026, 4, 6)
    assert decisions_log.night_record(engine, dt.date(2026, 4, 7)) is None
    assert [r.night for r in decisions_log.history(engine)] == [
        night,
        night + dt.timedelta(1),
        night + dt.timedelta(2),
    ]


def test_why_is_read_only_on_a_wrong_database(tmp_path, stores, capsys):
    assert main([*PARAMS, "why", "--db-url", f"sqlite:///{tmp_path / 'missing.db'}"]) == 1
    assert not (tmp_path / "missing.db").exists()
    empty = tmp_path / "empty.db"
    sa.create_engine(f"sqlite:///{empty}").connect().close()
    assert main([*PARAMS, "why", "--db-url", f"sqlite:///{empty}"]) == 1
    assert "no table 'monitoring_decisions'" in capsys.readouterr().err
    assert not sa.inspect(sa.create_engine(f"sqlite:///{empty}")).has_table("monitoring_decisions")
    with pytest.raises(SystemExit):
        main([*PARAMS, "why", "--db-url", f"sqlite:///{stores}", "--last", "0"])
