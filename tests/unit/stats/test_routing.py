"""Sticky routing on real hashes: observed shares within a binomial bound, the same arm for a re-submitted id,
a growing canary keeps its ids, a new salt reshuffles."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from scipy import stats
from tabular_mlops.stats.routing import RoutingPlan, bucket, canary_plan, weighted_plan

IDS = [f"20260101-{i:07d}" for i in range(5000)]


def within_binomial_bound(count: int, n: int, p: float) -> bool:
    """Inside the central 1 - 1e-6 binomial interval: a fixed hash fails this only if it is biased."""
    low, high = stats.binom.interval(1 - 1e-6, n, p)
    return low <= count <= high


def test_the_observed_canary_share_is_within_a_binomial_bound():
    for share in (0.05, 0.1, 0.5):
        plan = canary_plan(share, "exp-1", champion="v3", challenger="v4")
        arms = plan.assign(IDS)
        assert within_binomial_bound(arms.count("v4"), len(IDS), share), (share, arms.count("v4"))
        assert set(arms) == {"v3", "v4"}


def test_multi_arm_weights_are_honoured():
    weights = {"v2": 0.2, "v3": 0.5, "v4": 0.3}
    arms = weighted_plan(weights, "bandit-7").assign(IDS)
    for name, weight in weights.items():
        assert within_binomial_bound(arms.count(name), len(IDS), weight), (name, arms.count(name))
    # Unnormalised weights (counts) give the same plan.
    assert weighted_plan({"v2": 2, "v3": 5, "v4": 3}, "bandit-7").assign(IDS) == arms


def test_a_resubmitted_id_gets_the_same_arm_in_any_process_from_the_stored_plan():
    plan = canary_plan(0.3, "exp-1", champion="v3", challenger="v4")
    first = [plan.arm_for(i) for i in IDS[:500]]
    again = RoutingPlan.from_dict(plan.to_dict())
    assert [again.arm_for(i) for i in IDS[:500]] == first == plan.assign(IDS[:500])
    assert 0 <= bucket("x", "") < 1


def test_the_point_of_an_id_is_the_same_in_another_process_with_another_hash_seed():
    """Python's own `hash` of a string changes with PYTHONHASHSEED; the routing hash must not."""
    code = "from tabular_mlops.stats.routing import bucket; print(repr(bucket('20260101-0000001', 'exp-1')))"
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert float(out.stdout) == bucket("20260101-0000001", "exp-1")


def test_raising_the_canary_share_keeps_every_id_already_on_the_canary():
    small = canary_plan(0.05, "exp-1", champion="v3", challenger="v4").assign(IDS)
    large = canary_plan(0.25, "exp-1", champion="v3", challenger="v4").assign(IDS)
    on_small = {i for i, arm in zip(IDS, small, strict=True) if arm == "v4"}
    on_large = {i for i, arm in zip(IDS, large, strict=True) if arm == "v4"}
    assert on_small and on_small < on_large
    assert set(canary_plan(0.0, "exp-1", champion="v3", challenger="v4").assign(IDS)) == {"v3"}


def test_a_new_salt_reshuffles_independently():
    a = canary_plan(0.5, "exp-1", champion="v3", challenger="v4").assign(IDS)
    b = canary_plan(0.5, "exp-2", champion="v3", challenger="v4").assign(IDS)
    both = sum(x == y == "v4" for x, y in zip(a, b, strict=True))
    assert within_binomial_bound(both, len(IDS), 0.25)


def test_bad_plans_and_ids_are_refused_by_name():
    with pytest.raises(ValueError, match="weights must sum to 1, got 0.9"):
        RoutingPlan.from_dict(
            {"salt": "s", "arms": [{"name": "a", "weight": 0.4}, {"name": "b", "weight": 0.5}]}
        )
    with pytest.raises(ValueError, match="distinct non-empty names"):
        weighted_plan({"a": 1}, "s").__class__("s", ())
    with pytest.raises(ValueError, match=r"arms \['b'\] are not"):
        weighted_plan({"a": 1.0, "b": -0.5}, "s")
    with pytest.raises(ValueError, match="canary share must be in"):
        canary_plan(1.5, "s", champion="a", challenger="b")
    with pytest.raises(ValueError, match="non-empty string"):
        bucket(42, "s")  # type: ignore[arg-type]
