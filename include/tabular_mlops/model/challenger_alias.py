"""The `challenger` alias of a version the gate did not take (issue 25, design point 4).

register_challenger gives each new version the `challenger` alias before the gate runs (MLflow's convention: the
alias names the version being evaluated against the champion). A version the gate rejects, refuses, or cannot
promote because the champion moved is no longer a challenger: the alias goes back to the version whose rollout
is in progress (in shadow or canary: a retraining during a rollout interrupted it), or is removed when there is
none. Left on the rejected version, deploy_model read "not handed over: left alone" every night and the rollout
was orphaned: a service in canary, which serves only the version it was switched for, answered with the champion
alone. The service follows the alias back at its next registry poll.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tabular_mlops.core.contracts import CHALLENGER, CHAMPION, RolloutStage, Tag


def _alias(client: Any, name: str, alias: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def version_in_rollout(client: Any, name: str, besides: str) -> Any | None:
    """The newest version other than `besides` and the champion whose rollout is in shadow or canary (handed over
    by the gate or started by hand), or None. deploy_model closes an earlier one as superseded when a later one
    starts, so there is normally one."""
    champion = _alias(client, name, CHAMPION)
    rolling = [
        mv
        for mv in client.search_model_versions(f"name='{name}'")
        if str(mv.version) not in (besides, champion)
        and mv.tags.get(Tag.ROLLOUT_STAGE) in RolloutStage.ACTIVE
    ]
    return max(rolling, key=lambda mv: int(mv.version), default=None)


def give_back_challenger(client: Any, name: str, version: str, why: str, actor: str) -> str | None:
    """If `version` holds the `challenger` alias, move it to the version in rollout (recorded on that version's
    `rollout.alias_back` tag), or remove it when no rollout is in progress. Returns what happened, in a sentence,
    or None when the alias was not on `version` (a re-run: nothing to do).

    One registry call moves the alias (it never names no version in between). When the record cannot be written
    after the move, the alias is put back on `version` and the error raised: either both happened or neither, and
    a retry (the task's) does both."""
    if _alias(client, name, CHALLENGER) != version:
        return None
    rolling = version_in_rollout(client, name, version)
    if rolling is None:
        client.delete_registered_model_alias(name, CHALLENGER)
        return f"the '{CHALLENGER}' alias removed from v{version}: no rollout in progress"
    back, tags = str(rolling.version), rolling.tags
    stage, since = tags[Tag.ROLLOUT_STAGE], tags.get(Tag.ROLLOUT_SINCE) or "its first deploy_model night"
    said = (
        f"the '{CHALLENGER}' alias back on v{back} from v{version}: v{back}'s rollout ({stage} since {since}) "
        "goes on"
    )
    client.set_registered_model_alias(name, CHALLENGER, back)
    try:
        at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        record = f"{at}: back from v{version} by {actor}; v{version}: {why}"
        client.set_model_version_tag(name, back, Tag.ROLLOUT_ALIAS_BACK, record[:4900])
    except Exception:
        client.set_registered_model_alias(name, CHALLENGER, version)
        raise
    return said
