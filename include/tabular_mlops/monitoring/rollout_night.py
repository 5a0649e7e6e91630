"""One night of deploy_model (issue 25): gather the evidence for a handed-over challenger's current stage, judge it
(rollout_verdict) and apply the verdict to the registry. The stage, the night it began and every step's checks
and figures live on the challenger's version tags (`rollout.*`); the champion alias moves inside the promotion
lock and is written to the promotion ledger, like the gate's promotions; a rollback takes the `challenger` alias
away and leaves the champion where it is.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

import pandas as pd
import sqlalchemy as sa

from tabular_mlops.core.config import DeployConfig, SchemaConfig
from tabular_mlops.core.contracts import (
    CHALLENGER,
    CHAMPION,
    GATE_PROMOTED,
    ONLINE_SOURCE,
    PREVIOUS_CHAMPION,
    RolloutStage,
    Tag,
)
from tabular_mlops.model.challenger_alias import alias_version
from tabular_mlops.model.scoring import champion_version
from tabular_mlops.monitoring.log_window import night_bounds
from tabular_mlops.monitoring.rollout_verdict import (
    RolloutCheck,
    RolloutStep,
    StepAction,
    canary_checks,
    shadow_checks,
    step_action,
)
from tabular_mlops.monitoring.shadow_analysis import recorded_comparisons
from tabular_mlops.stats.canary_guard import ArmWindow, GuardAction, GuardRules, GuardVerdict, judge_canary
from tabular_mlops.store import prediction_log
from tabular_mlops.store.prediction_log import FALLBACK_COLUMN, LATENCY_COLUMN
from tabular_mlops.store.promotion_ledger import promotion_lock

# The service's strategy while the challenger is in each stage; after promotion or rollback, the champion alone.
STRATEGY_OF_STAGE = {RolloutStage.SHADOW: "shadow", RolloutStage.CANARY: "canary"}
CHAMPION_ONLY = "champion"


class ScoringServiceControl(Protocol):
    """The running scoring service's admin API (serving.strategy_client.StrategyClient); every method raises
    with the service's URL in the message when it cannot be reached or refuses."""

    url: str

    def state(self) -> dict[str, Any]: ...

    def prepare_challenger(self) -> str: ...

    def reload_champion(self) -> str: ...

    def switch(self, strategy: str, actor: str, reason: str) -> dict[str, Any]: ...


def _put_in_force(
    service: ScoringServiceControl, in_force: str, strategy: str, actor: str, reason: str
) -> None:
    """Switch the service to `strategy` unless it is already in force (a re-run switches nothing)."""
    if in_force == strategy:
        return
    if strategy != CHAMPION_ONLY:  # the service polls the alias every few minutes: load the challenger now
        service.prepare_challenger()
    service.switch(strategy, actor, reason)


def _service_check(stage: str, state: dict[str, Any]) -> RolloutCheck | None:
    """In canary, the service must still be in canary: its own guard (or a person) may have taken it out."""
    if stage != RolloutStage.CANARY or state.get("strategy") == "canary":
        return None
    return RolloutCheck(
        "service_strategy",
        False,
        f"the service left canary: {state.get('strategy')} since {state.get('since')} by {state.get('actor')}"
        f" ({str(state.get('reason') or '')[:300]})",
    )


def _arm(rows: pd.DataFrame) -> ArmWindow:
    answered = rows[rows[LATENCY_COLUMN].notna()]
    return ArmWindow.of(
        ~answered[FALLBACK_COLUMN].fillna(False).astype(bool).to_numpy(),
        answered[LATENCY_COLUMN].to_numpy(float),
        rows["score"].dropna().to_numpy(float),
    )


def canary_guard(
    log_engine: sa.Engine,
    schema: SchemaConfig,
    deploy: DeployConfig,
    start: dt.date,
    night: dt.date,
    champion: str,
    challenger: str,
) -> GuardVerdict:
    """The canary guard's rules on the two versions' online answers of the nights [start, night]."""
    days = (night - start).days + 1
    rows = prediction_log.read_source(log_engine, schema, *night_bounds(night, days), ONLINE_SOURCE)
    versions = rows["model_version"].astype(str)
    g = deploy.canary.guard
    rules = GuardRules(
        g.window_seconds, g.max_error_rate, g.min_requests, g.max_p99_latency_ms, g.min_latencies,
        g.max_score_psi, g.min_scores,
    )  # fmt: skip
    return judge_canary(_arm(rows[versions == challenger]), _arm(rows[versions == champion]), rules)


def _checks(
    log_engine: sa.Engine,
    schema: SchemaConfig,
    deploy: DeployConfig,
    stage: str,
    since: dt.date,
    night: dt.date,
    champion: str,
    challenger: str,
) -> tuple[RolloutCheck, ...]:
    recorded = recorded_comparisons(log_engine, champion, challenger)
    comparisons = [c for n, c in sorted(recorded.items()) if since <= n <= night]
    if stage == RolloutStage.SHADOW:
        return shadow_checks(comparisons, deploy)
    # The canary's answers from the night after the switch on: whole nights only.
    first = since + dt.timedelta(days=1)
    if night < first:
        guard = GuardVerdict(GuardAction.WAIT, (), ("the canary's first whole night has not ended",))
    else:
        guard = canary_guard(log_engine, schema, deploy, first, night, champion, challenger)
    test = comparisons[-1].test if comparisons else None
    return canary_checks(guard, max((night - since).days, 0), test)


def _apply(client: Any, name: str, step: RolloutStep, ledger_engine: sa.Engine, actor: str) -> None:
    """Move the aliases and write the tags the step decided (the champion alias inside the promotion lock)."""
    version = step.challenger_version
    if step.action is StepAction.PROMOTE:
        with promotion_lock(ledger_engine, name) as ledger:
            current = champion_version(name)
            if current is not None:
                client.set_registered_model_alias(name, PREVIOUS_CHAMPION, current)
            client.set_registered_model_alias(name, CHAMPION, version)
            ledger.record("promote", current, version, actor, [c.reason for c in step.checks])
        client.set_model_version_tag(name, version, Tag.GATE_DECISION, GATE_PROMOTED)
    # The `challenger` alias and the stage under the lock too (a second hold, never nested: the lock is not
    # re-entrant): the gate gives the alias back to the version in rollout under it, so it cannot read this
    # version as in rollout and put the alias back on it after a rollback here.
    with promotion_lock(ledger_engine, name):
        if step.action is StepAction.START:  # started by hand: the service shadows the `challenger` alias
            client.set_registered_model_alias(name, CHALLENGER, version)
        if step.action in (StepAction.PROMOTE, StepAction.ROLLBACK):
            if alias_version(client, name, CHALLENGER) == version:
                client.delete_registered_model_alias(name, CHALLENGER)
        if step.action is StepAction.ROLLBACK:
            client.set_model_version_tag(name, version, Tag.ROLLED_BACK, step.summary[:4900])
        if step.next_stage != step.stage:
            client.set_model_version_tag(name, version, Tag.ROLLOUT_STAGE, step.next_stage)
            client.set_model_version_tag(name, version, Tag.ROLLOUT_SINCE, step.night)
    client.set_model_version_tag(name, version, f"{Tag.ROLLOUT_STEP_PREFIX}{step.night}", step.summary[:4900])


def rollout_step(
    model_name: str,
    schema: SchemaConfig,
    deploy: DeployConfig,
    log_engine: sa.Engine,
    night: dt.date,
    service: ScoringServiceControl,
    version: str | None = None,
    actor: str = "deploy_model",
) -> tuple[RolloutStep | None, str]:
    """Judge and apply tonight's step for `version` (started by hand: shadow begins if it has no stage yet), or
    for the version holding the `challenger` alias that the gate handed over, and put the matching strategy in
    force in the scoring service (shadow, canary, then the champion alone after promotion or rollback).

    The service is asked first: when it cannot be reached, this raises (naming its URL) before any alias or tag
    changes. Returns the step (None when there is nothing to roll out) and a sentence saying why."""
    from mlflow import MlflowClient

    client = MlflowClient()
    by_hand = version is not None
    version = version or alias_version(client, model_name, CHALLENGER)
    if version is None:
        return None, f"no version holds the '{CHALLENGER}' alias of {model_name}: nothing to roll out"
    tags = client.get_model_version(model_name, version).tags
    stage = tags.get(Tag.ROLLOUT_STAGE)
    if stage is None and not by_hand:
        return (
            None,
            f"{model_name} v{version} was not handed over by the gate (deploy.require_proof): left alone",
        )
    if stage is not None and stage not in RolloutStage.ACTIVE:
        return None, f"the rollout of {model_name} v{version} has ended: {stage}"
    champion = champion_version(model_name)
    if champion is None or champion == version:
        return None, f"{model_name} v{version} is the champion (or there is none): nothing to roll out"
    in_force = service.state()  # unreachable: raises here, nothing changed
    closed = close_superseded(
        client, model_name, version, night, "started by hand" if by_hand else "handed over"
    )
    if stage is None:
        started = RolloutCheck("started", True, f"shadow begins on {night} ({actor})")
        step = RolloutStep(
            night.isoformat(),
            champion,
            version,
            "new",
            StepAction.START,
            RolloutStage.SHADOW,
            (started, *closed),
        )
    else:
        if not tags.get(Tag.ROLLOUT_SINCE):  # handed over by the gate: its stage begins the first night seen
            client.set_model_version_tag(model_name, version, Tag.ROLLOUT_SINCE, night.isoformat())
        since = dt.date.fromisoformat(tags.get(Tag.ROLLOUT_SINCE) or night.isoformat())
        checks = _checks(log_engine, schema, deploy, stage, since, night, champion, version)
        left = _service_check(stage, in_force)
        checks = checks if left is None else (*checks, left)
        action, next_stage = step_action(stage, checks)
        step = RolloutStep(
            night.isoformat(), champion, version, stage, action, next_stage, (*checks, *closed)
        )
    strategy = STRATEGY_OF_STAGE.get(step.next_stage, CHAMPION_ONLY)
    carry_out(client, model_name, step, service, str(in_force.get("strategy")), strategy, log_engine, actor)
    return step, step.summary


def close_superseded(
    client: Any, model_name: str, version: str, night: dt.date, how: str
) -> tuple[RolloutCheck, ...]:
    """Close the rollout of every other version still in shadow or canary: `version` took the `challenger`
    alias from it (the gate handed it over, or it was started by hand), so that rollout can never step again.
    Its `rollout.stage` becomes superseded, with a step saying by which version; one check per version closed."""
    closed = []
    for mv in client.search_model_versions(f"name='{model_name}'"):
        other, stage = str(mv.version), mv.tags.get(Tag.ROLLOUT_STAGE)
        if other == version or stage not in RolloutStage.ACTIVE:
            continue
        since = mv.tags.get(Tag.ROLLOUT_SINCE) or "?"
        why = f"{stage} superseded: by v{version} ({how}) on {night}; in {stage} since {since}"
        client.set_model_version_tag(model_name, other, Tag.ROLLOUT_STAGE, RolloutStage.SUPERSEDED)
        client.set_model_version_tag(model_name, other, Tag.ROLLOUT_SINCE, night.isoformat())
        client.set_model_version_tag(model_name, other, f"{Tag.ROLLOUT_STEP_PREFIX}{night}", why)
        closed.append(RolloutCheck("superseded", True, f"v{other}'s rollout closed: {why}"))
    return tuple(closed)


def carry_out(
    client: Any,
    model_name: str,
    step: RolloutStep,
    service: ScoringServiceControl,
    in_force: str,
    strategy: str,
    ledger_engine: sa.Engine,
    actor: str,
) -> None:
    """Apply a judged step to the registry and put `strategy` in force in the service, in the safe order: a
    start or a promotion moves the registry first (the service loads the version the alias now names), any
    other step switches the service first (a challenger is out of callers' answers before the registry says
    so, and a switch the service refuses leaves the registry as it was: the step is tried again next night)."""
    version = step.challenger_version
    reason = f"deploy_model {model_name} v{version}: {step.summary}"
    if step.action in (StepAction.START, StepAction.PROMOTE):
        _apply(client, model_name, step, ledger_engine, actor)
        try:
            if step.action is StepAction.PROMOTE:
                service.reload_champion()
            _put_in_force(service, in_force, strategy, actor, reason)
        except Exception as exc:
            raise RuntimeError(
                f"{step.action} of {model_name} v{version} is recorded in the registry, but the service at "
                f"{service.url} was not switched to {strategy}: {exc}"
            ) from exc
    else:
        _put_in_force(service, in_force, strategy, actor, reason)
        _apply(client, model_name, step, ledger_engine, actor)
