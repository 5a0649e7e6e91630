"""The deploy log on real SQLite: created idempotently (two processes, or a restart, open it again), entries read
back newest first, the bandit state replaced in place."""

import datetime as dt

import sqlalchemy as sa
from tabular_mlops.stats.bandit import BanditConfig, BanditState, RewardKind, start_bandit
from tabular_mlops.store.deploy_log import DeployEvent, DeployLog


def _event(to: str, at: str) -> DeployEvent:
    return DeployEvent(
        at, "credit_default", "strategy_change", "champion", to, "ops", "1", "2", "why", {"n": 1}
    )


def test_tables_are_created_once_and_entries_read_back_newest_first(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'monitoring.db'}")
    DeployLog(engine).record(_event("shadow", "2026-03-01T00:00:00+00:00"))
    again = DeployLog(engine)  # a restart: the table and its row are still there
    again.record(_event("canary", "2026-03-02T00:00:00+00:00"))
    history = again.history("credit_default")
    assert [e.to_strategy for e in history] == ["canary", "shadow"]
    assert history[0] == _event("canary", "2026-03-02T00:00:00+00:00")
    assert again.history("another_model") == []


def test_the_bandit_state_round_trips_and_is_replaced(tmp_path):
    log = DeployLog(sa.create_engine(f"sqlite:///{tmp_path / 'monitoring.db'}"))
    assert log.bandit_state("credit_default") is None
    state = start_bandit(["1", "2"], BanditConfig(RewardKind.BERNOULLI))
    log.save_bandit_state("credit_default", state.to_dict(), dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    moved = BanditState(state.config, state.arms, {"1": 0.2, "2": 0.8}, 1)
    log.save_bandit_state("credit_default", moved.to_dict(), dt.datetime(2026, 3, 2, tzinfo=dt.UTC))
    stored = log.bandit_state("credit_default")
    assert stored is not None and BanditState.from_dict(stored) == moved
