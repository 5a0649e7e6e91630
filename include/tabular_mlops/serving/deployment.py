"""Which model answers a request under the deployment strategy in force (params.yaml `deploy.strategy`, switched
at run time by POST /admin/strategy): the champion alone; the champion with the challenger in shadow; a sticky
split between them (canary, A/B test); or a bandit's weights. Every switch is recorded (who, when, from, to,
why) in the deploy log and on the challenger version's tags; the canary guard rolls back by itself.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from tabular_mlops.core.config import STRATEGIES, DeployConfig, Params
from tabular_mlops.core.contracts import CHALLENGER, CHAMPION, GATE_HANDED_OVER, Tag
from tabular_mlops.model.scoring import version_record
from tabular_mlops.serving.answers import Answer, Answerer, Records
from tabular_mlops.serving.challenger_slot import ChallengerSlot
from tabular_mlops.serving.holder import ModelHolder, Served
from tabular_mlops.serving.shadow import ShadowRunner
from tabular_mlops.stats.bandit import BanditConfig, BanditState, RewardKind, start_bandit, with_arms
from tabular_mlops.stats.canary_guard import CanaryWindow, GuardAction, GuardRules
from tabular_mlops.stats.routing import RoutingPlan, bucket, canary_plan, weighted_plan
from tabular_mlops.store.deploy_log import BANDIT_ALLOCATION, STATE_EVENTS, DeployEvent, DeployLog

log = logging.getLogger(__name__)
# Strategies in which the challenger's answers reach callers: only a version the gate handed over may take them.
LIVE_STRATEGIES = ("canary", "ab_test", "bandit")

SPLITS = ("canary", "ab_test", "bandit")


class StrategyRefused(ValueError):
    """A switch that cannot be made (unknown strategy, no challenger warm, deploy log unwritable)."""


@dataclass(frozen=True)
class StrategyState:
    strategy: str
    since: str
    actor: str
    reason: str
    # The challenger a switch put the strategy in force for (None: deploy.strategy at start, not pinned).
    challenger_version: str | None = None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def guard_rules(deploy: DeployConfig) -> GuardRules:
    g = deploy.canary.guard
    return GuardRules(g.window_seconds, g.max_error_rate, g.min_requests, g.max_p99_latency_ms,
                      g.min_latencies, g.max_score_psi, g.min_scores)  # fmt: skip


def bandit_config(deploy: DeployConfig) -> BanditConfig:
    b = deploy.bandit
    return BanditConfig(RewardKind(b.reward), b.floor, b.draws, b.min_change, b.seed)


class Deployment:
    """Routes requests between the champion (holder) and the warm challenger (slot) per the strategy in force."""

    def __init__(
        self,
        params: Params,
        holder: ModelHolder,
        answers: Answerer,
        store: Callable[[], DeployLog],
        tag_version: Callable[[str, dict[str, str]], None],
    ) -> None:
        self.deploy, self.model_name = params.deploy, params.registry.model_name
        self.id_column = params.schema.id_column
        self.holder, self.answers = holder, answers
        self._store, self._tag_version = store, tag_version
        self.challenger = ChallengerSlot(params)
        sh = self.deploy.shadow
        self.shadow = ShadowRunner(answers, sh.timeout_ms, sh.batch_ms, sh.max_queued_rows, answers.metrics)
        self.state = StrategyState(self.deploy.strategy, _now(), "params.yaml", "deploy.strategy at start")
        self.window: CanaryWindow | None = None
        self.bandit: BanditState | None = None
        self.last_verdict: dict[str, Any] | None = None
        self._plan: tuple[tuple[str, ...], RoutingPlan] | None = None
        self._lock = threading.Lock()
        if self.state.strategy == "canary":
            self.window = self._new_window()

    # ------------------------------------------------------------------ answers

    def score_groups(self, groups: list[Records], received: list[float]) -> list[list[Answer]]:
        champion, challenger, strategy = self.holder.current, self.challenger.served, self.state.strategy
        if strategy == "champion" or challenger is None or challenger.version == champion.version:
            return self.answers.score_groups(groups, received)
        if strategy == "shadow":
            answers = self.answers.score_groups(groups, received)
            self._shadow(challenger, groups, answers, received)
            return answers
        pinned = self.state.challenger_version
        if pinned is not None and challenger.version != pinned:
            # The alias moved since the split was put in force (register_challenger sets it before the gate
            # runs): a version that was never switched to answers nobody; the champion does until a switch.
            return self.answers.score_groups(groups, received)
        plan = self._routing(champion, challenger)
        if plan is None:
            return self.answers.score_groups(groups, received)
        served = {CHAMPION: champion, CHALLENGER: challenger}
        arms = [[self._arm(plan, r) for r in g] for g in groups]
        answers = self._split(arms, groups, received, served)
        if strategy == "canary":
            self._cross_shadow(arms, groups, answers, received, served)
        return answers

    def _arm(self, plan: RoutingPlan, record: dict[str, Any]) -> str:
        # No id: nothing to stick to, so the champion answers.
        entity = record.get(self.id_column)
        return plan.arm_for(str(entity)) if entity else CHAMPION

    def _split(
        self, arms: list[list[str]], groups: list[Records], received: list[float], served: dict[str, Served]
    ) -> list[list[Answer]]:
        out: list[list[Answer | None]] = [[None] * len(g) for g in groups]
        for arm, model in served.items():
            mine = [i for i, a in enumerate(arms) if arm in a]
            if not mine:
                continue
            sub = [[r for r, a in zip(groups[i], arms[i], strict=True) if a == arm] for i in mine]
            answered = self.answers.score_groups(sub, [received[i] for i in mine], model)
            done = time.perf_counter()
            for i, answers in zip(mine, answered, strict=True):
                it = iter(answers)
                for k, a in enumerate(arms[i]):
                    if a == arm:
                        out[i][k] = answer = next(it)
                        self._observe(arm, answer, (done - received[i]) * 1000.0)
        return [[a for a in g if a is not None] for g in out]

    def _observe(self, arm: str, answer: Answer, latency_ms: float) -> None:
        window = self.window
        if window is not None:
            ok = not answer["fallback"]
            window.record(
                time.monotonic(), arm, ok=ok, latency_ms=latency_ms, score=answer["score"] if ok else None
            )

    def _shadow(
        self, challenger: Served, groups: list[Records], answers: list[list[Answer]], received: list[float]
    ) -> None:
        for group, primary, arrived in zip(groups, answers, received, strict=True):
            self._submit_shadow(challenger, list(zip(group, primary, strict=True)), arrived)

    def _cross_shadow(
        self,
        arms: list[list[str]],
        groups: list[Records],
        answers: list[list[Answer]],
        received: list[float],
        served: dict[str, Served],
    ) -> None:
        """In canary, the version that did not answer a row scores it in the background (source shadow, the
        answer's key): the champion the canary's rows, the challenger the champion's. The paired comparison and
        its sequential test go on through canary on every application, while the canary guard judges the
        challenger's own answers."""
        other = {CHAMPION: CHALLENGER, CHALLENGER: CHAMPION}
        for group_arms, group, primary, arrived in zip(arms, groups, answers, received, strict=True):
            for arm, model in served.items():
                rows = [
                    (r, a) for r, a, by in zip(group, primary, group_arms, strict=True) if other[by] == arm
                ]  # fmt: skip
                self._submit_shadow(model, rows, arrived)

    def _submit_shadow(
        self, model: Served, rows: list[tuple[dict[str, Any], Answer]], arrived: float
    ) -> None:
        """Queue the `shadow.fraction` of these (record, primary answer) rows picked by id for `model`."""
        fraction, salt = self.deploy.shadow.fraction, self.deploy.routing_salt
        picked = [(r, a) for r, a in rows if fraction >= 1 or bucket(str(a["entity_id"]), salt) < fraction]
        if picked:
            records, shadowed = [r for r, _ in picked], [a for _, a in picked]
            self.shadow.submit(model, records, shadowed, [arrived] * len(records))

    def _routing(self, champion: Served, challenger: Served) -> RoutingPlan | None:
        """The plan of the split in force for these two versions (rebuilt when either changes)."""
        strategy = self.state.strategy
        key = (
            strategy,
            champion.version,
            challenger.version,
            json.dumps(self.bandit.weights if self.bandit else None),
        )
        cached = self._plan
        if cached is not None and cached[0] == key:
            return cached[1]
        salt = self.deploy.routing_salt
        if strategy == "canary":
            plan = canary_plan(self.deploy.canary.share, salt, champion=CHAMPION, challenger=CHALLENGER)
        elif strategy == "ab_test":
            plan = canary_plan(self.deploy.ab_test.share, salt, champion=CHAMPION, challenger=CHALLENGER)
        else:
            weights = self.bandit.weights if self.bandit else {}
            if set(weights) != {champion.version, challenger.version}:
                return None  # the bandit is redrawn for these versions by the next check
            roles = {champion.version: CHAMPION, challenger.version: CHALLENGER}
            plan = weighted_plan({roles[v]: w for v, w in weights.items()}, salt)
        self._plan = (key, plan)
        return plan

    # ------------------------------------------------------------------ switching

    def switch(self, strategy: str, actor: str, reason: str, event: str = "strategy_change",
               detail: dict[str, Any] | None = None) -> DeployEvent:  # fmt: skip
        """Put `strategy` in force; recorded in the deploy log first (a switch that cannot be recorded is
        refused), then on the challenger version's tags (a tag failure is logged, the switch stands)."""
        if strategy not in STRATEGIES:
            raise StrategyRefused(f"unknown strategy {strategy!r} (allowed: {', '.join(STRATEGIES)})")
        with self._lock:
            challenger = self.challenger.served
            champion = self.holder.current.version if self.holder.loaded else None
            if strategy != "champion" and (challenger is None or challenger.version == champion):
                raise StrategyRefused(
                    f"cannot switch to {strategy}: no {CHALLENGER} is warm ({self.challenger.last_reason})"
                )
            if strategy in LIVE_STRATEGIES and challenger is not None:
                gate = self._gate_decision(challenger)
                if not gate.startswith(GATE_HANDED_OVER):
                    # register_challenger sets the alias before the gate runs: a live split must wait for the gate.
                    raise StrategyRefused(
                        f"cannot switch to {strategy}: {CHALLENGER} v{challenger.version} has not passed the "
                        f"gate ({Tag.GATE_DECISION}: {gate[:200]}); only shadow scores an ungated version"
                    )
            # The challenger the switch is about: the warm one, else the one the strategy in force was switched
            # for (after a promotion the service may drop the slot before deploy_model switches to the champion).
            about = challenger.version if challenger else self.state.challenger_version
            change = DeployEvent(
                at=_now(), model_name=self.model_name, event=event, from_strategy=self.state.strategy,
                to_strategy=strategy, actor=actor, champion_version=champion,
                challenger_version=about, reason=reason, detail=detail or {},
            )  # fmt: skip
            try:
                store = self._store()
                if strategy == "bandit":  # its weights first: a switch the log records is one that happened
                    self._start_bandit(store, champion, challenger)
                store.record(change)
            except Exception as exc:
                if event == "strategy_change":
                    raise StrategyRefused(f"the deploy log cannot record the switch: {exc}") from exc
                log.error("deploy log: could not record %s (%s): %s", event, reason, exc)
            self.window = self._new_window() if strategy == "canary" else None
            self.state = StrategyState(strategy, change.at, actor, reason, change.challenger_version)
            self._plan = None
        log.warning("deploy strategy %s -> %s by %s: %s", change.from_strategy, strategy, actor, reason)
        if change.challenger_version is not None:
            tags = {Tag.DEPLOY_STRATEGY: strategy, Tag.DEPLOY_LAST_CHANGE: json.dumps(_who(change))}
            if event == "canary_rollback":
                tags[Tag.DEPLOY_ROLLBACK] = f"{change.at}: {reason}"[:5000]
            self._tag(change.challenger_version, tags)
        return change

    def restore(self) -> str:
        """After a restart: put back the strategy the deploy log last recorded for this model (a restart mid-canary
        must not silently go back to the champion alone), recorded as `strategy_restored`. Only for the same
        challenger version, warm again; otherwise deploy.strategy stays and the reason is logged and returned."""
        try:
            # Only the events that put a strategy in force: a month of nightly bandit rows must not hide them.
            events = self._store().history(self.model_name, limit=1, events=STATE_EVENTS)
        except Exception as exc:  # noqa: BLE001 - an unreadable log: start with params.yaml, say why
            return self._kept(f"the deploy log cannot be read: {exc}")
        last = next(iter(events), None)
        if last is None:
            return self._kept("the deploy log has no strategy for this model")
        if last.to_strategy == self.state.strategy:
            return self._kept(f"{last.to_strategy} is already in force")
        challenger = self.challenger.served
        if last.to_strategy != "champion" and (
            challenger is None or challenger.version != last.challenger_version
        ):
            now = challenger.version if challenger else None
            return self._kept(
                f"the last strategy {last.to_strategy} was for {CHALLENGER} v{last.challenger_version}, "
                f"the warm one is v{now}"
            )
        why = f"restored after a restart: {last.to_strategy} since {last.at} by {last.actor} ({last.reason[:300]})"
        try:
            self.switch(
                last.to_strategy, "service-restart", why, "strategy_restored", {"restored": last.to_dict()}
            )
        except StrategyRefused as exc:
            return self._kept(str(exc))
        return why

    def _gate_decision(self, challenger: Served) -> str:
        """The challenger's gate decision as the registry says it now. register_challenger sets the alias before
        the gate runs, so the service often loads the version while its decision is still pending: the tags it
        loaded with would refuse a live split for ever after the gate handed the version over."""
        try:
            tags = version_record(self.model_name, challenger.version).tags
        except Exception as exc:  # noqa: BLE001 - the registry unreachable: the tags loaded with, said so
            log.warning(
                "gate decision of v%s from the registry: %s; using its tags at load", challenger.version, exc
            )
            tags = challenger.loaded.tags
        return str(tags.get(Tag.GATE_DECISION, "none"))

    def _kept(self, why: str) -> str:
        log.warning("deploy strategy %s kept at start: %s", self.state.strategy, why)
        return why

    def _tag(self, version: str, tags: dict[str, str]) -> None:
        try:
            self._tag_version(version, tags)
        except Exception as exc:  # noqa: BLE001 - the deploy log has the record; the registry may be down
            log.error("could not tag v%s with %s: %s", version, sorted(tags), exc)

    def _new_window(self) -> CanaryWindow:
        return CanaryWindow(guard_rules(self.deploy), canary=CHALLENGER, champion=CHAMPION)

    def _start_bandit(self, store: DeployLog, champion: str | None, challenger: Served | None) -> None:
        """The stored bandit state for these versions, else a new one (recorded as an allocation)."""
        if champion is None or challenger is None:
            return
        arms = [champion, challenger.version]
        stored = store.bandit_state(self.model_name)
        if stored is not None:
            state = BanditState.from_dict(stored)
            if set(state.weights) == set(arms):
                self.bandit = state
                return
            state, change = with_arms(state, arms, _now())
        else:
            state = start_bandit(arms, bandit_config(self.deploy))
            change = None
        store.save_bandit_state(self.model_name, state.to_dict(), dt.datetime.now(dt.UTC))
        reason = change.reason if change else f"bandit started over {arms} with equal weights"
        detail = change.to_dict() if change else {"weights": state.weights}
        store.record(DeployEvent(_now(), self.model_name, BANDIT_ALLOCATION, "bandit", "bandit", "service",
                                 champion, challenger.version, reason, detail))  # fmt: skip
        self.bandit = state

    # ------------------------------------------------------------------ the periodic check

    def check(self) -> None:
        """The canary guard's verdict on its window (rollback when a rule breaks), and the bandit's weights
        re-read (the nightly update writes them)."""
        window, strategy = self.window, self.state.strategy
        if strategy == "canary" and window is not None:
            verdict = window.verdict(time.monotonic())
            self.last_verdict = verdict.to_dict()
            if verdict.action is GuardAction.ROLLBACK:
                reason = "canary guard: " + "; ".join(verdict.reasons)
                self.switch("champion", "canary-guard", reason, "canary_rollback", verdict.to_dict())
        elif strategy == "bandit":
            with self._lock:
                self._start_bandit(self._store(), self.holder.current.version, self.challenger.served)
                self._plan = None

    def describe(self) -> dict[str, Any]:
        challenger = self.challenger.served
        plan = self._plan[1] if self._plan else None
        return {
            **asdict(self.state),
            "challenger": challenger.version if challenger else None,
            "challenger_status": self.challenger.last_reason,
            "routing": plan.shares if plan and self.state.strategy in SPLITS else None,
            "shadow": asdict(self.shadow.counts),
            "canary_verdict": self.last_verdict,
            "bandit_weights": self.bandit.weights
            if self.bandit and self.state.strategy == "bandit"
            else None,
        }


def _who(change: DeployEvent) -> dict[str, Any]:
    return {"by": change.actor, "at": change.at, "from": change.from_strategy, "to": change.to_strategy,
            "reason": change.reason[:500]}  # fmt: skip
