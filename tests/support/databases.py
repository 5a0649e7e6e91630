"""Throw-away databases for tests that need a real SQLite file or the machine's PostgreSQL (127.0.0.1:5432, trust
auth): each test gets a fresh database, dropped afterwards; PostgreSQL tests skip where none is running."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

PG_SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
KINDS = ("sqlite", "postgresql")


@contextlib.contextmanager
def fresh_database(kind: str, folder: Path) -> Iterator[str]:
    """The URL of a new, empty database of `kind` (a SQLite file in `folder`, or a PostgreSQL database)."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / f'fresh-{uuid.uuid4().hex[:8]}.db'}"
        return
    admin = sa.create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    name = f"test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.skip(f"no PostgreSQL at 127.0.0.1:5432: {exc}")
    try:
        yield sa.make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
