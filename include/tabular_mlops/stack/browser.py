"""Headless Chromium for the browser checks (tests/browser) and the docs' screenshots (scripts/docs_screenshots.py):
the system's browser (Debian: `apt-get install chromium`; CHROMIUM overrides it) driven by Playwright, quiet on a
shared machine (no GPU, no background downloads, no first-run work), and logged in to the stack's Airflow."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

# Playwright adds --headless itself (headless=True); the rest keep Chromium from fetching or updating anything.
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)
MISSING_CHROMIUM = "no Chromium: apt-get install chromium (or set CHROMIUM=/path/to/chrome)"


def chromium_binary(environ: Mapping[str, str] = os.environ) -> str | None:
    """$CHROMIUM, else the system's chromium; None when there is none."""
    return environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def launch_chromium(playwright: Any, binary: str) -> Any:  # Playwright -> Browser
    """Headless Chromium from `binary` with `CHROMIUM_FLAGS`."""
    return playwright.chromium.launch(executable_path=binary, headless=True, args=list(CHROMIUM_FLAGS))


def airflow_context(browser: Any, airflow_url: str, token: str, width: int = 1600, height: int = 1000) -> Any:
    """A browser context logged in to Airflow's UI with an API token (the UI reads it from the `_token`
    cookie, as after a login through the form)."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.add_cookies([{"name": "_token", "value": token, "url": airflow_url}])
    return context


def mlflow_context(browser: Any, username: str, password: str, width: int = 1600, height: int = 1000) -> Any:
    """A browser context that answers the stack's MLflow basic-auth login (var/mlflow/credentials.json)."""
    return browser.new_context(
        viewport={"width": width, "height": height},
        http_credentials={"username": username, "password": password},
    )


def mlflow_metric_page(mlflow_url: str, run_id: str, experiment_id: str, metric: str) -> str:
    """The MLflow UI's page of one metric of a run over its steps (straight segments, each point shown): the
    query MLflow's own "open metric" link writes."""
    query = {
        "runs": json.dumps([run_id]),
        "metric": json.dumps(metric),
        "experiments": json.dumps([experiment_id]),
        "plot_metric_keys": json.dumps([metric]),
        "plot_layout": "{}",
        "x_axis": "step",
        "y_axis_scale": "linear",
        "line_smoothness": "1",
        "show_point": "true",
        "deselected_curves": "[]",
        "last_linear_y_axis_range": "[]",
    }
    return f"{mlflow_url}/#/metric?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())


def close_mlflow_assistant(page: Any) -> None:
    """Close the MLflow UI's assistant panel when it is open (MLflow 3.17 opens it beside every page): it takes a
    third of the width from the chart. Nothing happens when there is none."""
    open_panel = page.get_by_role("button", name="New Chat", exact=True)  # only in the open panel
    if open_panel.count() and open_panel.first.is_visible():
        page.get_by_role("button", name="Close", exact=True).first.click()
        open_panel.first.wait_for(state="hidden", timeout=10_000)


def wait_until_still(page: Any, selector: str, timeout_ms: int = 30_000, interval_ms: int = 250) -> None:
    """Wait until every element matching `selector` has kept its drawn box for one interval.

    Evidently's bar charts grow their bars from 0 when a page opens: a screenshot or a reading of the SVG taken as
    soon as the bars exist shows them part-way (seen: a 0.364 bar drawn at 0.121 in a docs screenshot)."""
    boxes = (
        "s => [...document.querySelectorAll(s)].map(e => { const b = e.getBoundingClientRect(); "
        "return [b.x, b.y, b.width, b.height].map(v => Math.round(v * 10)); })"
    )
    page.locator(selector).first.wait_for(timeout=timeout_ms)
    before = page.evaluate(boxes, selector)
    for _ in range(max(1, timeout_ms // interval_ms)):
        page.wait_for_timeout(interval_ms)
        now = page.evaluate(boxes, selector)
        if now == before:
            return
        before = now
    raise TimeoutError(f"{selector}: still moving after {timeout_ms} ms")
