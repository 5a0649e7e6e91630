"""Sticky traffic assignment: an entity id and a salt hash to a point in [0, 1), and arms own consecutive
slices of that interval in the plan's order. A re-submitted row (same id) gets the same arm while the
plan is unchanged; a new salt reshuffles everyone (a new experiment).

In a canary plan the challenger owns the first slice [0, share), so raising the share only adds ids to the
canary: nobody who saw the challenger is moved back, and a rollback to share 0 empties it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from tabular_mlops.stats.records import JsonRecord

# Sums of float weights (a bandit's posterior shares) are off by rounding; beyond this they are wrong.
WEIGHT_SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Arm(JsonRecord):
    name: str
    weight: float


@dataclass(frozen=True)
class RoutingPlan(JsonRecord):
    """Arms with weights summing to 1, and the salt of the hash. `arm_for(id)` is the assignment."""

    salt: str
    arms: tuple[Arm, ...]

    def __post_init__(self) -> None:
        names = [a.name for a in self.arms]
        if not names or len(set(names)) != len(names) or not all(names):
            raise ValueError(f"routing plan: arms need distinct non-empty names, got {names}")
        bad = [a.name for a in self.arms if not (math.isfinite(a.weight) and a.weight >= 0)]
        if bad:
            raise ValueError(f"routing plan: weights must be finite and >= 0; arms {bad} are not")
        total = sum(a.weight for a in self.arms)
        if abs(total - 1) > WEIGHT_SUM_TOLERANCE:
            raise ValueError(f"routing plan: weights must sum to 1, got {total:.6g} for {names}")

    @property
    def shares(self) -> dict[str, float]:
        return {a.name: a.weight for a in self.arms}

    def arm_for(self, entity_id: str) -> str:
        return self.arms[int(np.searchsorted(self._edges(), bucket(entity_id, self.salt), side="right"))].name

    def assign(self, entity_ids: Iterable[str]) -> list[str]:
        """The arm of every id, in order."""
        points = np.array([bucket(i, self.salt) for i in entity_ids])
        return [self.arms[i].name for i in np.searchsorted(self._edges(), points, side="right")]

    def _edges(self) -> np.ndarray:
        # Divided by the total, so the last edge is exactly 1.0 and every point in [0, 1) finds an arm.
        cumulative = np.cumsum([a.weight for a in self.arms])
        return cumulative / cumulative[-1]


def bucket(entity_id: str, salt: str) -> float:
    """The id's point in [0, 1): 64 bits of BLAKE2b over the salt and the id, the same in every process and
    release (unlike Python's `hash`)."""
    if not isinstance(entity_id, str) or not entity_id:
        raise ValueError(f"routing: an entity id must be a non-empty string, got {entity_id!r}")
    # The salt's length first, so no (salt, id) pair can spell another's bytes.
    digest = hashlib.blake2b(f"{len(salt)}:{salt}{entity_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def weighted_plan(weights: Mapping[str, float], salt: str) -> RoutingPlan:
    """A plan over several arms (e.g. a bandit's allocation); weights are normalised to sum to 1."""
    total = sum(weights.values())
    if not (math.isfinite(total) and total > 0):
        raise ValueError(f"routing plan: weights must have a positive finite sum, got {dict(weights)}")
    return RoutingPlan(salt, tuple(Arm(name, w / total) for name, w in weights.items()))


def canary_plan(share: float, salt: str, *, champion: str, challenger: str) -> RoutingPlan:
    """`share` of the ids to the challenger (the first slice, see the module docstring), the rest to the
    champion."""
    if not 0 <= share <= 1:
        raise ValueError(f"canary share must be in [0, 1], got {share}")
    return RoutingPlan(salt, (Arm(challenger, share), Arm(champion, 1 - share)))
