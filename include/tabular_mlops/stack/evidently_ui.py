"""`python -m tabular_mlops.stack.evidently_ui`: the Evidently UI (`evidently ui`) behind a Host check.

The UI has no login and answers whatever Host header it gets, so a DNS-rebinding page could read the reports or
write to the workspace through a browser on this machine. The same app Evidently's CLI builds is served here with
Starlette's TrustedHostMiddleware in front: 127.0.0.1, localhost and $MLOPS_ALLOWED_HOSTS only.
"""

from __future__ import annotations

import argparse
from typing import Any

from tabular_mlops.core.trusted_hosts import allowed_hosts


def guarded_app(workspace: str, host: str, port: int, hosts: list[str] | None = None) -> Any:
    """Evidently's UI app for `workspace`, wrapped in the Host check."""
    from evidently.ui.service.app import create_app, get_config
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    config = get_config(host=host, port=port, workspace=workspace)
    return TrustedHostMiddleware(
        create_app(config), allowed_hosts=hosts or allowed_hosts(), www_redirect=False
    )


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m tabular_mlops.stack.evidently_ui", description=__doc__)
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    uvicorn.run(guarded_app(args.workspace, args.host, args.port), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
