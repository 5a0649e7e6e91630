"""The training side of a promotion: ask the running scoring service to load the new champion now
(`POST /admin/reload`) instead of at its next registry poll.

Best effort by design: the registry alias is the truth and the service follows it by polling anyway, so a service
that is not configured, not running or refusing the new version is logged as a warning and reported in the
result, never an error that would fail a training whose promotion already happened.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from tabular_mlops.core.config import ServingConfig
from tabular_mlops.core.contracts import SERVING_URL_ENV
from tabular_mlops.serving.settings import (
    ENV_ADMIN_TOKEN,
    ENV_ADMIN_TOKEN_FILE,
    ENV_PORT,
    admin_token_from_environ,
)

log = logging.getLogger(__name__)

# Loading and testing a model takes seconds; longer than this and the poll will pick the champion up anyway.
RELOAD_TIMEOUT_SECONDS = 60.0


def service_url(serving: ServingConfig) -> str:
    """$MLOPS_SERVING_URL, else the address `tabular-mlops serve` binds by default."""
    url = os.environ.get(SERVING_URL_ENV)
    if url:
        return url.rstrip("/")
    return f"http://{serving.host}:{os.environ.get(ENV_PORT) or serving.port}"


def request_reload(serving: ServingConfig, timeout: float = RELOAD_TIMEOUT_SECONDS) -> dict[str, Any]:
    """POST /admin/reload with the admin token from the environment; never raises.

    Returns `{"outcome": ..., "url": ..., "reason"/the service's answer}`; outcome is `reloaded` when the service
    answered 200 (its own outcome says `swapped` or `unchanged`), else `skipped` (no token), `unreachable` or
    `refused` (any other status: the reason is the service's) and a warning was logged.
    """
    import httpx

    url = service_url(serving)
    try:
        token = admin_token_from_environ()
    except Exception as exc:  # noqa: BLE001 - an unreadable token file is a warning here, not a failed training
        return _warn("skipped", url, str(exc))
    if token is None:
        return _warn("skipped", url, f"neither {ENV_ADMIN_TOKEN} nor {ENV_ADMIN_TOKEN_FILE} is set")
    try:
        # trust_env=False: the service is on this host; a configured proxy must not carry the token elsewhere.
        resp = httpx.post(
            f"{url}/admin/reload",
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            trust_env=False,
        )
    except httpx.HTTPError as exc:
        return _warn("unreachable", url, f"{type(exc).__name__}: {exc}")
    try:
        answer = resp.json()
    except ValueError:
        answer = {"detail": resp.text[:500]}
    if resp.status_code != 200:
        return _warn("refused", url, f"HTTP {resp.status_code}: {answer}")
    log.info("scoring service at %s reloaded: %s", url, answer)
    return {"outcome": "reloaded", "url": url, "service": answer}


def _warn(outcome: str, url: str, reason: str) -> dict[str, Any]:
    log.warning(
        "scoring service at %s not reloaded (%s): %s; it follows the champion alias at its next poll",
        url,
        outcome,
        reason,
    )
    return {"outcome": outcome, "url": url, "reason": reason}
