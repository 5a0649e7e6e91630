"""Real-browser checks of the UIs a user reads (opt-in: `make test-browser`, never part of `make test`).

They run headless Chromium from the system's packages (Debian: `apt-get install chromium`), driven by
Playwright's Python package, against a running local stack after a covariate-shift drill:

    make run && make drill SCENARIO=covariate_shift NIGHTS=2 && make test-browser

Ports come from MLOPS_*_PORT like the stack's; CHROMIUM overrides the browser binary. Screenshots land in
var/browser/ to be looked at.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        os.environ.get("MLOPS_BROWSER_TESTS") != "1",
        reason="opt-in: make test-browser (needs a running stack)",
    ),
]

SHOTS = Path(__file__).resolve().parents[2] / "var" / "browser"


@pytest.fixture(scope="module")
def layout():
    from tabular_mlops.stack.layout import Layout

    return Layout.from_env()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    binary = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("no Chromium: apt-get install chromium (or set CHROMIUM=/path/to/chrome)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=binary, args=["--no-sandbox"])
        yield browser
        browser.close()


def drift_share_series(responses: list) -> list[float]:
    """The drift-share values the dashboard page loaded (the data its charts plot, what hovering shows)."""
    values: list[float] = []
    for response in responses:
        for series in response.json().get("series", []):
            if (
                series["metric_type"].endswith("DriftedColumnsCount")
                and series["params"].get("value_type") == "share"
            ):
                values += [float(v) for v in series["values"]]
    return values


def test_the_evidently_dashboard_shows_the_drills_drift_share(browser, layout):
    from tabular_mlops.core.config import load_params

    params = load_params(layout.repo / "params.yaml")
    page = browser.new_page(viewport={"width": 1400, "height": 2600})
    loaded: list = []
    page.on("response", lambda r: loaded.append(r) if "data_series" in r.url else None)
    page.goto(layout.evidently_url, wait_until="networkidle")
    page.get_by_text(f"{params.registry.model_name} monitoring").first.click()
    title = f"Share of drifted columns: retrain above {params.monitor.drift_share_threshold}"
    page.get_by_text(title).first.wait_for(timeout=30_000)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SHOTS / "evidently_dashboard.png"), full_page=True)
    values = drift_share_series(loaded)
    assert values and max(values) > 0, values
    assert max(values) > params.monitor.drift_share_threshold, "the drill's retrain night is above the line"


def test_the_airflow_run_note_shows_the_decision(browser, layout):
    from tabular_mlops.core.contracts import MONITOR_DAG_ID
    from tabular_mlops.stack.programs import airflow_api

    api = airflow_api(layout)
    api.login()
    noted = [r for r in api.dag_runs(MONITOR_DAG_ID) if r.get("note")]
    assert noted, "no monitor_nightly run has a note"
    run = next((r for r in reversed(noted) if "RETRAIN" in r["note"]), noted[-1])
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_cookies([{"name": "_token", "value": api.token, "url": layout.airflow_url}])
    page = context.new_page()
    page.goto(
        f"{layout.airflow_url}/dags/{MONITOR_DAG_ID}/runs/{run['dag_run_id']}", wait_until="networkidle"
    )
    decision = run["note"].split("**")[1]
    page.get_by_text(decision).first.wait_for(timeout=30_000)
    page.screenshot(path=str(SHOTS / "airflow_run_note.png"), full_page=True)
    # The collapsed note is its first line: the decision, the night and the first reason.
    assert run["note"].splitlines()[0].split("**")[2][:40].strip() in page.inner_text("body")


def test_the_data_docs_index_lists_validations_offline(browser, layout):
    from tabular_mlops.core.config import load_params
    from tabular_mlops.data.docs_index import offline_dir

    params = load_params(layout.repo / "params.yaml")
    index = offline_dir(layout.repo / params.paths.expectations_dir) / "index.html"
    assert index.exists(), f"{index}: no validation has run yet"
    context = browser.new_context(offline=True)
    requested: list[str] = []
    context.on("request", lambda r: requested.append(r.url))
    page = context.new_page()
    page.goto(index.as_uri())
    rows = page.locator("#validations tbody tr")
    assert rows.count() > 0
    assert all(url.startswith("file://") for url in requested), requested
    page.screenshot(path=str(SHOTS / "data_docs_offline.png"), full_page=True)
