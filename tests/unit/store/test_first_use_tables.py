"""Issue 22 item 4: every table created on first use (promotion ledger, prediction log, decision record, the
simulated source) is created by eight processes at once on a fresh SQLite file and a fresh PostgreSQL database
without an error, and exists once with its columns."""

from __future__ import annotations

import datetime as dt
import multiprocessing
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.databases import KINDS, fresh_database

PROCESSES = 8


def _first_use(url: str, root: str, barrier, results) -> None:
    """In its own process: wait for the others, then touch every table that is created on first use."""
    from tabular_mlops.core.config import load_params
    from tabular_mlops.data.simulate import generate_day
    from tabular_mlops.monitoring import decisions_log
    from tabular_mlops.store import prediction_log, promotion_ledger, source_db
    from tabular_mlops.store.deploy_log import DeployLog

    schema = load_params(Path(root) / "params.yaml").schema
    engine = sa.create_engine(url)
    day = dt.date(2026, 1, 1)
    batch = generate_day(day, 3, 1)
    barrier.wait(timeout=120)
    try:
        promotion_ledger.ensure(engine)
        prediction_log.ensure_table(engine, schema)
        decisions_log.ensure(engine)
        DeployLog(engine)
        source_db.write_day(engine, schema, day, batch)
        results.put("ok")
    except Exception as exc:  # noqa: BLE001 - the test reports what each process met
        results.put(f"{type(exc).__name__}: {exc}"[:300])
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", KINDS)
def test_eight_processes_create_the_tables_once(kind, tmp_path, repo_params):
    # Forked after the package is imported here, so the eight start at once (importing it is most of the work).
    from tabular_mlops.data import simulate  # noqa: F401
    from tabular_mlops.monitoring import decisions_log  # noqa: F401

    from tests.support.project import REPO

    with fresh_database(kind, tmp_path) as url:
        ctx = multiprocessing.get_context("fork")
        barrier, results = ctx.Barrier(PROCESSES), ctx.Queue()
        procs = [
            ctx.Process(target=_first_use, args=(url, str(REPO), barrier, results)) for _ in range(PROCESSES)
        ]
        for p in procs:
            p.start()
        outcomes = [results.get(timeout=300) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        assert outcomes == ["ok"] * PROCESSES
        engine = sa.create_engine(url)
        names = set(sa.inspect(engine).get_table_names())
        assert {
            "promotion_ledger",
            "prediction_log",
            "monitoring_decisions",
            repo_params.schema.table,
        } <= names
        engine.dispose()
