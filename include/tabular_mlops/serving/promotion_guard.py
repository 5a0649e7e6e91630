"""The service's question before it swaps: did the gate promote the registry's champion? (model/gate_promotion.py
has the rule.) A version whose alias was moved by hand is refused with that reason, whatever its checksum."""

from __future__ import annotations

import sqlalchemy as sa

from tabular_mlops.model.gate_promotion import LedgerUnreadableError, not_promoted_reason


class PromotionGuard:
    """Reads the version's tags from the registry and the promotion ledger from the monitoring database."""

    def __init__(self, ledger_url: str, model_name: str) -> None:
        self.ledger_url, self.model_name = ledger_url, model_name
        self._engine: sa.Engine | None = None

    def _ledger(self) -> sa.Engine:
        if self._engine is None:
            self._engine = sa.create_engine(self.ledger_url, pool_pre_ping=True)
        return self._engine

    def refusal(self, version: str) -> str | None:
        """Why `version` must not serve, or None. Raises ConnectionError (LedgerUnreadableError, or the registry's
        own failure) when it cannot tell."""
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        try:
            tags = dict(MlflowClient().get_model_version(self.model_name, version).tags)
        except (MlflowException, OSError) as exc:
            raise ConnectionError(f"the tags of v{version} cannot be read: {str(exc)[:300]}") from exc
        try:
            return not_promoted_reason(self._ledger(), self.model_name, version, tags)
        except sa.exc.ArgumentError as exc:  # a malformed URL never becomes readable: say so on every poll
            raise LedgerUnreadableError(f"promotion ledger URL: {exc}") from exc

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
