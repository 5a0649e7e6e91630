"""`tabular-mlops serve`: load the champion (or the cached one) before binding the port, then run uvicorn.

A service that cannot load any model exits at once with the reason instead of listening and failing requests.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from pathlib import Path

from tabular_mlops.core.config import Params
from tabular_mlops.serving.service import ScoringService
from tabular_mlops.serving.settings import ENV_PORT, ServiceEnv

# MLflow retries an unreachable server for minutes by default; the service must notice within seconds that the
# registry is down (start from the cache, report degraded) and never hold a poll that long.
MLFLOW_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}

# MLflow draws a progress bar for every artifact download: on each reload the service log filled with them.
QUIET_DOWNLOADS = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}

# The prediction-log writer and the registry poller are threads: with Python's default 5 ms GIL switch interval, a
# request that arrives while the writer builds a batch of inserts waits up to 5 ms for the event loop to run again,
# which is the single-row p99. A 0.5 ms interval hands the GIL back ten times sooner.
GIL_SWITCH_SECONDS = 0.0005


def build_service(params: Params, root: Path) -> ScoringService:
    """A service pointed at the registry and the log of the environment, with its first model loaded."""
    import mlflow

    for key, value in {**MLFLOW_HTTP_DEFAULTS, **QUIET_DOWNLOADS}.items():
        os.environ.setdefault(key, value)
    env = ServiceEnv.from_environ(root)
    # Set directly (not through training.tracking): the service only reads the registry, it creates nothing.
    mlflow.set_tracking_uri(env.tracking_uri)
    service = ScoringService(params, env, root)
    service.load_initial()
    return service


def serve(params: Params, root: Path, host: str | None = None, port: int | None = None) -> None:
    import uvicorn

    from tabular_mlops.serving.app import create_app

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    service = build_service(params, root)
    # Everything loaded so far (libraries, the model) lives as long as the process: out of the collector's sight,
    # a full collection no longer walks it in the middle of a request.
    gc.freeze()
    bind_port = port or int(os.environ.get(ENV_PORT) or params.serving.port)
    # No access log: it costs per request and the metrics count every request anyway.
    uvicorn.run(create_app(service), host=host or params.serving.host, port=bind_port, access_log=False)
