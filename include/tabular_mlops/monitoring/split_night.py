"""deploy_model's nightly step while a live split is in force (issue 25): the A/B test's decision or the bandit's
update, with the run's note. Which step a night takes is read from the deploy log (the strategy the service last
put in force, else params.yaml's), so a night with nothing to judge never needs the service; the split's step asks
the service what it runs before acting on it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from tabular_mlops.core.config import BusinessValueConfig, DeployConfig, SchemaConfig
from tabular_mlops.model.scoring import champion_version
from tabular_mlops.monitoring.ab_night import ab_test_step
from tabular_mlops.monitoring.bandit_night import BanditNight, bandit_step
from tabular_mlops.monitoring.note_markdown import MAX_NOTE, Note
from tabular_mlops.monitoring.rollout_night import ScoringServiceControl
from tabular_mlops.monitoring.run_notes import Links, rollout_note
from tabular_mlops.monitoring.split_window import SPLIT_STRATEGIES, live_split, strategy_in_force
from tabular_mlops.store import promotion_ledger
from tabular_mlops.store.deploy_log import DeployLog


def split_in_force(log_engine: sa.Engine, model_name: str, deploy: DeployConfig) -> bool:
    """Whether tonight's step is the split's (an A/B test or a bandit in force) rather than the rollout's."""
    return strategy_in_force(DeployLog(log_engine), model_name, deploy) in SPLIT_STRATEGIES


def bandit_note(
    result: BanditNight | None, why: str, model: str, challenger: str | None, links: Links
) -> str:
    """The bandit update's note: the weights before and after in the headline, the evidence per arm below."""
    if result is None:
        return Note(f"**BANDIT WAIT** {model}: {why}").render(MAX_NOTE)
    moved = ", ".join(f"v{a} {result.before[a]:.2f} -> {w:.2f}" for a, w in result.after.items())
    action = "MOVED" if result.change is not None else "KEPT"
    return Note(
        f"**BANDIT {action}** {model} on {result.night}: {moved}",
        figures=tuple(
            (f"v{a} rewards", f"{n:,} rows, mean {_mean(result.means[a])}") for a, n in result.rows.items()
        )
        + (("reward", result.reward), ("answers", f"{result.rewards_from} to {result.rewards_through}")),
        items=(result.summary,),
        links=((f"model v{challenger}", links.model_version(model, challenger)),),
        full_list_at="the deploy log (GET /admin/deploy/log)",
    ).render(MAX_NOTE)


def _mean(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def split_night(
    model_name: str,
    schema: SchemaConfig,
    deploy: DeployConfig,
    business_value: BusinessValueConfig,
    log_engine: sa.Engine,
    night: dt.date,
    service: ScoringServiceControl,
    actor: str,
    links: Links,
) -> tuple[str, dict[str, Any]]:
    """Decide the A/B test or update the bandit the service runs; returns the run's note and a summary for XCom.
    The service is asked first: unreachable, this raises (naming its URL) before anything changes."""
    state = service.state()
    champion = champion_version(model_name)
    moves = [e.at for e in promotion_ledger.history(log_engine, model_name) if e.to_version == champion]
    split, why = live_split(DeployLog(log_engine), model_name, state, champion, moves[-1] if moves else None)
    if split is None:
        return Note(f"**NOTHING TO DECIDE**: {why}").render(MAX_NOTE), {"why": why}
    if split.strategy == "ab_test":
        step = ab_test_step(model_name, schema, deploy, log_engine, night, split, service, actor)
        return rollout_note(step, step.summary, model_name, links), {"step": step.to_dict()}
    result, why = bandit_step(model_name, schema, business_value, log_engine, night, split, actor)
    note = bandit_note(result, why, model_name, split.challenger, links)
    return note, {"bandit": None if result is None else result.to_dict(), "why": why}
