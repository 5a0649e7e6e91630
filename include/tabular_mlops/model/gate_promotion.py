"""Was this version promoted by the gate? The alias alone does not say: whoever can write the registry can move
it. A version serves (and is monitored as the champion) only with both marks the gate leaves when it promotes:
its `gate.decision` tag starting with `promoted` and a `promote` row of the promotion ledger naming it (the ledger
lives in the monitoring database, which the registry's users cannot write)."""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa

from tabular_mlops.core.contracts import CHAMPION, GATE_PROMOTED, Tag
from tabular_mlops.store.promotion_ledger import TABLE, was_promoted


class LedgerUnreadableError(ConnectionError):
    """The promotion ledger's database did not answer: the check cannot tell (retry, do not refuse)."""


def not_promoted_reason(
    engine: sa.Engine, model_name: str, version: str, tags: Mapping[str, str]
) -> str | None:
    """Why `version` must not serve as champion (None when the gate promoted it). Raises LedgerUnreadableError
    when the ledger cannot be read."""
    decision = tags.get(Tag.GATE_DECISION)
    if decision is None or not decision.startswith(GATE_PROMOTED):
        said = f"says '{decision[:120]}'" if decision else "is missing"
        return (
            f"not promoted by the gate: its '{Tag.GATE_DECISION}' tag {said} (the '{CHAMPION}' alias was moved "
            "by hand or by something other than train_model)"
        )
    try:
        promoted = was_promoted(engine, model_name, version)
    except sa.exc.SQLAlchemyError as exc:
        raise LedgerUnreadableError(f"promotion ledger unreadable: {str(exc)[:300]}") from exc
    if not promoted:
        return (
            f"not promoted by the gate: no promotion of v{version} in the '{TABLE}' table (its "
            f"'{Tag.GATE_DECISION}' tag was written by something other than train_model)"
        )
    return None
