"""Real Airflow for the end-to-end tests: a migrated metadata DB in the private AIRFLOW_HOME and the DVC pool."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """What `airflow db migrate` and `airflow pools set dvc_repo 1 ...` do (the functions those commands call),
    in this process: the tests import Airflow anyway, so two more interpreters importing it (about 10 CPU s
    per pytest worker) buy nothing."""
    from airflow.models.pool import Pool
    from airflow.utils.db import upgradedb

    upgradedb()
    Pool.create_or_update_pool("dvc_repo", 1, "DVC workspace + registry", include_deferred=False)
