"""The `challenger` alias of a version the gate did not take, on a real MLflow registry (SQLite store): back to
the version whose rollout is in progress, or removed; both or neither of the move and its record (design point 4
of issue 25; the gate's own path is tests/model/test_training.py)."""

from __future__ import annotations

import mlflow
import pytest
from mlflow import MlflowClient
from tabular_mlops.core.contracts import CHALLENGER, CHAMPION, RolloutStage, Tag
from tabular_mlops.model.challenger_alias import give_back_challenger, version_in_rollout

from tests.support.project import tracking_store

WHY = "rejected: roc_auc 0.61 < 0.7"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One SQLite store for the module (creating one runs MLflow's migrations: seconds), a model per test."""
    folder = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with tracking_store(uri):
        mlflow.set_tracking_uri(uri)
        yield folder
        mlflow.set_tracking_uri(None)


@pytest.fixture()
def registry(store, request):
    """A registered model of its own: v1 champion, v2 and v3 earlier challengers, v4 the retraining's version
    holding `challenger` (register_challenger sets it before the gate runs)."""
    name = request.node.name[:60]
    client = MlflowClient()
    client.create_registered_model(name)
    for _ in range(4):
        client.create_model_version(name, str(store / "model"))
    client.set_registered_model_alias(name, CHAMPION, "1")
    client.set_registered_model_alias(name, CHALLENGER, "4")
    return client, name


def _stage(registry, version: str, stage: str, since: str | None = None) -> None:
    client, name = registry
    client.set_model_version_tag(name, version, Tag.ROLLOUT_STAGE, stage)
    if since:
        client.set_model_version_tag(name, version, Tag.ROLLOUT_SINCE, since)


def _alias(registry) -> str | None:
    client, name = registry
    return {a: str(v) for a, v in client.get_registered_model(name).aliases.items()}.get(CHALLENGER)


def _tags(registry, version: str) -> dict[str, str]:
    client, name = registry
    return client.get_model_version(name, version).tags


def test_the_alias_goes_back_to_the_version_in_rollout_with_a_record(registry):
    _stage(registry, "2", RolloutStage.ROLLED_BACK)  # an ended rollout is not taken back
    _stage(registry, "3", RolloutStage.CANARY, "2026-03-05")
    said = give_back_challenger(*registry, "4", WHY, "airflow:train_model/r1")
    assert said == "the 'challenger' alias back on v3 from v4: v3's rollout (canary since 2026-03-05) goes on"
    assert _alias(registry) == "3"
    record = _tags(registry, "3")[Tag.ROLLOUT_ALIAS_BACK]
    assert record.endswith(f": back from v4 by airflow:train_model/r1; v4: {WHY}"), record
    # A re-run finds the alias elsewhere: nothing to do, nothing changed.
    assert give_back_challenger(*registry, "4", WHY, "again") is None
    assert _alias(registry) == "3" and _tags(registry, "3")[Tag.ROLLOUT_ALIAS_BACK] == record


def test_a_rollout_handed_over_and_not_yet_stepped_counts_and_the_newest_wins(registry):
    _stage(registry, "2", RolloutStage.SHADOW, "2026-03-01")
    _stage(registry, "3", RolloutStage.SHADOW)  # handed over by the gate; deploy_model has not seen it yet
    assert str(version_in_rollout(*registry, "4").version) == "3"
    said = give_back_challenger(*registry, "4", WHY, "gate")
    assert said is not None and "(shadow since its first deploy_model night)" in said
    assert _alias(registry) == "3"


def test_without_a_rollout_in_progress_the_alias_is_removed(registry):
    _stage(registry, "2", RolloutStage.SUPERSEDED)
    _stage(registry, "1", RolloutStage.FULL)
    said = give_back_challenger(*registry, "4", WHY, "gate")
    assert said == "the 'challenger' alias removed from v4: no rollout in progress"
    assert _alias(registry) is None
    assert CHAMPION in registry[0].get_registered_model(registry[1]).aliases


def test_when_the_record_cannot_be_written_the_alias_stays_where_it_was(registry, monkeypatch):
    """Both or neither: the alias moved without its record would say nothing of why (a retry does both)."""
    _stage(registry, "3", RolloutStage.CANARY, "2026-03-05")

    def registry_down(*args, **kwargs):
        raise ConnectionError("registry went away")

    monkeypatch.setattr(MlflowClient, "set_model_version_tag", registry_down)
    with pytest.raises(ConnectionError):
        give_back_challenger(*registry, "4", WHY, "gate")
    monkeypatch.undo()
    assert _alias(registry) == "4"
    assert Tag.ROLLOUT_ALIAS_BACK not in _tags(registry, "3")
