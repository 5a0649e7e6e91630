"""What the registry steps return: the registered challenger, the gate's promotion decision, a rollback, the
champion's description. Frozen records; train_model passes them through XCom as `to_dict()` and reads them back
with `from_dict()`, and a later step derives a new record (`dataclasses.replace`) rather than editing one."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tabular_mlops.core.contracts import GATE_REJECTED
from tabular_mlops.model.model_tests import GateResult
from tabular_mlops.stats.records import JsonRecord


@dataclass(frozen=True)
class RegisteredVersion(JsonRecord):
    """The registry version of a training run (`new` is False when the run was registered before)."""

    version: str
    run_id: str
    new: bool


def defined_metrics(metrics: Mapping[str, float]) -> dict[str, float | None]:
    """Metrics as a record carries them: a metric undefined on the holdout (AUC on one class) is None, not NaN."""
    return {k: (float(v) if math.isfinite(v) else None) for k, v in metrics.items()}


@dataclass(frozen=True)
class PromotionResult(JsonRecord):
    """The gate's decision on a version: `promoted`, or the reasons it was not (`refused` when the model could
    not be loaded safely). `run_id` (the training run) and `service_reload` (the scoring service's answer to the
    reload request after a promotion) are added by the DAG for the task's links and note."""

    version: str
    promoted: bool
    decision: str
    previous_champion: str | None = None
    compared_with: str | None = None
    gates: tuple[GateResult, ...] = ()
    metrics: dict[str, float | None] = field(default_factory=dict)
    refused: bool = False
    # What the gate did with the `challenger` alias of a version it did not take (back to the version in
    # rollout, or removed); None when it did nothing with it.
    challenger_alias: str | None = None
    run_id: str | None = None
    service_reload: dict[str, Any] | None = None

    @property
    def rejected(self) -> bool:
        """The gate said no (failed gates or a refused model); not the same as `not promoted`, which also covers
        'already champion' and a champion that moved while the gate ran."""
        return self.decision.startswith(GATE_REJECTED)


@dataclass(frozen=True)
class RollbackResult(JsonRecord):
    """`champion` now serves; `previous_champion` is the version it replaced (a second rollback swaps back)."""

    champion: str
    previous_champion: str | None
    reason: str


@dataclass(frozen=True)
class ChampionDescription(JsonRecord):
    """The registered model's aliases and the champion's run and tags (`champion` None: no champion yet)."""

    model: str
    champion: str | None
    previous_champion: str | None = None
    challenger: str | None = None
    run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
