"""The rule the service and monitoring share: a champion counts only with the gate's two marks, the `gate.decision`
tag and a `promote` row of the promotion ledger (a real SQLite ledger here)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from tabular_mlops.core.contracts import Tag
from tabular_mlops.model.gate_promotion import LedgerUnreadableError, not_promoted_reason
from tabular_mlops.store.promotion_ledger import promotion_lock

NAME = "credit_default"
PROMOTED = {Tag.GATE_DECISION: "promoted"}


@pytest.fixture
def ledger(tmp_path):
    return sa.create_engine(f"sqlite:///{tmp_path / 'monitoring.db'}")


def test_no_ledger_table_and_no_tag_is_not_promoted(ledger):
    assert "tag is missing" in not_promoted_reason(ledger, NAME, "3", {})
    assert "no promotion of v3" in not_promoted_reason(ledger, NAME, "3", PROMOTED)


def test_a_rejected_or_pending_decision_is_not_promoted(ledger):
    with promotion_lock(ledger, NAME) as book:
        book.record("promote", None, "3", "test", [])
    why = not_promoted_reason(ledger, NAME, "3", {Tag.GATE_DECISION: "rejected: worse by 0.02"})
    assert "says 'rejected: worse by 0.02'" in why


def test_both_marks_make_a_promoted_version_and_a_rollback_row_is_not_one(ledger):
    with promotion_lock(ledger, NAME) as book:
        book.record("promote", None, "3", "test", [])
        book.record("rollback", "3", "4", "test", [])  # a rollback names a version, it does not promote it
        book.record("promote", None, "5", "test", [])
    assert not_promoted_reason(ledger, NAME, "3", PROMOTED) is None
    assert "no promotion of v4" in not_promoted_reason(ledger, NAME, "4", PROMOTED)
    assert "no promotion of v5" in not_promoted_reason(ledger, "other_model", "5", PROMOTED)


def test_an_unreadable_ledger_cannot_tell(tmp_path):
    broken = sa.create_engine(f"sqlite:///{tmp_path / 'missing-folder' / 'monitoring.db'}")
    with pytest.raises(LedgerUnreadableError, match="promotion ledger unreadable"):
        not_promoted_reason(broken, NAME, "3", PROMOTED)
