"""The estimated performance over the nights in the Evidently UI (issue 24): each night's CBPE estimate of the
champion's ROC AUC on its current window, with its interval, and the realized ROC AUC of that window once its
labels mature (`label_delay_days` later, when a later night grades the estimate).

Each night with an estimate gets a small `estimate` report snapshot: its figures as Evidently metrics (one
MeanValue per figure, which the dashboard's bar panel reads: a group of bars a night), opened by a banner and a
Plotly chart of every night so far: the interval as a band, the estimate as a line marked by what each night
decided, the realized figures as a second line. When a night's labels mature its estimate snapshot is made again
with the realized figure, so its bars and the chart gain the realized value where the estimate was made."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from tabular_mlops.monitoring.nights_chart import MARKS, NightPoint, banner_widget, nights_axis

ESTIMATE_KIND = "estimate"
# The snapshot's figures: a column of its one-row frame and a MeanValue metric each (the panel's series).
ESTIMATED = "estimated_roc_auc"
LOWER = "estimated_roc_auc_lower"
UPPER = "estimated_roc_auc_upper"
REALIZED = "realized_roc_auc"
FIGURES = (ESTIMATED, LOWER, UPPER, REALIZED)


def has_estimate(point: NightPoint) -> bool:
    return point.estimated_roc_auc is not None


def estimate_figure(points: Sequence[NightPoint]) -> Any:
    """A Plotly figure of the estimated ROC AUC over the nights: its interval as a band, the estimate as straight
    segments with a marker per night by its decision, the realized ROC AUC where labels have matured."""
    import plotly.graph_objects as go

    drawn = sorted((p for p in points if has_estimate(p)), key=lambda p: p.night)
    banded = [
        p for p in drawn if p.estimated_roc_auc_lower is not None and p.estimated_roc_auc_upper is not None
    ]
    realized = sorted((p for p in points if p.realized_roc_auc is not None), key=lambda p: p.night)
    fig = go.Figure()
    if banded:
        # The band: the upper bounds left to right, then the lower bounds back, filled.
        fig.add_trace(
            go.Scatter(
                x=[p.night for p in banded] + [p.night for p in reversed(banded)],
                y=[p.estimated_roc_auc_upper for p in banded]
                + [p.estimated_roc_auc_lower for p in reversed(banded)],
                fill="toself",
                fillcolor="rgba(31, 119, 180, 0.18)",
                # Lines only: Plotly's default for a few points adds markers, and the band's corners were drawn
                # as red dots that read as figures of their own.
                mode="lines",
                line={"width": 0},
                name="95% interval of the estimate",
                hoverinfo="skip",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[p.night for p in drawn],
            y=[p.estimated_roc_auc for p in drawn],
            mode="lines",
            line={"shape": "linear", "color": "#1f77b4"},
            name="estimated ROC AUC (CBPE)",
            hoverinfo="skip",
        )
    )
    for mark, (symbol, colour) in MARKS.items():
        marked = [p for p in drawn if p.mark == mark]
        if marked:
            fig.add_trace(
                go.Scatter(
                    x=[p.night for p in marked],
                    y=[p.estimated_roc_auc for p in marked],
                    mode="markers",
                    marker={"symbol": symbol, "color": colour, "size": 11},
                    name=f"{mark} night",
                    customdata=[
                        [p.estimated_roc_auc_lower, p.estimated_roc_auc_upper, p.champion] for p in marked
                    ],
                    hovertemplate="%{x}: estimated %{y:.3f} [%{customdata[0]:.3f}, %{customdata[1]:.3f}], "
                    "champion %{customdata[2]}<extra>" + mark + "</extra>",
                )
            )
    limited = [p for p in drawn if p.harm_limit is not None]
    if limited:
        # A dash a night, half a day either side: one night's limit is drawn too, and a new champion's steps.
        half = dt.timedelta(hours=12)
        at = [dt.datetime.fromisoformat(p.night) for p in limited]
        fig.add_trace(
            go.Scatter(
                x=[x for t in at for x in (t - half, t + half, None)],
                y=[y for p in limited for y in (p.harm_limit, p.harm_limit, None)],
                mode="lines",
                line={"color": "#d62728", "dash": "dash"},
                name="harm limit: holdout ROC AUC - monitor.max_estimated_drop",
                hovertemplate="%{x}: drift below %{y:.3f} retrains<extra>harm limit</extra>",
            )
        )
    if realized:
        fig.add_trace(
            go.Scatter(
                x=[p.night for p in realized],
                y=[p.realized_roc_auc for p in realized],
                mode="lines+markers",
                line={"shape": "linear", "color": "#000000", "dash": "dot"},
                marker={"symbol": "star", "size": 10, "color": "#000000"},
                name="realized ROC AUC (labels matured)",
                hovertemplate="%{x}: realized %{y:.3f}<extra>matured labels</extra>",
            )
        )
    values = [
        v
        for p in [*drawn, *realized]
        for v in (
            p.estimated_roc_auc,
            p.estimated_roc_auc_lower,
            p.estimated_roc_auc_upper,
            p.realized_roc_auc,
            p.harm_limit,
        )
        if v is not None
    ]
    # ROC AUC 0.5 is a coin toss: the axis starts there (or lower, if a figure does), so the band is readable.
    bottom = min([0.5, *values])
    nights = [dt.date.fromisoformat(p.night) for p in [*drawn, *realized]]
    fig.update_layout(
        title="Estimated ROC AUC before labels arrive, and the realized ROC AUC as they mature",
        yaxis={"range": [bottom - 0.02, 1.0], "title": "ROC AUC"},
        xaxis=nights_axis(nights, "night (the window ending that night)"),
        # Below the axis title, not on it (a horizontal legend's default place overlapped the title).
        legend={"orientation": "h", "yanchor": "top", "y": -0.22},
    )
    return fig


def _banner_lines(point: NightPoint, label_delay_days: int) -> list[str]:
    estimate = f"{point.estimated_roc_auc:.3f}"
    if point.estimated_roc_auc_lower is not None and point.estimated_roc_auc_upper is not None:
        estimate += f" [{point.estimated_roc_auc_lower:.3f}, {point.estimated_roc_auc_upper:.3f}]"
    mature = dt.date.fromisoformat(point.night) + dt.timedelta(days=label_delay_days)
    realized = (
        f"realized ROC AUC (matured labels): {point.realized_roc_auc:.3f}"
        if point.realized_roc_auc is not None
        else f"realized ROC AUC: not yet, on {mature}, when this window's labels have all matured"
    )
    return [
        f"estimated ROC AUC of champion {point.champion} on the window ending {point.night} (CBPE, from its "
        f"scores alone): {estimate}",
        realized,
        # The alert said where the chart shows it: the realized stars below the band, night after night.
        *([f"the estimator's self-check: {point.self_check}"] if point.self_check else []),
        *([f"harm as the decision read it: {point.harm}"] if point.harm else []),
        "the chart: every night's estimate with its interval, and the realized figure of each night whose labels "
        "have matured",
    ]


def estimate_snapshot(
    point: NightPoint, points: Sequence[NightPoint], labels: dict[str, str], label_delay_days: int
) -> Any:
    """The night's `estimate` report snapshot (None when the night has no estimate): its figures as MeanValue
    metrics, stamped with the night and tagged like the night's other reports, opened by its banner and the
    chart of `points`. Its own widgets (a histogram of each single value) are dropped: they say nothing."""
    if not has_estimate(point):
        return None
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.legacy.renderers.html_widgets import plotly_figure
    from evidently.metrics import MeanValue

    figures = {name: getattr(point, name) for name in FIGURES if getattr(point, name) is not None}
    frame = pd.DataFrame({name: [float(value)] for name, value in figures.items()})
    night = dt.date.fromisoformat(point.night)
    snapshot = Report([MeanValue(column=name) for name in figures]).run(
        current_data=Dataset.from_pandas(
            frame, data_definition=DataDefinition(numerical_columns=list(figures))
        ),
        timestamp=dt.datetime.combine(night, dt.time()),
        tags=[*(f"{k}={v}" for k, v in labels.items()), f"kind={ESTIMATE_KIND}"],
        metadata=dict(labels),
    )
    title = f"{point.night} estimate report: champion {point.champion}, decision {point.mark}"
    chart = plotly_figure(
        title="Over the nights: estimated and realized ROC AUC", figure=estimate_figure(points)
    )
    snapshot._widgets[:] = [banner_widget(title, _banner_lines(point, label_delay_days)), chart]
    return snapshot


def estimate_panel() -> Any:
    """The dashboard's bar panel: each night's estimate, its interval's ends, and the realized ROC AUC once the
    night's labels have matured. One series a figure, not one a decision as the drift panels: Evidently 0.7's
    series query matches a point to the first series with its metric and labels and only then checks tags, so
    series that differ by tags alone lose every night but the first series' (the chart colours by decision)."""
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import bar_plot_panel

    return bar_plot_panel(
        "Estimated ROC AUC before labels arrive (CBPE), its 95% interval, and the realized ROC AUC as labels mature",
        [
            PanelMetric(
                legend=legend,
                tags=[f"kind={ESTIMATE_KIND}"],
                metric="MeanValue",
                metric_labels={"column": column},
            )
            for legend, column in (
                ("interval low", LOWER),
                ("estimate", ESTIMATED),
                ("interval high", UPPER),
                ("realized (matured labels)", REALIZED),
            )
        ],
        description="one group of bars a night (its window); each night's estimate report (Reports) opens with "
        "the chart: the interval as a band, the estimate marked by what the night decided, the realized line",
    )
