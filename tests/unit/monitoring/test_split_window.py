"""The live split read from the deploy log on real SQLite: which step a night takes without asking the service,
when the split began (a restart continues it, a switch away ends it), and the label horizon."""

import datetime as dt

import sqlalchemy as sa
from tabular_mlops.core.config import load_params
from tabular_mlops.monitoring.split_window import label_horizon, live_split, naive_utc, strategy_in_force
from tabular_mlops.store.deploy_log import DeployEvent, DeployLog

from tests.support.project import REPO

MODEL = "credit_default"


def _switch(log: DeployLog, at: str, to: str, challenger: str = "2", event: str = "strategy_change") -> None:
    log.record(DeployEvent(at, MODEL, event, None, to, "ops", "1", challenger, "why", {}))


def test_the_strategy_in_force_is_the_logs_last_else_params_yaml(tmp_path):
    deploy = load_params(REPO / "params.yaml").deploy
    log = DeployLog(sa.create_engine(f"sqlite:///{tmp_path / 'm.db'}"))
    assert strategy_in_force(log, MODEL, deploy) == deploy.strategy == "champion"
    _switch(log, "2026-03-01T10:00:00+00:00", "ab_test")
    log.record(DeployEvent("2026-03-02T04:00:00+00:00", MODEL, "ab_test_night", "ab_test", "ab_test", "airflow",
                           "1", "2", "wait", {}))  # fmt: skip
    assert strategy_in_force(log, MODEL, deploy) == "ab_test"  # nightly rows do not hide the switch


def test_a_restart_continues_the_split_and_a_switch_away_starts_a_new_one(tmp_path):
    log = DeployLog(sa.create_engine(f"sqlite:///{tmp_path / 'm.db'}"))
    _switch(log, "2026-03-01T10:00:00+00:00", "ab_test")
    _switch(log, "2026-03-03T08:00:00+00:00", "ab_test", event="strategy_restored")
    state = {"strategy": "ab_test", "challenger": "2", "since": "2026-03-03T08:00:00+00:00"}
    split, why = live_split(log, MODEL, state, "1")
    assert why == "" and split is not None
    assert (split.champion, split.challenger, split.began) == ("1", "2", "2026-03-01T10:00:00")
    _switch(log, "2026-03-04T08:00:00+00:00", "champion")
    _switch(log, "2026-03-05T09:30:00+00:00", "ab_test")
    split, _ = live_split(log, MODEL, state, "1")
    assert split is not None and split.since == dt.datetime(2026, 3, 5, 9, 30)
    _switch(log, "2026-03-06T09:30:00+00:00", "ab_test", challenger="3")  # another challenger: its own split
    split, _ = live_split(log, MODEL, {**state, "challenger": "3"}, "1")
    assert split is not None and split.since == dt.datetime(2026, 3, 6, 9, 30)


def test_no_split_to_judge_is_said_with_the_reason(tmp_path):
    log = DeployLog(sa.create_engine(f"sqlite:///{tmp_path / 'm.db'}"))
    assert live_split(log, MODEL, {"strategy": "canary", "challenger": "2"}, "1")[1].startswith(
        "the service runs canary, not a live split"
    )
    assert (
        "without two versions" in live_split(log, MODEL, {"strategy": "bandit", "challenger": None}, "1")[1]
    )
    # A split set in params.yaml and never switched: the service's own `since`.
    split, _ = live_split(
        log, MODEL, {"strategy": "bandit", "challenger": "2", "since": "2026-03-01T00:00:00"}, "1"
    )
    assert split is not None and split.since == dt.datetime(2026, 3, 1)


def test_label_horizon_and_naive_utc():
    schema = load_params(REPO / "params.yaml").schema
    night, end = label_horizon(dt.date(2026, 3, 31), schema)
    assert night == dt.date(2026, 3, 31) - dt.timedelta(days=schema.label_delay_days)
    assert end == dt.datetime.combine(night + dt.timedelta(days=1), dt.time())
    assert naive_utc("2026-03-01T10:00:00+02:00") == dt.datetime(2026, 3, 1, 8)


def test_a_champion_promoted_during_the_split_restarts_it_from_its_promotion(tmp_path):
    log = DeployLog(sa.create_engine(f"sqlite:///{tmp_path / 'm.db'}"))
    _switch(log, "2026-03-01T10:00:00+00:00", "ab_test")
    state = {"strategy": "ab_test", "challenger": "2"}
    split, _ = live_split(log, MODEL, state, "5", champion_since="2026-03-04T03:10:00+00:00")
    assert split is not None and split.since == dt.datetime(2026, 3, 4, 3, 10)
    earlier, _ = live_split(log, MODEL, state, "1", champion_since="2026-02-01T03:10:00+00:00")
    assert earlier is not None and earlier.since == dt.datetime(2026, 3, 1, 10)
