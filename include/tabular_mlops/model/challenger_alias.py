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
import re
from typing import Any

from tabular_mlops.core.contracts import CHALLENGER, CHAMPION, RolloutStage, Tag

# Written on the version in rollout before the alias moves, taken off once it has: a record never claims a move
# that was not made, and a retry knows which move it was (see give_back_challenger).
PENDING = "pending (the alias move is not confirmed yet): "


def alias_version(client: Any, name: str, alias: str) -> str | None:
    """The version holding `alias` of the registered model `name`, or None when no version holds it."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def version_in_rollout(client: Any, name: str, besides: str) -> Any | None:
    """The newest version other than `besides` and the champion whose rollout is in shadow or canary (handed over
    by the gate or started by hand), or None. deploy_model closes an earlier one as superseded when a later one
    starts, so there is normally one."""
    champion = alias_version(client, name, CHAMPION)
    rolling = [
        mv
        for mv in client.search_model_versions(f"name='{name}'")
        if str(mv.version) not in (besides, champion)
        and mv.tags.get(Tag.ROLLOUT_STAGE) in RolloutStage.ACTIVE
    ]
    return max(rolling, key=lambda mv: int(mv.version), default=None)


def _names(record: str, version: str) -> bool:
    """Whether a `rollout.alias_back` record is the one of the alias coming back from `version`."""
    return re.search(rf": back from v{re.escape(version)} by ", record) is not None


def give_back_challenger(client: Any, name: str, version: str, why: str, actor: str) -> str | None:
    """If `version` holds the `challenger` alias, move it to the version in rollout (recorded on that version's
    `rollout.alias_back` tag), or remove it when no rollout is in progress. Returns what happened, in a sentence:
    the same sentence when a re-run finds the move made and recorded; None when the alias was not on `version`
    and no record names it (nothing to do). Call it inside the promotion lock: deploy_model moves the alias and
    the rollout stages under it, so the version in rollout cannot be rolled back between reading and moving.

    Retry-safe in three writes: the record marked pending, the alias moved (one registry call: it never names no
    version in between), the mark taken off. Stopped after the first, the alias is still on `version` and the
    retry does it all again; stopped after the second, the alias is on the version in rollout whose record,
    pending, names `version`: the retry takes the mark off. A pending record says the move may not have been
    made, never that it was."""
    holder = alias_version(client, name, CHALLENGER)
    rolling = version_in_rollout(client, name, version)
    if rolling is None:
        if holder != version:
            return None
        client.delete_registered_model_alias(name, CHALLENGER)
        return f"the '{CHALLENGER}' alias removed from v{version}: no rollout in progress"
    back, tags = str(rolling.version), rolling.tags
    stage, since = tags[Tag.ROLLOUT_STAGE], tags.get(Tag.ROLLOUT_SINCE) or "its first deploy_model night"
    said = (
        f"the '{CHALLENGER}' alias back on v{back} from v{version}: v{back}'s rollout ({stage} since {since}) "
        "goes on"
    )
    record = tags.get(Tag.ROLLOUT_ALIAS_BACK) or ""
    if holder != version:
        # A re-run: the move was made (the alias is on the version in rollout, whose record names `version`), and
        # its record may still be pending; or there is nothing to do.
        if holder != back or not _names(record, version):
            return None
        if record.startswith(PENDING):
            client.set_model_version_tag(name, back, Tag.ROLLOUT_ALIAS_BACK, record.removeprefix(PENDING))
        return said
    at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    record = f"{at}: back from v{version} by {actor}; v{version}: {why}"[:4800]
    client.set_model_version_tag(name, back, Tag.ROLLOUT_ALIAS_BACK, PENDING + record)
    client.set_registered_model_alias(name, CHALLENGER, back)
    client.set_model_version_tag(name, back, Tag.ROLLOUT_ALIAS_BACK, record)
    return said
