"""Tables created on first use (prediction log, promotion ledger, decision record, the simulated source): created
once, whatever the number of processes that first use them at the same moment.

`create_tables` creates what is missing inside `ddl_transaction`, which holds the database's own lock for the
time of the DDL: on PostgreSQL a transaction-scoped advisory lock (CREATE TABLE is transactional there, and two
concurrent ones collide on the catalogue's unique index), on SQLite the write lock (`BEGIN IMMEDIATE`). The
existence check runs again under the lock, so the processes that waited find the tables and create nothing. Both
locks are released by the database if the holder dies. Any other database gets catch-and-recheck: a failed
CREATE is an error only if the table is still missing afterwards.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

# How long a process waits for another one's DDL (a migration of a large log copies the table on SQLite).
DDL_LOCK_TIMEOUT_SECONDS = 300
_DDL_LOCK_KEY = int.from_bytes(hashlib.sha256(b"tabular_mlops:ddl").digest()[:8], "big", signed=True)


def _missing(bind: sa.Engine | sa.Connection, metadata: sa.MetaData) -> list[sa.Table]:
    inspector = sa.inspect(bind)
    return [t for t in metadata.sorted_tables if not inspector.has_table(t.name)]


def create_tables(engine: sa.Engine, metadata: sa.MetaData) -> None:
    """Create the tables of `metadata` that do not exist yet (with their indexes), safely from many processes."""
    if not _missing(engine, metadata):
        return
    if engine.dialect.name not in ("postgresql", "sqlite"):
        try:
            metadata.create_all(engine)
        except sa.exc.DBAPIError:
            if _missing(engine, metadata):  # not another process's table: a real failure
                raise
        return
    with ddl_transaction(engine) as conn:
        metadata.create_all(conn, tables=_missing(conn, metadata))


@contextlib.contextmanager
def ddl_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction that covers DDL and that one process at a time holds (PostgreSQL advisory lock, SQLite write
    lock). Python's sqlite3 driver commits before CREATE/DROP/ALTER on its own, so on SQLite a dedicated engine
    hands transaction control to an explicit BEGIN (SQLAlchemy's recipe)."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.text(f"SET LOCAL lock_timeout = '{DDL_LOCK_TIMEOUT_SECONDS}s'"))
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DDL_LOCK_KEY})
            yield conn
        return
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    ddl_engine = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)

    @sa.event.listens_for(ddl_engine, "connect")
    def _no_implicit_transactions(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.execute(f"PRAGMA busy_timeout = {DDL_LOCK_TIMEOUT_SECONDS * 1000}")

    @sa.event.listens_for(ddl_engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock first: no other writer in between

    try:
        with ddl_engine.begin() as conn:
            yield conn
    finally:
        ddl_engine.dispose()
