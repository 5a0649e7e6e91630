"""The estimate in the Evidently UI: each night's estimated ROC AUC, its interval and, once the night's labels
mature, the realized ROC AUC reach the dashboard's panel (read through the UI's own series query on the written
workspace) and the estimate report's chart (band, estimate line marked by decision, realized line)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import pytest
from tabular_mlops.monitoring.estimate_panel import (
    ESTIMATE_KIND,
    ESTIMATED,
    LOWER,
    REALIZED,
    UPPER,
    estimate_figure,
)
from tabular_mlops.monitoring.nights_chart import NightPoint
from tabular_mlops.monitoring.workspace import DashboardSettings, publish_night

FIRST = dt.date(2026, 3, 1)
# night -> (mark, estimate, lower, upper)
NIGHTS = {
    FIRST: ("keep", 0.741, 0.722, 0.760),
    FIRST + dt.timedelta(days=1): ("retrain", 0.702, 0.680, 0.724),
    FIRST + dt.timedelta(days=2): ("keep", 0.735, 0.716, 0.754),
}
SETTINGS = DashboardSettings(0.3, 0.25, 0.25, ("income",), label_delay_days=2)


def _point(night: dt.date, realized: float | None = None) -> NightPoint:
    mark, estimate, lower, upper = NIGHTS[night]
    return NightPoint(night.isoformat(), "v2", mark, 0.1, 0.05, 5000, 0, estimate, lower, upper, realized)


def _labels(night: dt.date) -> dict[str, str]:
    mark = NIGHTS[night][0]
    return {"night": night.isoformat(), "champion": "v2", "decision": mark, "mark": mark}


def _panel_series(workspace_dir, project_id, panel) -> dict[str, list[float | None]]:
    """What the Evidently UI serves for the panel: its series query on the workspace's stored points, by legend."""
    from evidently.ui.service.base import SeriesFilter
    from evidently.ui.service.storage.local.base import InMemoryDataStorage

    filters = [
        SeriesFilter(tags=v.tags, metadata=v.metadata, metric=v.metric, metric_labels=v.metric_labels)
        for v in panel.values
    ]
    storage = InMemoryDataStorage(str(workspace_dir))
    response = asyncio.run(storage.get_data_series(project_id, filters, None, None))
    nights = [s.timestamp.date() for s in response.sources]
    out: dict[str, dict[dt.date, float]] = {}
    for series in response.series:
        legend = panel.values[series.filter_index].legend
        out[legend] = {nights[i]: v for i, v in enumerate(series.values) if v is not None}
    return out


def test_the_panel_and_the_chart_get_the_estimates_and_the_realized_figure_as_labels_mature(tmp_path):
    from evidently.ui.workspace import Workspace

    ws = tmp_path / "ws"
    nights = sorted(NIGHTS)
    publish_night(ws, "p", nights[0], {}, SETTINGS, _labels(nights[0]), _point(nights[0]))
    publish_night(ws, "p", nights[1], {}, SETTINGS, _labels(nights[1]), _point(nights[1]))
    # The third night's labels mature for the first night's window: its realized ROC AUC arrives.
    ids = publish_night(
        ws,
        "p",
        nights[2],
        {},
        SETTINGS,
        _labels(nights[2]),
        _point(nights[2]),
        realized={nights[0].isoformat(): 0.733},
    )
    assert set(ids) == {ESTIMATE_KIND}

    workspace = Workspace.create(str(ws))
    (project,) = workspace.search_project("p")
    # One estimate snapshot a night: the first night's was made again, not added twice.
    names = sorted(workspace.get_run(project.id, i).name for i in workspace.list_runs(project.id))
    assert names == [
        "2026-03-01 estimate (champion v2, keep)",
        "2026-03-02 estimate (champion v2, retrain)",
        "2026-03-03 estimate (champion v2, keep)",
    ]
    panels = workspace.get_dashboard(project.id).panels
    (panel,) = [p for p in panels if p.title.startswith("Estimated ROC AUC before labels arrive")]
    assert panel.plot_params["plot_type"] == "bar"
    series = _panel_series(ws, project.id, panel)
    assert series["estimate"] == {n: NIGHTS[n][1] for n in nights}
    assert series["interval low"] == {n: NIGHTS[n][2] for n in nights}
    assert series["interval high"] == {n: NIGHTS[n][3] for n in nights}
    # The realized figure sits on the night whose window it measures, not on the night it matured.
    assert series["realized (matured labels)"] == {nights[0]: 0.733}

    # The latest estimate report: its banner, then the chart of every night with the realized line.
    latest = workspace.get_run(project.id, ids[ESTIMATE_KIND])
    banner, chart = latest.widgets
    assert banner.type == "text" and "0.735 [0.716, 0.754]" in banner.params["text"]
    assert (
        f"not yet, on {nights[2] + dt.timedelta(days=2)}, when this window's labels have all matured"
        in (banner.params["text"])
    )
    assert chart.type == "big_graph"
    traces = {t["name"]: t for t in chart.params["data"]}
    assert traces["estimated ROC AUC (CBPE)"]["y"] == [0.741, 0.702, 0.735]
    assert traces["retrain night"]["y"] == [0.702]
    assert traces["realized ROC AUC (labels matured)"]["y"] == [0.733]
    assert traces["realized ROC AUC (labels matured)"]["x"] == [nights[0].isoformat()]
    first = next(
        workspace.get_run(project.id, i)
        for i in workspace.list_runs(project.id)
        if workspace.get_run(project.id, i).name.startswith("2026-03-01")
    )
    assert "realized ROC AUC (matured labels): 0.733" in first.widgets[0].params["text"]
    assert {f"kind={ESTIMATE_KIND}", "mark=keep"} <= set(first.tags)

    # A re-run of the first night keeps the realized figure its matured labels gave it.
    publish_night(ws, "p", nights[0], {}, SETTINGS, _labels(nights[0]), _point(nights[0]))
    series = _panel_series(ws, project.id, panel)
    assert series["realized (matured labels)"] == {nights[0]: 0.733}


def test_a_night_without_an_estimate_adds_no_estimate_report_and_no_panel(tmp_path):
    from evidently.ui.workspace import Workspace

    point = NightPoint(FIRST.isoformat(), "v2", "keep", 0.1, 0.05, 5000)
    ids = publish_night(tmp_path / "ws", "p", FIRST, {}, SETTINGS, _labels(FIRST), point)
    assert ids == {}
    workspace = Workspace.create(str(tmp_path / "ws"))
    (project,) = workspace.search_project("p")
    titles = [p.title for p in workspace.get_dashboard(project.id).panels]
    assert not any(t.startswith("Estimated ROC AUC") for t in titles)


def test_the_chart_draws_the_interval_as_a_band_and_starts_at_a_coin_toss():
    points = [_point(n) for n in sorted(NIGHTS)] + [NightPoint("2026-02-27", "v1", "keep")]
    figure = estimate_figure(points).to_dict()
    band = figure["data"][0]
    assert band["fill"] == "toself"
    # Upper bounds forwards, lower bounds back: a closed polygon around the estimate.
    assert list(band["y"]) == [0.760, 0.724, 0.754, 0.716, 0.680, 0.722]
    assert figure["layout"]["yaxis"]["range"] == [pytest.approx(0.48), 1.0]
    # One tick a day from the first night: a few nights never get six-hourly ticks repeating one date.
    assert (
        figure["layout"]["xaxis"]["dtick"] == 86_400_000
        and figure["layout"]["xaxis"]["tick0"] == "2026-03-01"
    )
    assert {ESTIMATED, LOWER, UPPER, REALIZED} <= set(NightPoint.__dataclass_fields__)


def test_the_band_has_no_markers_and_the_harm_limit_is_a_dashed_line_with_its_rule_named():
    """Seen in a browser: the band's corners drawn as red dots (Plotly's markers for a few points), the legend
    written over the axis title, and no line the estimate is judged against (the run note and `why` say
    "vs 0.789 on the holdout: largest drop <= monitor.max_estimated_drop 0.03")."""
    points = [dataclasses.replace(_point(n), harm_limit=0.759) for n in sorted(NIGHTS)]
    figure = estimate_figure(points).to_dict()
    band = figure["data"][0]
    assert band["mode"] == "lines"
    (limit,) = [t for t in figure["data"] if t["name"].startswith("harm limit")]
    # A dash a night (a single night's limit is drawn too: a one-point line drew nothing in the browser).
    assert list(limit["y"]) == [0.759, 0.759, None] * 3 and limit["line"]["dash"] == "dash"
    (one,) = [t for t in estimate_figure(points[:1]).to_dict()["data"] if t["name"].startswith("harm limit")]
    assert [str(x)[:13] if x else x for x in one["x"]] == ["2026-02-28 12", "2026-03-01 12", None]
    assert "monitor.max_estimated_drop" in limit["name"]
    assert figure["layout"]["legend"]["y"] < -0.1 and figure["layout"]["legend"]["yanchor"] == "top"


def test_the_harm_limit_is_the_holdout_less_the_allowed_drop():
    from tabular_mlops.monitoring.estimate_records import EstimatedHarm
    from tabular_mlops.monitoring.night_estimate import harm_limit

    harm = EstimatedHarm(drop=0.01, method="cbpe", estimate=None, baseline=0.789, text="")
    assert harm_limit(harm, 0.03) == pytest.approx(0.759)
    assert harm_limit(dataclasses.replace(harm, baseline=None), 0.03) is None


def test_the_banner_says_what_the_decision_read_of_harm():
    """A retrain night whose estimate sits above the harm limit retrained on importance weighting's overlap: the
    banner says so, not only the chart."""
    from tabular_mlops.monitoring.estimate_panel import _banner_lines

    harm = "estimated ROC AUC 0.813 (CBPE) vs 0.789 on the holdout; importance weighting: no overlap for 13%"
    lines = _banner_lines(dataclasses.replace(_point(FIRST), harm=harm), 30)
    assert f"harm as the decision read it: {harm}" in lines
    assert not any(line.startswith("harm as") for line in _banner_lines(_point(FIRST), 30))


def test_the_banner_says_the_self_check_alert_of_the_night():
    """On the stack's concept-drift drill (docs/monitoring.md) the estimate report of the alert night drew the
    realized figures far below the band, and its banner said nothing of the alert the run note put in bold."""
    from tabular_mlops.monitoring.estimate_panel import _banner_lines

    alert = (
        "concept drift suspected: realized roc_auc outside the cbpe interval on 3 matured nights in a row (from "
        "2026-03-17, latest below it), mean absolute error 0.1825"
    )
    lines = _banner_lines(dataclasses.replace(_point(FIRST), self_check=alert), 3)
    assert f"the estimator's self-check: {alert}" in lines
    # After the estimate and the realized figure.
    assert lines.index(f"the estimator's self-check: {alert}") == 2
    assert not any("self-check" in line for line in _banner_lines(_point(FIRST), 3))
    # Records written before the field still read.
    assert NightPoint.from_dict({"night": FIRST, "champion": "v1", "decision": "keep"}).self_check == ""
