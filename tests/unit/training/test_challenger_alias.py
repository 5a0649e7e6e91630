"""The `challenger` alias of a version the gate did not take, on a real MLflow registry (SQLite store): back to
the version whose rollout is in progress, or removed; a retry finishes a move the registry interrupted, and a
record never claims a move not made; the gate and deploy_model's rollback move the alias under the promotion lock
(design point 4 of issue 25; the gate's own path is tests/model/test_training.py)."""

from __future__ import annotations

import mlflow
import pytest
from mlflow import MlflowClient
from tabular_mlops.core.contracts import CHALLENGER, CHAMPION, RolloutStage, Tag
from tabular_mlops.model.challenger_alias import PENDING, give_back_challenger, version_in_rollout

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
    # A re-run (the task retried after a later failure) finds the move made: the same sentence, nothing changed.
    assert give_back_challenger(*registry, "4", WHY, "again") == said
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


def _interrupted(registry, monkeypatch, method: str, after: int = 0) -> None:
    """v4's give-back by the gate, the registry going away at the `after`+1-th call of MlflowClient.`method`
    (the earlier ones go through): the call raises, and the registry is back for what follows."""
    real, calls = getattr(MlflowClient, method), []

    def flaky(self, *args, **kwargs):
        calls.append(args)
        if len(calls) == after + 1:
            raise ConnectionError("registry went away")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, method, flaky)
    with pytest.raises(ConnectionError):
        give_back_challenger(*registry, "4", WHY, "gate")
    monkeypatch.undo()


def test_when_the_record_cannot_be_written_nothing_moves_and_the_retry_does_both(registry, monkeypatch):
    _stage(registry, "3", RolloutStage.CANARY, "2026-03-05")
    _interrupted(registry, monkeypatch, "set_model_version_tag")
    assert _alias(registry) == "4"
    assert Tag.ROLLOUT_ALIAS_BACK not in _tags(registry, "3")
    said = give_back_challenger(*registry, "4", WHY, "retry")
    assert said == "the 'challenger' alias back on v3 from v4: v3's rollout (canary since 2026-03-05) goes on"
    assert _alias(registry) == "3"
    assert _tags(registry, "3")[Tag.ROLLOUT_ALIAS_BACK].endswith(f": back from v4 by retry; v4: {WHY}")


def test_when_the_alias_cannot_move_its_record_says_pending_and_the_retry_moves_it(registry, monkeypatch):
    _stage(registry, "3", RolloutStage.CANARY, "2026-03-05")
    _interrupted(registry, monkeypatch, "set_registered_model_alias")
    assert _alias(registry) == "4"
    assert _tags(registry, "3")[Tag.ROLLOUT_ALIAS_BACK].startswith(PENDING)  # never claims the move
    said = give_back_challenger(*registry, "4", WHY, "retry")
    assert said is not None and said.startswith("the 'challenger' alias back on v3 from v4")
    assert _alias(registry) == "3"
    record = _tags(registry, "3")[Tag.ROLLOUT_ALIAS_BACK]
    assert not record.startswith(PENDING) and record.endswith(f": back from v4 by retry; v4: {WHY}"), record


def test_moved_but_not_confirmed_the_retry_takes_the_pending_mark_off(registry, monkeypatch):
    """The registry went away between the move and its confirmation: the alias is on v3 with a pending record;
    the retry finds it there, confirms the record and says what happened (the task's result and note keep it)."""
    _stage(registry, "3", RolloutStage.SHADOW, "2026-03-05")
    _interrupted(registry, monkeypatch, "set_model_version_tag", after=1)
    assert _alias(registry) == "3"
    pending = _tags(registry, "3")[Tag.ROLLOUT_ALIAS_BACK]
    assert pending.startswith(PENDING) and pending.endswith(f": back from v4 by gate; v4: {WHY}"), pending
    said = give_back_challenger(*registry, "4", WHY, "retry")
    assert said == "the 'challenger' alias back on v3 from v4: v3's rollout (shadow since 2026-03-05) goes on"
    assert _alias(registry) == "3"
    assert _tags(registry, "3")[Tag.ROLLOUT_ALIAS_BACK] == pending.removeprefix(PENDING)
    # Once more: the same sentence, nothing written.
    assert give_back_challenger(*registry, "4", WHY, "again") == said
    assert _tags(registry, "3")[Tag.ROLLOUT_ALIAS_BACK] == pending.removeprefix(PENDING)


def test_an_alias_put_on_the_version_in_rollout_otherwise_is_not_claimed(registry):
    """v3's rollout started by hand (the alias moved there by deploy_model, not from v4): no record names v4, so
    v4's gate writes none and says nothing."""
    _stage(registry, "3", RolloutStage.SHADOW, "2026-03-05")
    registry[0].set_registered_model_alias(registry[1], CHALLENGER, "3")
    assert give_back_challenger(*registry, "4", WHY, "gate") is None
    assert _alias(registry) == "3" and Tag.ROLLOUT_ALIAS_BACK not in _tags(registry, "3")


@pytest.fixture()
def held_lock(store, registry, monkeypatch):
    """The promotion lock of the test's model held by another party (its SQLite ledger), waited on for 1 s."""
    import sqlalchemy as sa
    from tabular_mlops.store import promotion_ledger

    monkeypatch.setattr(promotion_ledger, "LOCK_TIMEOUT_SECONDS", 1)
    engine = sa.create_engine(f"sqlite:///{store / f'{registry[1]}.ledger.db'}")
    return engine, promotion_ledger.promotion_lock(engine, registry[1])


def test_the_gate_and_deploy_models_rollback_move_the_alias_under_the_promotion_lock(registry, held_lock):
    """Under the lock, the gate cannot read v3 as in canary, deploy_model roll v3 back, then the gate put the
    alias back on the rolled-back v3: each waits for the other (here: gives up after the timeout, nothing moved)."""
    import sqlalchemy as sa
    from tabular_mlops.monitoring.rollout_night import _apply
    from tabular_mlops.monitoring.rollout_verdict import RolloutStep, StepAction
    from tabular_mlops.training.registry import refuse

    client, name = registry
    engine, lock = held_lock
    _stage(registry, "3", RolloutStage.CANARY, "2026-03-05")
    rollback = RolloutStep(
        night="2026-03-09",
        champion_version="1",
        challenger_version="3",
        stage=RolloutStage.CANARY,
        action=StepAction.ROLLBACK,
        next_stage=RolloutStage.ROLLED_BACK,
    )
    with lock:
        with pytest.raises(sa.exc.OperationalError, match="locked"):
            refuse(name, "4", "foreign types", engine, "gate")
        with pytest.raises(sa.exc.OperationalError, match="locked"):
            _apply(client, name, rollback, engine, "deploy_model")
    assert _alias(registry) == "4" and _tags(registry, "3")[Tag.ROLLOUT_STAGE] == RolloutStage.CANARY
    # In turn: the rollback first, then the gate finds no rollout in progress and removes the alias.
    _apply(client, name, rollback, engine, "deploy_model")
    result = refuse(name, "4", "foreign types", engine, "gate")
    assert result.challenger_alias == "the 'challenger' alias removed from v4: no rollout in progress"
    assert _alias(registry) is None and Tag.ROLLOUT_ALIAS_BACK not in _tags(registry, "3")
