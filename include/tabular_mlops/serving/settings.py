"""What the environment decides for the service: where the registry and the prediction log are, and the admin
token (never a default: without one the admin routes answer 401)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tabular_mlops.core.secret_rules import judge

ENV_MONITORING_DB = "MLOPS_MONITORING_DB_URL"
ENV_PORT = "MLOPS_SERVING_PORT"
ENV_ADMIN_TOKEN = "MLOPS_SERVING_ADMIN_TOKEN"
# Or a file holding it (what the local stack uses: the token stays out of process listings and config files).
ENV_ADMIN_TOKEN_FILE = "MLOPS_SERVING_ADMIN_TOKEN_FILE"
# The embedded default of the monitoring database, as for the CLI and the stack (relative to the project).
DEFAULT_MONITORING_DB = "var/monitoring.db"


class StartupError(RuntimeError):
    """The service cannot answer: no champion from the registry and none in the cache. The message says why."""


@dataclass(frozen=True)
class ServiceEnv:
    """What the environment decides: where the registry and the log are, and the admin token (never a default)."""

    tracking_uri: str
    monitoring_db_url: str
    admin_token: str | None

    @classmethod
    def from_environ(cls, root: Path) -> ServiceEnv:
        return cls(
            tracking_uri=os.environ.get("MLFLOW_TRACKING_URI")
            or f"sqlite:///{root / 'var' / 'mlflow' / 'mlflow.db'}",
            monitoring_db_url=os.environ.get(ENV_MONITORING_DB)
            or f"sqlite:///{root / DEFAULT_MONITORING_DB}",
            admin_token=strong_admin_token(),
        )


def admin_token_from_environ() -> str | None:
    """The admin token: $MLOPS_SERVING_ADMIN_TOKEN, else the content of $MLOPS_SERVING_ADMIN_TOKEN_FILE."""
    return os.environ.get(ENV_ADMIN_TOKEN) or _token_from_file(os.environ.get(ENV_ADMIN_TOKEN_FILE))


def strong_admin_token() -> str | None:
    """The service's admin token; a weak one (`admin`, short, repeated: core/secret_rules) stops the service at
    start instead of guarding the admin routes badly."""
    token = admin_token_from_environ()
    if token is not None and (why := judge(ENV_ADMIN_TOKEN, token)) is not None:
        where = ENV_ADMIN_TOKEN if os.environ.get(ENV_ADMIN_TOKEN) else os.environ.get(ENV_ADMIN_TOKEN_FILE)
        raise StartupError(f"the admin token ({where}) {why}")
    return token


def _token_from_file(path: str | None) -> str | None:
    if not path:
        return None
    try:
        return Path(path).read_text().strip() or None
    except OSError as exc:
        raise StartupError(
            f"{ENV_ADMIN_TOKEN_FILE}={path}: cannot read the admin token ({exc.strerror})"
        ) from exc
