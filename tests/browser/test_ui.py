"""Real-browser checks of what the UIs draw (opt-in: `make test-browser`, never part of `make test`).

They run headless Chromium from the system's packages (Debian: `apt-get install chromium`), driven by
Playwright's Python package, against a running local stack after a drill whose shift hurts the model (it retrains on its first night; a
harmless `covariate_shift` is now kept on its estimate):

    make run && make drill SCENARIO=covariate_harmful NIGHTS=3 && make test-browser

Each check reads the page as drawn (the SVG Plotly laid out, the HTML Airflow rendered from a note's Markdown) and
compares it with the nights' own results (`reports/<night>/summary.json`, what `tabular-mlops why` reads): a bar's
top read back through the axis's ticks, a marker's legend, the threshold line's height, a link's target. Ports come
from MLOPS_*_PORT like the stack's; CHROMIUM overrides the browser binary. Screenshots land in var/browser/ (the
CI artifact).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.support.drawn_charts import MuiBarChart, PlotlyChart

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        os.environ.get("MLOPS_BROWSER_TESTS") != "1",
        reason="opt-in: make test-browser (needs a running stack)",
    ),
]

SHOTS = Path(__file__).resolve().parents[2] / "var" / "browser"
TIMEOUT_MS = 30_000
# A value read back from a drawn position is within this share of the axis's range of the data's value.
PIXEL_TOLERANCE = 0.02


@pytest.fixture(scope="module")
def layout():
    from tabular_mlops.stack.layout import Layout

    return Layout.from_env()


@pytest.fixture(scope="module")
def params(layout):
    from tabular_mlops.core.config import load_params

    return load_params(layout.repo / "params.yaml")


@pytest.fixture(scope="module")
def nights(layout, params) -> dict[dt.date, object]:
    """Every monitored night's result (NightResult) with a drift figure, by night."""
    from tabular_mlops.monitoring.night_record import read_result

    found = {}
    for folder in sorted((layout.repo / params.paths.reports_dir).glob("????-??-??")):
        night = dt.date.fromisoformat(folder.name)
        result = read_result(layout.repo, params.paths, night)
        if result is not None and result.summary.window is not None:
            found[night] = result
    assert found, "no monitored night: run `make drill SCENARIO=covariate_harmful NIGHTS=3` first"
    return found


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    from tabular_mlops.stack.browser import MISSING_CHROMIUM, chromium_binary, launch_chromium

    binary = chromium_binary()
    if binary is None:
        pytest.fail(MISSING_CHROMIUM)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = launch_chromium(p, binary)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def airflow(layout):
    from tabular_mlops.stack.programs import airflow_api

    api = airflow_api(layout)
    api.login()
    return api


def _mark(result) -> str:
    from tabular_mlops.monitoring.nights_chart import night_mark

    return night_mark(result.decision)


def _close(drawn: float, expected: float, axis_values: list[float]) -> bool:
    span = max(axis_values) - min(axis_values)
    return abs(drawn - expected) <= PIXEL_TOLERANCE * span


def _plot_under(page, title: str):
    """The Plotly chart drawn under the heading `title` (the first chart after it in the page)."""
    heading = page.get_by_text(title).first
    heading.wait_for(timeout=TIMEOUT_MS)
    plot = heading.locator("xpath=following::div[contains(@class, 'js-plotly-plot')][1]")
    plot.locator("g.trace").first.wait_for(state="attached", timeout=TIMEOUT_MS)
    return plot


def test_the_evidently_dashboard_draws_each_nights_drift_share_from_zero_coloured_by_its_decision(
    browser, layout, params, nights
):
    from tabular_mlops.monitoring.workspace import drift_share_title
    from tabular_mlops.stack.browser import wait_until_still

    page = browser.new_page(viewport={"width": 1400, "height": 2600})
    page.goto(layout.evidently_url, wait_until="networkidle")
    page.get_by_text(f"{params.registry.model_name} monitoring").first.click()
    threshold = params.monitor.drift_share_threshold
    heading = page.get_by_text(drift_share_title(threshold), exact=True).first
    heading.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_load_state("networkidle")
    wait_until_still(page, "rect.MuiBarElement-root", timeout_ms=TIMEOUT_MS)
    page.screenshot(path=str(SHOTS / "evidently_dashboard.png"), full_page=True)
    chart = MuiBarChart.under(heading)
    description = heading.locator("xpath=following::p[1]").inner_text()
    ticks = chart.y.values
    assert min(ticks) == 0, f"the y axis starts at {min(ticks)}, not 0: a bar's height would mislead"
    bars = chart.bars()
    drawn = {band[:10]: (top, bottom, name) for band, top, bottom, name in bars}
    assert len(bars) == len(drawn) == len(nights), f"one bar a night: {bars} for {list(nights)}"
    for night, result in nights.items():
        share = result.summary.window.drift_share
        top, bottom, name = drawn[night.isoformat()]
        assert _close(bottom, 0.0, ticks), f"{night}: the bar starts at {bottom:.4f}, not 0"
        assert _close(top, share, ticks), (
            f"{night}: bar drawn to {top:.4f}, the night's drift share is {share:.4f}"
        )
        assert name == "drift share", (night, name)
        # What the night decided is written under the chart (one series: Evidently 0.7 cannot split it by tag).
        assert f"{night} {_mark(result)}" in description, (night, _mark(result), description)
    assert any(top > threshold for top, _, _ in drawn.values()), (
        "the drill's retrain night is above the threshold"
    )


def test_the_drift_reports_chart_draws_the_nights_threshold_line_and_decision_marks(
    browser, layout, params, nights
):
    from tabular_mlops.monitoring.workspace import night_reports

    last = max(nights)
    project_id, snapshot_id = night_reports(layout.repo / params.paths.evidently_workspace, last)[
        "drift"
    ].split("/")
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(f"{layout.evidently_url}/projects/{project_id}/reports/{snapshot_id}", wait_until="networkidle")
    plot = _plot_under(page, "Over the nights: share of drifted columns")
    plot.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "evidently_nights_chart.png"), full_page=True)
    chart = PlotlyChart.read(plot)
    ticks = chart.y.values
    threshold = params.monitor.drift_share_threshold
    assert min(ticks) == 0
    dates = [t["text"] for t in chart.raw["x"]]
    assert len(set(dates)) == len(dates), f"a date written under the axis more than once: {dates}"
    assert any(_close(y, threshold, ticks) for y in chart.horizontal_lines()), chart.horizontal_lines()
    (line,) = chart.lines()  # one line through the nights, of straight segments (no smoothing curve)
    assert "C" not in line and "Q" not in line and line.count("L") == len(nights) - 1, line
    points = chart.points()
    assert len(points) == len(nights), points
    for night, result in nights.items():
        share, mark = result.summary.window.drift_share, _mark(result)
        assert any(_close(y, share, ticks) and name == f"{mark} night" for _, y, name in points), (
            night,
            share,
            mark,
            points,
        )


def _open_note(page, decision: str):
    """The run's note as Airflow renders it: the run page shows its first line (the bold decision), the note
    button opens the whole note rendered from its Markdown in a dialog."""
    page.locator("strong", has_text=decision).first.wait_for(timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Edit note").first.click()
    dialog = page.get_by_role("dialog")
    dialog.locator("strong", has_text=decision).first.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_timeout(1500)  # the dialog fades in: a screenshot taken at once shows it half transparent
    return dialog


def test_the_run_notes_render_and_link_the_retrain_night_and_its_training_both_ways(
    browser, layout, airflow, nights
):
    from tabular_mlops.core.contracts import MONITOR_DAG_ID, TRAIN_DAG_ID, retrain_run_id
    from tabular_mlops.monitoring.results import Action
    from tabular_mlops.stack.browser import airflow_context

    retrain = [n for n, r in nights.items() if r.action is Action.RETRAIN]
    assert retrain, "the drill decided no retraining"
    night = retrain[0]
    run = next(r for r in airflow.dag_runs(MONITOR_DAG_ID) if r["logical_date"][:10] == night.isoformat())
    context = airflow_context(browser, layout.airflow_url, airflow.token or "")
    page = context.new_page()
    page.goto(f"{layout.airflow_url}/dags/{MONITOR_DAG_ID}/runs/{quote(run['dag_run_id'], safe='')}")
    note = _open_note(page, "RETRAIN")
    page.screenshot(path=str(SHOTS / "airflow_monitoring_note.png"), full_page=True)
    # The Markdown rendered: a headline, a table of figures, the reasons as a list, links as anchors.
    headers = [h.strip() for h in note.locator("th").all_inner_texts()]
    assert headers[:3] == ["rows in the window", "drift share", "score PSI"], headers
    reasons = [r.strip() for r in note.locator("li").all_inner_texts()]
    assert reasons and reasons[0] == nights[night].decision.reasons[0], reasons
    # No code span in the list: Airflow draws its box over the line above, hiding that reason's underscores.
    assert note.locator("li code").count() == 0, note.inner_html()
    training = retrain_run_id(night.isoformat())
    link = note.locator(f"a[href$='/dags/{TRAIN_DAG_ID}/runs/{training}']")
    assert link.count() == 1, note.inner_html()
    # Airflow opens a note's links in a new tab.
    with context.expect_page() as opened:
        link.click()
    page = opened.value
    page.wait_for_load_state()
    assert page.url.endswith(f"/dags/{TRAIN_DAG_ID}/runs/{training}"), page.url
    back = _open_note(page, "PROMOTED").locator(f"a[href*='/dags/{MONITOR_DAG_ID}/runs/']")
    back.first.wait_for(timeout=TIMEOUT_MS)
    page.screenshot(path=str(SHOTS / "airflow_training_note.png"), full_page=True)
    assert back.first.get_attribute("href").endswith(f"/runs/{quote(run['dag_run_id'], safe='')}")
    context.close()


@pytest.fixture(scope="module")
def mlflow_login(layout):
    """The stack's MLflow login (basic-auth), in the environment for the MLflow client as the tasks have it."""
    login = layout.mlflow_credentials()
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
    os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = (
        login.username,
        login.password,
    )
    yield login.username, login.password
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def test_the_mlflow_chart_of_a_monitoring_metric_is_one_line_across_champions(
    browser, layout, params, nights, mlflow_login
):
    from mlflow import MlflowClient
    from tabular_mlops.core.contracts import Tag
    from tabular_mlops.stack.browser import close_mlflow_assistant, mlflow_context, mlflow_metric_page

    client = MlflowClient(tracking_uri=layout.mlflow_url)
    experiment = client.get_experiment_by_name(params.monitor.experiment_name)
    (run,) = client.search_runs(
        [experiment.experiment_id], f"tags.{Tag.MONITORING_SERIES} = '{params.registry.model_name}'"
    )
    history = client.get_metric_history(run.info.run_id, "drift/share")
    champions = {m.value for m in client.get_metric_history(run.info.run_id, "champion/version")}
    page = mlflow_context(browser, *mlflow_login).new_page()
    page.goto(mlflow_metric_page(layout.mlflow_url, run.info.run_id, experiment.experiment_id, "drift/share"))
    plot = page.locator("div.js-plotly-plot").first
    plot.locator("path.js-line").first.wait_for(state="attached", timeout=TIMEOUT_MS * 3)
    close_mlflow_assistant(page)
    page.wait_for_timeout(2000)  # Plotly redraws to the freed width
    page.screenshot(path=str(SHOTS / "mlflow_drift_share.png"), full_page=True)
    chart = PlotlyChart.read(plot)
    # One line: every night, whichever champion judged it (MLflow draws a series twice, the second over the first
    # for its hover highlight: the same path).
    (line,) = set(chart.lines())
    assert line.count("L") == len({m.step for m in history}) - 1, (line, len(history))
    # Each night's point sits on its own whole step (MLflow may still label half steps between them) and at its
    # value on the y axis.
    points = sorted((x, y) for x, y, _ in chart.points())
    logged = sorted((float(m.step), m.value) for m in history)
    assert len(points) == len(logged) == len(nights), (points, logged)
    steps, ticks = chart.x.values, chart.y.values
    for (x, y), (step, value) in zip(points, logged, strict=True):
        assert _close(x, step, steps) and _close(y, value, ticks), ((x, y), (step, value))
    assert len(champions) >= 2, f"the drill promoted no new champion: the line crosses none ({champions})"


def test_the_data_docs_index_lists_validations_offline(browser, layout, params):
    from tabular_mlops.data.docs_index import offline_dir

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
