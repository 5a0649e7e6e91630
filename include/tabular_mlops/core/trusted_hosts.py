"""The host names a local web service answers to: 127.0.0.1 and localhost, plus the names listed in
$MLOPS_ALLOWED_HOSTS (comma-separated; a container name such as `scoring`, or a proxy's public name)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from tabular_mlops.core.contracts import ALLOWED_HOSTS_ENV

LOCAL_HOSTS = ("127.0.0.1", "localhost")


def allowed_hosts(environ: Mapping[str, str] = os.environ) -> list[str]:
    """LOCAL_HOSTS and the configured names, without ports (a Host header's port is not part of the check)."""
    extra = [name.strip().lower() for name in environ.get(ALLOWED_HOSTS_ENV, "").split(",") if name.strip()]
    return list(dict.fromkeys([*LOCAL_HOSTS, *extra]))
