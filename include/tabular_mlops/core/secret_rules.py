"""Start-up check of the scale-out path's secrets: each one set, not a known default, strong enough.

Compose refuses an unset variable (`${VAR:?...}`) but happily starts with `password1234`, a Fernet key that is
not one, or Airflow's all-admins mode. `tabular-mlops check-secrets NAME...` (run by `airflow-init` before
anything else starts) refuses those with one line per variable, naming it and the rule, never printing its value.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Mapping

# Defaults that circulate in quick-starts and compose files; compared case-insensitively.
KNOWN_DEFAULTS = frozenset(
    {
        "admin",
        "airflow",
        "changeme",
        "change-me",
        "mlflow",
        "minioadmin",
        "password",
        "password1234",
        "postgres",
        "secret",
        "temporary_key",
        "test",
    }
)
MIN_PASSWORD = 12
MIN_KEY = 32
# Airflow's simple auth manager makes every visitor an admin when this is true.
ALL_ADMINS = "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"


def _fernet(value: str) -> str | None:
    try:
        raw = base64.urlsafe_b64decode(value.encode())
    except (binascii.Error, ValueError):
        return "is not a Fernet key (url-safe base64 of 32 bytes)"
    return None if len(raw) == 32 else f"is not a Fernet key (decodes to {len(raw)} bytes, not 32)"


def _longer_than(n: int) -> Callable[[str], str | None]:
    def rule(value: str) -> str | None:
        return None if len(value) >= n else f"is shorter than {n} characters"

    return rule


# Per variable, the rule beyond "set and not a known default"; names not listed get the password rule.
RULES: dict[str, Callable[[str], str | None]] = {
    "AIRFLOW__CORE__FERNET_KEY": _fernet,
    "AIRFLOW__API_AUTH__JWT_SECRET": _longer_than(MIN_KEY),
    "AIRFLOW__API__SECRET_KEY": _longer_than(MIN_KEY),
    "MLFLOW_FLASK_SERVER_SECRET_KEY": _longer_than(MIN_KEY),
    "MLOPS_SERVING_ADMIN_TOKEN": _longer_than(MIN_KEY),
}


def problems(names: list[str], env: Mapping[str, str] | None = None) -> list[str]:
    """What is wrong with the secrets `names` in `env` (default: the process environment); empty when fine."""
    env = os.environ if env is None else env
    found = []
    for name in names:
        value = env.get(name, "")
        if not value.strip():
            found.append(f"{name} is empty or unset: set it in .env")
        elif value.strip().lower() in KNOWN_DEFAULTS:
            found.append(f"{name} is a well-known default: generate a random one")
        elif (why := RULES.get(name, _longer_than(MIN_PASSWORD))(value)) is not None:
            found.append(f"{name} {why}")
    if env.get(ALL_ADMINS, "").strip().lower() in ("true", "1", "yes"):
        found.append(f"{ALL_ADMINS} is on: every visitor would be an admin; turn it off and set passwords")
    return found
