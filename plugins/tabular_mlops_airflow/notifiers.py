"""Alerts for drift, data quality, model performance and task failure.

Always written to the task log (nothing fails silently); also POSTed as JSON to a webhook when the Airflow
connection `mlops_alerts` exists (type http, host = the webhook URL).
"""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any

from airflow.sdk import BaseNotifier

log = logging.getLogger("tabular_mlops.alerts")
ALERT_CONN_ID = "mlops_alerts"
KINDS = ("drift", "quality", "performance", "task_failure", "retraining")


def _webhook_url() -> str | None:
    from airflow.sdk import Connection

    try:
        conn = Connection.get(ALERT_CONN_ID)
    except Exception:  # noqa: BLE001 - no connection configured: log only
        return None
    host = conn.host or ""
    return host if host.startswith("http") else f"http://{host}{':' + str(conn.port) if conn.port else ''}"


def send_alert(kind: str, title: str, details: list[str] | None = None, **fields: object) -> dict:
    """Log the alert and deliver it to the webhook if one is configured. Returns the payload."""
    payload = {"kind": kind, "title": title, "details": details or [], **fields}
    log.warning("ALERT [%s] %s %s", kind, title, json.dumps(payload, default=str))
    url = _webhook_url()
    if url:
        request = urllib.request.Request(  # noqa: S310 - _webhook_url only returns http(s) URLs
            url,
            data=json.dumps(payload, default=str).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - URL comes from an Airflow connection
                pass
        except OSError as exc:
            log.error("alert webhook %s failed: %s", ALERT_CONN_ID, exc)
    return payload


class MlopsAlertNotifier(BaseNotifier):
    """on_failure_callback for every task: names the DAG, task, run and the exception."""

    def __init__(self, kind: str = "task_failure") -> None:
        super().__init__()
        self.kind = kind

    def notify(self, context: Any) -> None:  # the task's Airflow Context
        ti = context.get("ti") or context.get("task_instance")
        dag_run = context.get("dag_run")
        send_alert(
            self.kind,
            f"{getattr(ti, 'dag_id', '?')}.{getattr(ti, 'task_id', '?')} failed",
            [str(context.get("exception") or "")[:2000]],
            run_id=getattr(dag_run, "run_id", None),
            try_number=getattr(ti, "try_number", None),
        )
