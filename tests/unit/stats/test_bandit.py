"""Thompson sampling with delayed rewards, simulated day by day: traffic is routed by the bandit's weights,
each day's rewards mature a week later, and most traffic ends on the better arm (binary and per-row value)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tabular_mlops.stats.bandit import (
    AllocationChange,
    ArmStats,
    BanditConfig,
    BanditState,
    RewardKind,
    start_bandit,
    update_bandit,
    with_arms,
)
from tabular_mlops.stats.routing import weighted_plan

DAYS, DELAY, PER_DAY = 60, 7, 1000


def simulate(config, draw_reward, seed):
    """Route each day's applications with the bandit's weights; feed the rewards DELAY days later."""
    rng = np.random.default_rng(seed)
    state = start_bandit(["v3", "v4"], config)
    pending, changes, served = {}, [], {"v3": 0, "v4": 0}
    for day in range(DAYS):
        ids = [f"{day}-{i}" for i in range(PER_DAY)]
        arms = np.array(weighted_plan(state.weights, salt=f"day-{day}").assign(ids))
        pending[day + DELAY] = {
            name: draw_reward(rng, name, int((arms == name).sum())) for name in ("v3", "v4")
        }
        if day >= DAYS // 2:
            for name in served:
                served[name] += int((arms == name).sum())
        matured = pending.pop(day, None)
        if matured is not None:
            state, change = update_bandit(state, matured, at=f"2026-01-{1 + day % 28:02d}T06:00:00")
            if change is not None:
                changes.append(change)
    return state, changes, served


def repaid(rng, arm, n):
    return (rng.random(n) < {"v3": 0.85, "v4": 0.88}[arm]).astype(float)


def business_value(rng, arm, n):
    return rng.normal({"v3": 10.0, "v4": 13.0}[arm], 40.0, n)


@pytest.mark.parametrize(
    ("kind", "reward"), [(RewardKind.BERNOULLI, repaid), (RewardKind.GAUSSIAN, business_value)]
)
def test_most_traffic_moves_to_the_better_arm_on_delayed_rewards(kind, reward):
    config = BanditConfig(reward=kind, floor=0.05, seed=7)
    state, changes, served = simulate(config, reward, seed=31)
    assert state.weights["v4"] >= 0.8
    assert served["v4"] / sum(served.values()) >= 0.7  # the second month, not only the last day
    assert state.weights["v3"] >= config.floor - 1e-12 and sum(state.weights.values()) == pytest.approx(1)
    # Every applied move is a record, chained: each starts where the last ended, the last is what is in force.
    assert changes and changes[-1].after == state.weights
    for earlier, later in zip(changes, changes[1:], strict=False):
        assert later.before == earlier.after and later.update > earlier.update
    assert changes[-1].rewards_seen["v4"] > changes[-1].rewards_seen["v3"]


def test_equal_arms_keep_traffic_split_and_the_run_is_reproducible():
    config = BanditConfig(reward=RewardKind.BERNOULLI, seed=3)
    same = lambda rng, arm, n: (rng.random(n) < 0.85).astype(float)  # noqa: E731
    first = simulate(config, same, seed=32)
    again = simulate(config, same, seed=32)
    assert first[1] == again[1] and first[0] == again[0]
    # No data says one is better: neither arm is starved to the floor for good.
    assert min(first[2].values()) / sum(first[2].values()) > 0.15


def test_no_rewards_yet_means_no_move_and_the_state_round_trips_as_json():
    state = start_bandit(["v3", "v4", "v5"], BanditConfig(reward=RewardKind.GAUSSIAN))
    assert state.weights == pytest.approx({"v3": 1 / 3, "v4": 1 / 3, "v5": 1 / 3})
    unchanged, change = update_bandit(state, {}, at="2026-01-01T06:00:00")
    assert change is None and unchanged.weights == state.weights and unchanged.updates == 1
    moved, change = update_bandit(state, {"v5": np.full(200, 50.0), "v3": np.zeros(200)}, at="t")
    assert change is not None and change.after["v5"] > 0.5 and "v5 is best" in change.reason
    text = json.dumps(moved.to_dict(), allow_nan=False)
    assert BanditState.from_dict(json.loads(text)) == moved
    assert AllocationChange.from_dict(json.loads(json.dumps(change.to_dict()))) == change
    assert change.reward_means["v4"] is None


def test_a_new_version_joins_with_the_prior_and_a_retired_one_leaves_with_a_record():
    config = BanditConfig(reward=RewardKind.BERNOULLI, floor=0.05)
    state, _ = update_bandit(
        start_bandit(["v3", "v4"], config), {"v3": np.ones(300), "v4": np.zeros(300)}, at="t1"
    )
    state, change = with_arms(state, ["v3", "v5"], at="t2")
    assert change.reason == "live versions changed: added ['v5'], removed ['v4']"
    assert set(state.weights) == {"v3", "v5"} and sum(state.weights.values()) == pytest.approx(1)
    assert {a.name: a.count for a in state.arms} == {"v3": 300, "v5": 0}
    # v3 repaid every time: a version with no data yet gets little more than its floor.
    assert config.floor <= state.weights["v5"] < 0.1 and change.before == {
        "v3": pytest.approx(0.95),
        "v4": pytest.approx(0.05),
    }


def test_merged_statistics_equal_the_whole_sample():
    rng = np.random.default_rng(33)
    values = rng.normal(1e6, 3.0, 3000)  # large values: a sum-of-squares formula would lose the variance
    stats = ArmStats("v3")
    for chunk in np.array_split(values, 7):
        stats = stats.merged(chunk)
    assert stats.count == 3000 and stats.mean == pytest.approx(values.mean(), rel=1e-12)
    assert stats.squared_deviations / 2999 == pytest.approx(values.var(ddof=1), rel=1e-6)


def test_bad_input_is_refused_by_name():
    with pytest.raises(ValueError, match="floor=1.2"):
        BanditConfig(reward=RewardKind.BERNOULLI, floor=1.2)
    with pytest.raises(ValueError, match="floor 0.4 times 3 arms exceeds 1"):
        start_bandit(["a", "b", "c"], BanditConfig(reward=RewardKind.BERNOULLI, floor=0.4))
    state = start_bandit(["a", "b"], BanditConfig(reward=RewardKind.BERNOULLI))
    with pytest.raises(ValueError, match=r"arms \['z'\] that are not live"):
        update_bandit(state, {"z": [1.0]}, at="t")
    with pytest.raises(ValueError, match="arm 'a' has other values"):
        update_bandit(state, {"a": [0.5]}, at="t")
