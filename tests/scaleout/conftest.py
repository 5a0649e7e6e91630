"""The scale-out path as separate processes (no containers): Airflow 3 with CeleryExecutor (api-server,
scheduler, dag-processor, two Celery workers) on the machine's PostgreSQL and Redis, an MLflow server with
basic-auth on PostgreSQL and its artifacts in an S3 endpoint (moto's server), the DVC remote on the same
endpoint. Everything gets unique names (databases, Celery queue, bucket, ports) and is removed afterwards.

Run by `make test-scaleout` (`pytest -m scaleout tests/scaleout`); a plain `pytest` deselects it. Without CI it
is skipped when PostgreSQL or Redis is unreachable; with CI set it fails instead.
"""

from __future__ import annotations

import secrets
import uuid

import pytest


def pytest_collection_modifyitems(config, items):
    """Deselect the scale-out test unless it is asked for by its marker (`-m scaleout`)."""
    if "scaleout" in (config.getoption("markexpr") or ""):
        return
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("scaleout") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def suffix() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def secrets_env() -> dict[str, str]:
    from cryptography.fernet import Fernet

    return {
        "fernet": Fernet.generate_key().decode(),
        "jwt": secrets.token_hex(32),
        "api_secret": secrets.token_hex(32),
        "airflow_password": secrets.token_hex(16),
        "mlflow_password": secrets.token_hex(16),
        "mlflow_flask_secret": secrets.token_hex(32),
    }
