"""What the gate leaves on a version it promotes (promote_if_better): the `gate.decision` tag and a ledger row.
Tests that move the champion alias themselves add both, so the service (which serves only gate-promoted versions)
takes the version for the reason the test is about."""

from __future__ import annotations

import sqlalchemy as sa
from mlflow import MlflowClient
from tabular_mlops.core.contracts import CHAMPION, GATE_PROMOTED, Tag
from tabular_mlops.store.promotion_ledger import promotion_lock


def promote_as_the_gate(name: str, version: str, ledger: sa.Engine) -> None:
    """Move `champion` to `version` with the gate's marks, inside the promotion lock as the gate does."""
    client = MlflowClient()
    with promotion_lock(ledger, name) as book:
        client.set_registered_model_alias(name, CHAMPION, version)
        book.record("promote", None, version, "test", ["promoted by the test, as the gate would"])
        client.set_model_version_tag(name, version, Tag.GATE_DECISION, GATE_PROMOTED)
