"""One promotion at a time, and a ledger of every alias move.

Whatever moves `champion` (the training DAG, `tabular-mlops rollback`, a second Airflow deployment) does it
inside `promotion_lock`, a lock held by a real database: a PostgreSQL advisory lock, or SQLite's write lock
(`BEGIN IMMEDIATE`) on the embedded default. Both are released by the database if the holder dies. Inside the
lock the mover re-reads the champion, moves the aliases and appends a row to `promotion_ledger` (who, when, from,
to, reasons) in the same database, so `tabular-mlops promotions` can print the history.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa

from tabular_mlops.store.tables import create_tables

TABLE = "promotion_ledger"
LOCK_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class LedgerEntry:
    """One alias move: a promotion by the gate, or a rollback."""

    at: str
    model_name: str
    action: str  # promote | rollback
    from_version: str | None
    to_version: str
    actor: str
    reasons: list[str]


def _table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        TABLE,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("model_name", sa.String(256), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_version", sa.String(32), nullable=True),
        sa.Column("to_version", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(512), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
    )


def ensure(engine: sa.Engine) -> sa.Table:
    metadata = sa.MetaData()
    table = _table(metadata)
    create_tables(engine, metadata)
    return table


def _lock_key(model_name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"promote:{model_name}".encode()).digest()[:8], "big", signed=True)


class Ledger:
    """Handed out by `promotion_lock`: appends entries inside the lock's transaction."""

    def __init__(self, conn: sa.Connection, table: sa.Table, model_name: str) -> None:
        self._conn, self._table, self.model_name = conn, table, model_name

    def record(
        self, action: str, from_version: str | None, to_version: str, actor: str, reasons: list[str]
    ) -> LedgerEntry:
        entry = LedgerEntry(
            at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            model_name=self.model_name,
            action=action,
            from_version=from_version,
            to_version=to_version,
            actor=actor,
            reasons=reasons,
        )
        self._conn.execute(
            self._table.insert().values(
                at=entry.at,
                model_name=entry.model_name,
                action=entry.action,
                from_version=entry.from_version,
                to_version=entry.to_version,
                actor=entry.actor,
                reasons=json.dumps(entry.reasons),
            )
        )
        return entry


@contextlib.contextmanager
def promotion_lock(engine: sa.Engine, model_name: str) -> Iterator[Ledger]:
    """Hold the promotion lock of `model_name` for the block; the ledger rows commit when the block ends."""
    table = ensure(engine)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(sa.text(f"SET lock_timeout = '{LOCK_TIMEOUT_SECONDS}s'"))
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(model_name)})
            yield Ledger(conn, table, model_name)
            conn.commit()  # ends the transaction: the xact lock goes with it
    elif engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {LOCK_TIMEOUT_SECONDS * 1000}")
            # pysqlite opens transactions lazily and as DEFERRED; take SQLite's write lock now instead.
            raw = conn.connection.driver_connection
            saved = raw.isolation_level  # type: ignore[union-attr]
            raw.isolation_level = None  # type: ignore[union-attr]
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                try:
                    yield Ledger(conn, table, model_name)
                except BaseException:
                    conn.exec_driver_sql("ROLLBACK")
                    raise
                conn.exec_driver_sql("COMMIT")
            finally:
                raw.isolation_level = saved  # type: ignore[union-attr]
    else:
        raise ValueError(
            f"promotion lock: unsupported database '{engine.dialect.name}' (use PostgreSQL or SQLite)"
        )


def was_promoted(engine: sa.Engine, model_name: str, version: str) -> bool:
    """Whether the gate promoted `version` (a `promote` row naming it): a rollback only ever moves the alias back
    to a version that was. No ledger yet means nothing was promoted. Raises SQLAlchemyError when the database
    cannot be read (the caller tells "not promoted" from "cannot tell")."""
    if not sa.inspect(engine).has_table(TABLE):
        return False
    table = _table(sa.MetaData())
    query = sa.select(sa.func.count()).where(
        table.c.model_name == model_name, table.c.action == "promote", table.c.to_version == str(version)
    )
    with engine.connect() as conn:
        return bool(conn.execute(query).scalar())


def history(engine: sa.Engine, model_name: str | None = None) -> list[LedgerEntry]:
    """Every alias move, oldest first."""
    if not sa.inspect(engine).has_table(TABLE):
        return []
    table = ensure(engine)
    query = sa.select(table).order_by(table.c.id)
    if model_name is not None:
        query = query.where(table.c.model_name == model_name)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        LedgerEntry(
            at=r["at"],
            model_name=r["model_name"],
            action=r["action"],
            from_version=r["from_version"],
            to_version=r["to_version"],
            actor=r["actor"],
            reasons=json.loads(r["reasons"]),
        )
        for r in rows
    ]
