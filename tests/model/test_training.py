"""Training on the real libraries (sklearn, MLflow store, DVC-stage functions), outside Airflow."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from tabular_mlops.core.config import load_params
from tabular_mlops.core.contracts import CHALLENGER, CHAMPION, PREVIOUS_CHAMPION, RUN_FILE
from tabular_mlops.model.tracking import configure_tracking
from tabular_mlops.training import registry
from tabular_mlops.training.evaluate import evaluate
from tabular_mlops.training.preprocess import split_window
from tabular_mlops.training.train import train

from tests.support.project import ledger_engine, make_project, publish_history, register, tracking_store

START = dt.date(2026, 1, 1)


@pytest.fixture(scope="module")
def trained_project(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("train") / "project")
    with tracking_store(f"sqlite:///{project / 'mlflow.db'}"):
        params = load_params(project / "params.yaml")
        publish_history(project, params, rows=1500)
        split_window(params, project)
        yield project, params


def test_two_trainings_on_the_same_data_give_identical_metrics(trained_project):
    project, params = trained_project
    first = train(params, project)
    first_eval = evaluate(params, project)
    second = train(params, project)
    second_eval = evaluate(params, project)
    assert first["run_id"] != second["run_id"]
    assert first["val_roc_auc"] == second["val_roc_auc"]
    assert first_eval == second_eval
    assert 0.5 < first_eval["roc_auc"] <= 1.0


def test_failed_registration_leaves_no_half_registered_version(trained_project, monkeypatch):
    project, params = trained_project
    train(params, project)
    configure_tracking(params, project)
    from mlflow import MlflowClient

    before = len(MlflowClient().search_model_versions(f"name='{params.registry.model_name}'"))

    def registry_down(*args, **kwargs):
        raise ConnectionError("registry went away")

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", registry_down)
    with pytest.raises(ConnectionError):
        register(params, project)
    monkeypatch.undo()
    after = MlflowClient().search_model_versions(f"name='{params.registry.model_name}'")
    assert len(after) == before


def test_rollback_restores_the_previous_champion(trained_project):
    project, params = trained_project
    configure_tracking(params, project)
    name = params.registry.model_name
    versions = []
    for _ in range(2):
        train(params, project)
        evaluate(params, project)
        versions.append(register(params, project).version)
        registry.promote_if_better(params, project, str(versions[-1]), ledger_engine(project), "test")
    assert registry.alias_version(name, CHAMPION) == str(versions[1])
    # Tags say the truth after promotion: the champion holds no `challenger` alias, its run says `promoted`.
    from mlflow import MlflowClient

    client = MlflowClient()
    assert registry.alias_version(name, CHALLENGER) is None
    for version in versions:
        run_id = client.get_model_version(name, str(version)).run_id
        assert client.get_run(run_id).data.tags["stage"] == "promoted"
    result = registry.rollback(name, ledger_engine(project), "test", reason="test")
    assert result.champion == str(versions[0])
    assert registry.alias_version(name, CHAMPION) == str(versions[0])
    assert registry.alias_version(name, PREVIOUS_CHAMPION) == str(versions[1])
    run = json.loads((project / params.paths.model_dir / RUN_FILE).read_text())
    assert run["run_id"]


def test_a_re_evaluation_never_rewrites_the_training_runs_metrics(trained_project):
    """Evaluate again after a threshold change: a new run linked to the training run, which keeps its values."""
    import dataclasses

    from mlflow import MlflowClient
    from tabular_mlops.core.contracts import RunStage, Tag

    project, params = trained_project
    info = train(params, project)
    evaluate(params, project)
    client = MlflowClient()
    before = client.get_run(info["run_id"]).data.metrics
    other = dataclasses.replace(params, evaluate=dataclasses.replace(params.evaluate, decision_threshold=0.5))
    evaluate(other, project)
    assert client.get_run(info["run_id"]).data.metrics == before
    again = client.search_runs([info["experiment_id"]], f"tags.{Tag.EVALUATES_RUN} = '{info['run_id']}'")
    assert len(again) == 1 and again[0].data.tags[Tag.STAGE] == RunStage.EVALUATION
    assert again[0].data.metrics["holdout_recall"] != before["holdout_recall"]


def test_a_row_budget_limits_the_search_and_is_recorded_on_the_run(trained_project):
    import dataclasses

    from mlflow import MlflowClient

    project, params = trained_project
    budgeted = dataclasses.replace(
        params, train=dataclasses.replace(params.train, max_rows=2000, refit_on="budget")
    )
    info = train(budgeted, project)
    metrics = MlflowClient().get_run(info["run_id"]).data.metrics
    assert metrics["rows_search"] <= 2010 < metrics["rows_window"]
    assert metrics["rows_refit"] == metrics["rows_search"]
    # The same budget and seed choose the same rows, so the search gives the same result.
    assert (
        train(budgeted, project)[f"val_{params.train.selection_metric}"]
        == info[f"val_{params.train.selection_metric}"]
    )


def test_a_data_rule_threshold_is_chosen_on_validation_and_recorded_on_the_version(trained_project):
    """target_flag_rate: the threshold flags that share of the winner's out-of-sample validation scores; it is on
    the run, in run.json and on the registered version, and the loaded version decides with it."""
    import dataclasses

    import pandas as pd
    from mlflow import MlflowClient
    from tabular_mlops.core.config import ThresholdRule
    from tabular_mlops.core.contracts import TRAIN_FILE, Tag
    from tabular_mlops.model.scoring import load_version, score_frame
    from tabular_mlops.training.train import fit_candidate, time_split

    project, params = trained_project
    rule = ThresholdRule(rule="target_flag_rate", rate=0.2)
    params = dataclasses.replace(
        params, evaluate=dataclasses.replace(params.evaluate, decision_threshold=rule)
    )
    info = train(params, project)
    evaluate(params, project)
    chosen = info[Tag.DECISION_THRESHOLD]
    assert 0 < chosen < 1
    df = pd.read_parquet(project / params.paths.processed_dir / TRAIN_FILE)
    fit_part, val_part = time_split(df, params.preprocess.validation_fraction)
    winner = fit_candidate(fit_part, params.schema, info["best_hyperparams"], params.train.seed)
    flagged = (score_frame(winner, val_part, params.schema) >= chosen).mean()
    assert abs(flagged - 0.2) < 0.01
    version = register(params, project).version
    loaded = load_version(params.registry.model_name, version)
    assert loaded.tags[Tag.DECISION_THRESHOLD] == f"{chosen:.6f}"
    assert loaded.threshold(rule) == pytest.approx(chosen, abs=1e-6)
    assert MlflowClient().get_run(info["run_id"]).data.tags[Tag.DECISION_THRESHOLD] == f"{chosen:.6f}"


def test_a_training_run_is_named_by_window_and_reason_then_by_its_version(trained_project, monkeypatch):
    """Two trainings of the same window never share a name: the version joins it at registration."""
    project, params = trained_project
    monkeypatch.setenv(
        "MLOPS_TRIGGER_REASON",
        "last night: share of drifted columns 0.36 > 0.3; score drift PSI 0.078 > 0.05",
    )
    configure_tracking(params, project)
    from mlflow import MlflowClient

    client = MlflowClient()
    names = []
    for _ in range(2):
        info = train(params, project)
        window_end = info["window"]["window_end"]
        assert client.get_run(info["run_id"]).info.run_name == f"train {window_end} drift"
        evaluate(params, project)
        version = register(params, project).version
        names.append(client.get_run(info["run_id"]).info.run_name)
        assert names[-1] == f"train v{version} {window_end} drift"
        # Registering again (a retried task) keeps the name.
        register(params, project)
        assert client.get_run(info["run_id"]).info.run_name == names[-1]
    assert names[0] != names[1]


def test_with_require_proof_the_first_version_is_promoted_a_later_one_handed_over_and_a_rejected_one_gives_the_alias_back(
    trained_project,
):
    """deploy.require_proof hands a passing challenger to deploy_model; with no champion yet there is nothing to
    prove it against and no service could start, so the first version is promoted. A retraining the gate rejects
    while that rollout is in progress gives the `challenger` alias (register_challenger's) back to the version in
    rollout, which deploy_model would otherwise never step again (design point 4 of issue 25)."""
    import dataclasses

    from mlflow import MlflowClient
    from tabular_mlops.core.contracts import GATE_HANDED_OVER, GATE_PROMOTED, Tag

    project, params = trained_project
    configure_tracking(params, project)
    proof = dataclasses.replace(
        params,
        registry=dataclasses.replace(params.registry, model_name="proof_first"),
        deploy=dataclasses.replace(params.deploy, require_proof=True),
    )
    train(proof, project)
    evaluate(proof, project)
    first = str(register(proof, project).version)
    result = registry.promote_if_better(proof, project, first, ledger_engine(project), "test")
    assert result.promoted, result
    assert registry.alias_version("proof_first", CHAMPION) == first
    assert MlflowClient().get_model_version("proof_first", first).tags[Tag.GATE_DECISION] == GATE_PROMOTED
    # A version the gate passes once a champion exists (the same data and seed again: within champion_margin) is
    # handed over, not promoted.
    train(proof, project)
    evaluate(proof, project)
    second = str(register(proof, project).version)
    assert second != first
    result = registry.promote_if_better(proof, project, second, ledger_engine(project), "test")
    tags = MlflowClient().get_model_version("proof_first", second).tags
    assert not result.promoted and tags[Tag.GATE_DECISION] == GATE_HANDED_OVER, tags
    assert registry.alias_version("proof_first", CHAMPION) == first
    assert registry.alias_version("proof_first", CHALLENGER) == second
    # deploy_model's first night: the rollout is in shadow. A retraining registers a third version (it takes the
    # alias before the gate runs) and the gate rejects it: no model reaches a ROC AUC of 1.
    MlflowClient().set_model_version_tag("proof_first", second, Tag.ROLLOUT_SINCE, "2026-03-01")
    strict = dataclasses.replace(proof, gate=dataclasses.replace(proof.gate, min_roc_auc=1.0))
    train(strict, project)
    evaluate(strict, project)
    third = str(register(strict, project).version)
    assert registry.alias_version("proof_first", CHALLENGER) == third
    result = registry.promote_if_better(strict, project, third, ledger_engine(project), "test")
    tags = MlflowClient().get_model_version("proof_first", third).tags
    assert result.rejected and tags[Tag.GATE_DECISION].startswith("rejected: "), tags
    assert registry.alias_version("proof_first", CHALLENGER) == second
    assert registry.alias_version("proof_first", CHAMPION) == first
    assert result.challenger_alias == (
        f"the 'challenger' alias back on v{second} from v{third}: v{second}'s rollout (shadow since 2026-03-01) "
        "goes on"
    )
    back = MlflowClient().get_model_version("proof_first", second).tags
    assert back[Tag.ROLLOUT_STAGE] == "shadow"
    assert back[Tag.ROLLOUT_ALIAS_BACK].endswith(
        f"back from v{third} by test; v{third}: {tags[Tag.GATE_DECISION]}"
    )
