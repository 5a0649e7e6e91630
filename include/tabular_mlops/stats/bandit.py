"""Thompson sampling over the live model versions, fed with delayed rewards as labels mature.

Each arm keeps the sufficient statistics of the rewards matured so far (count, mean, sum of squared
deviations, merged batch by batch). An update draws from each arm's posterior (Beta-Bernoulli for a binary
reward, Normal-Inverse-Gamma for a per-row value such as business value), estimates each arm's probability of
being best, and allocates traffic in proportion to it above a floor per arm (so a version never starves of new
labels). Draws are seeded by (seed, update number): the same rewards give the same allocation. Every change of
allocation is returned as a record; moves smaller than `min_change` are not applied (no churn in routing).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tabular_mlops.stats.records import JsonRecord, refuse_out_of_range


class RewardKind(enum.StrEnum):
    BERNOULLI = "bernoulli"
    GAUSSIAN = "gaussian"


@dataclass(frozen=True)
class BanditConfig(JsonRecord):
    """The reward model, the floor per arm, how many posterior draws, the smallest applied move, the seed, and
    the priors (Beta(prior_alpha, prior_beta); Normal-Inverse-Gamma(prior_mean, prior_strength, 1, prior_scale))."""

    reward: RewardKind
    floor: float = 0.05
    draws: int = 10_000
    min_change: float = 0.01
    seed: int = 0
    prior_alpha: float = 1.0
    prior_beta: float = 1.0
    prior_mean: float = 0.0
    prior_strength: float = 1e-3
    prior_scale: float = 1.0

    def __post_init__(self) -> None:
        checks = {
            "floor": 0 <= self.floor < 1,
            "draws": self.draws >= 100,
            "min_change": 0 <= self.min_change < 1,
            "prior_alpha": self.prior_alpha > 0,
            "prior_beta": self.prior_beta > 0,
            "prior_strength": self.prior_strength > 0,
            "prior_scale": self.prior_scale > 0,
        }
        refuse_out_of_range(self, "bandit config", checks)


@dataclass(frozen=True)
class ArmStats(JsonRecord):
    """Rewards matured so far for one arm: count, mean, and the sum of squared deviations from the mean."""

    name: str
    count: int = 0
    mean: float = 0.0
    squared_deviations: float = 0.0

    def merged(self, rewards: NDArray) -> ArmStats:
        """These statistics with a batch added (Chan et al.'s pairwise update: no loss of precision)."""
        n = rewards.size
        if n == 0:
            return self
        total = self.count + n
        delta = float(rewards.mean()) - self.mean
        mean = self.mean + delta * n / total
        m2 = self.squared_deviations + float(((rewards - rewards.mean()) ** 2).sum())
        return replace(
            self, count=total, mean=mean, squared_deviations=m2 + delta**2 * self.count * n / total
        )


@dataclass(frozen=True)
class BanditState(JsonRecord):
    """Everything the next update needs: the config, each arm's statistics, the weights in force."""

    config: BanditConfig
    arms: tuple[ArmStats, ...]
    weights: dict[str, float]
    updates: int = 0


@dataclass(frozen=True)
class AllocationChange(JsonRecord):
    """One change of traffic allocation, with the evidence that moved it."""

    update: int
    at: str
    before: dict[str, float]
    after: dict[str, float]
    probability_best: dict[str, float]
    rewards_seen: dict[str, int]
    reward_means: dict[str, float | None]
    reason: str


def start_bandit(arms: Sequence[str], config: BanditConfig) -> BanditState:
    """A bandit over `arms` with no rewards yet: equal weights."""
    names = list(arms)
    if len(names) < 2 or len(set(names)) != len(names):
        raise ValueError(f"bandit: needs at least two distinct arms, got {names}")
    if config.floor * len(names) > 1:
        raise ValueError(f"bandit config: floor {config.floor} times {len(names)} arms exceeds 1")
    return BanditState(config, tuple(ArmStats(n) for n in names), {n: 1 / len(names) for n in names})


def update_bandit(
    state: BanditState, rewards: Mapping[str, ArrayLike], at: str
) -> tuple[BanditState, AllocationChange | None]:
    """Add the rewards matured since the last update (per arm) and reallocate; `at` (an ISO time) is recorded."""
    unknown = sorted(set(rewards) - set(state.weights))
    if unknown:
        raise ValueError(f"bandit: rewards for arms {unknown} that are not live ({sorted(state.weights)})")
    arms = tuple(a.merged(_rewards(rewards.get(a.name, ()), a.name, state.config.reward)) for a in state.arms)
    best = probability_best(arms, state.config, state.updates + 1)
    proposed = _weights(best, state.config.floor)
    moved = max(abs(proposed[k] - state.weights[k]) for k in proposed)
    if moved < state.config.min_change:
        return BanditState(state.config, arms, state.weights, state.updates + 1), None
    leader = max(best, key=best.__getitem__)
    reason = f"{leader} is best with probability {best[leader]:.3f}; largest move {moved:.3f}"
    return _reallocated(state, arms, best, at, reason)


def with_arms(state: BanditState, arms: Sequence[str], at: str) -> tuple[BanditState, AllocationChange]:
    """The bandit over a new set of live versions: kept arms keep their rewards, new ones start from the
    prior, retired ones are dropped; the allocation is redrawn at once and recorded."""
    fresh = start_bandit(arms, state.config)
    kept = {a.name: a for a in state.arms}
    stats = tuple(kept.get(a.name, a) for a in fresh.arms)
    best = probability_best(stats, state.config, state.updates + 1)
    added, removed = sorted(set(best) - set(kept)), sorted(set(kept) - set(best))
    reason = f"live versions changed: added {added}, removed {removed}"
    return _reallocated(state, stats, best, at, reason)


def probability_best(arms: Sequence[ArmStats], config: BanditConfig, update: int) -> dict[str, float]:
    """Each arm's share of posterior draws in which its mean reward is the highest (ties split evenly)."""
    rng = np.random.default_rng([config.seed, update])
    draws = np.vstack([_posterior_draws(a, config, rng) for a in arms])
    top = draws == draws.max(axis=0)
    share = (top / top.sum(axis=0)).mean(axis=1)
    return {a.name: float(s) for a, s in zip(arms, share, strict=True)}


def _weights(best: Mapping[str, float], floor: float) -> dict[str, float]:
    """The floor for every arm, the rest shared in proportion to the probability of being best."""
    return {name: floor + (1 - floor * len(best)) * p for name, p in best.items()}


def _reallocated(
    state: BanditState, arms: tuple[ArmStats, ...], best: dict[str, float], at: str, reason: str
) -> tuple[BanditState, AllocationChange]:
    after = _weights(best, state.config.floor)
    change = AllocationChange(
        update=state.updates + 1,
        at=at,
        before=dict(state.weights),
        after=after,
        probability_best=best,
        rewards_seen={a.name: a.count for a in arms},
        reward_means={a.name: a.mean if a.count else None for a in arms},
        reason=reason,
    )
    return BanditState(state.config, arms, after, state.updates + 1), change


def _posterior_draws(arm: ArmStats, config: BanditConfig, rng: np.random.Generator) -> NDArray:
    if config.reward is RewardKind.BERNOULLI:
        successes = arm.mean * arm.count
        return rng.beta(
            config.prior_alpha + successes, config.prior_beta + arm.count - successes, config.draws
        )
    # Normal-Inverse-Gamma: the posterior of the mean is a Student t (Murphy, "Conjugate Bayesian analysis of
    # the Gaussian distribution", 2007, section 3).
    k0, mu0, n = config.prior_strength, config.prior_mean, arm.count
    kn, an = k0 + n, 1.0 + n / 2
    mun = (k0 * mu0 + n * arm.mean) / kn
    bn = config.prior_scale + arm.squared_deviations / 2 + k0 * n * (arm.mean - mu0) ** 2 / (2 * kn)
    return mun + math.sqrt(bn / (an * kn)) * rng.standard_t(2 * an, config.draws)


def _rewards(values: ArrayLike, arm: str, kind: RewardKind) -> NDArray:
    array = np.asarray(values, float).ravel()
    if not np.isfinite(array).all():
        raise ValueError(f"bandit: rewards of arm {arm!r} hold NaN or infinity")
    if kind is RewardKind.BERNOULLI and not np.isin(array, (0.0, 1.0)).all():
        raise ValueError(f"bandit: a bernoulli reward is 0 or 1; arm {arm!r} has other values")
    return array
