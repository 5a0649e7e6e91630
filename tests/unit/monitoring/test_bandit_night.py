"""The bandit's nightly update on the log's rows: each matured answer's reward (business value or the right
decision), fed per arm over simulated nights of delayed rewards until most weight is on the better version, and
the last label night fed read back from the deploy log (rewards are fed once)."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from tabular_mlops.core.config import BusinessValueConfig
from tabular_mlops.monitoring.bandit_night import feed_night, last_fed, rewards_of
from tabular_mlops.monitoring.night_estimate import cell_values
from tabular_mlops.monitoring.split_window import LiveSplit
from tabular_mlops.stats.bandit import BanditConfig, RewardKind, start_bandit
from tabular_mlops.stats.routing import weighted_plan
from tabular_mlops.store.deploy_log import BANDIT_ALLOCATION, BANDIT_UPDATE, DeployEvent, DeployLog

VALUES = cell_values(
    BusinessValueConfig(true_negative=300, false_negative=-1800, false_positive=-40, true_positive=0)
)
SPLIT = LiveSplit("bandit", "1", "2", dt.datetime(2026, 3, 1, 10))


def _rows(versions, decisions, labels):
    return pd.DataFrame({"model_version": versions, "decision": decisions, "label": labels, "score": 0.2})


def test_rewards_are_business_value_or_the_right_decision():
    rows = _rows(["1"] * 4, [0, 0, 1, 1], [0, 1, 0, 1])
    assert list(rewards_of(rows, RewardKind.GAUSSIAN, VALUES)) == [300, -1800, -40, 0]
    assert list(rewards_of(rows, RewardKind.BERNOULLI, None)) == [1, 0, 0, 1]
    with pytest.raises(ValueError, match="business_value is not set in params.yaml"):
        rewards_of(rows, RewardKind.GAUSSIAN, None)


@pytest.mark.parametrize(("kind", "values"), [(RewardKind.GAUSSIAN, VALUES), (RewardKind.BERNOULLI, None)])
def test_nights_of_delayed_rewards_move_most_weight_to_the_better_version(kind, values):
    """Routed by the weights in force each day; a day's labels mature three days later (unlabelled rows wait)."""
    rng = np.random.default_rng(7)
    state = start_bandit(["1", "2"], BanditConfig(reward=kind, seed=1))
    right = {"1": 0.85, "2": 0.92}
    days: list[pd.DataFrame] = []
    for day in range(20):
        ids = [f"{day}-{i}" for i in range(600)]
        arms = np.array(weighted_plan(state.weights, f"day-{day}").assign(ids))
        decisions = (rng.random(600) < 0.1).astype(int)
        p = np.vectorize(right.get)(arms)
        labels = np.where(rng.random(600) < p, decisions, 1 - decisions).astype(float)
        days.append(_rows(arms, decisions, labels))
        if day >= 3:
            matured = days[day - 3]
            waiting = days[day].assign(label=np.nan)  # tonight's answers: no label yet, not fed
            state, change, counts, means = feed_night(state, pd.concat([matured, waiting]), values, f"t{day}")
            assert sum(counts.values()) == 600
    assert state.weights["2"] >= 0.8 and means["2"] > means["1"]


def test_the_last_label_night_fed_is_read_back_per_split(tmp_path):
    log = DeployLog(sa.create_engine(f"sqlite:///{tmp_path / 'm.db'}"))
    assert last_fed(log, "credit_default", SPLIT) is None
    for event, through in ((BANDIT_ALLOCATION, "2026-03-02"), (BANDIT_UPDATE, "2026-03-03")):
        detail = {"rewards_through": through, "since": SPLIT.began}
        log.record(DeployEvent("t", "credit_default", event, "bandit", "bandit", "a", "1", "2", "r", detail))
    assert last_fed(log, "credit_default", SPLIT) == dt.date(2026, 3, 3)
    later = LiveSplit("bandit", "1", "2", dt.datetime(2026, 3, 10))  # a new bandit starts feeding afresh
    assert last_fed(log, "credit_default", later) is None
