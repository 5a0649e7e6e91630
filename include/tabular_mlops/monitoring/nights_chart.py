"""The picture of the nights that Evidently's dashboard panels cannot draw: its line panels smooth the curve, put
a single night on a zero gridline and have no threshold line or per-point marker (Evidently 0.7's panels take
only a plot type, an aggregation and stacking). This chart is a Plotly figure inside the night's report
snapshot (the report page renders Plotly): each night a point on a true axis from 0, straight segments, the
threshold as a dashed line, each night marked by what was decided, and a sentence while no label has matured."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tabular_mlops.monitoring.results import Action, Decision, Status

# What a night's mark says, its Plotly marker symbol and colour (legend order).
MARKS: dict[str, tuple[str, str]] = {
    "retrain": ("triangle-up", "#d62728"),
    "keep": ("circle", "#2ca02c"),
    "cooldown": ("diamond", "#ff7f0e"),
    "in flight": ("square", "#9467bd"),
    "hold": ("x", "#8c564b"),
    "too few rows": ("circle-open", "#7f7f7f"),
}
DAY_MS = 86_400_000  # a Plotly date axis counts in milliseconds

# A reason says why a night that called for retraining was kept (monitoring/decision.py).
_KEPT_BECAUSE = {"cooldown after": "cooldown", "a retraining is already in flight": "in flight"}


def night_mark(decision: Decision) -> str:
    """retrain, keep, cooldown (retraining called for, kept by the cooldown), in flight, hold, too few rows,
    or no data."""
    if decision.status is Status.NO_DATA:
        return "no data"
    if decision.action is None:  # too few rows: a report, no decision
        return "too few rows"
    if decision.action is Action.KEEP:
        # Not necessarily the first reason: a widened low-volume window puts its note first.
        for reason in decision.reasons:
            for start, mark in _KEPT_BECAUSE.items():
                if reason.startswith(start):
                    return mark
        return "keep"
    return str(decision.action)


@dataclass(frozen=True)
class NightPoint:
    """One monitored night as the chart draws it (kept in the workspace's nights file)."""

    night: str
    champion: str = ""
    mark: str = ""
    drift_share: float | None = None
    score_psi: float | None = None
    rows: int = 0
    labelled_rows: int = 0
    # The champion's ROC AUC on the night's window estimated before labels (CBPE) with its interval, and the
    # realized figure, set when the window's labels mature (monitoring/estimate_panel.py draws them).
    estimated_roc_auc: float | None = None
    estimated_roc_auc_lower: float | None = None
    estimated_roc_auc_upper: float | None = None
    realized_roc_auc: float | None = None
    # The ROC AUC below which the estimate calls the drift harmful: the champion's holdout ROC AUC less
    # monitor.max_estimated_drop (the decision also weighs importance weighting's estimate and its overlap).
    harm_limit: float | None = None
    # The estimates' verdict on harm in words, as the decision's reason names it (both methods, the overlap).
    harm: str = ""
    # The estimator's self-check when it raises "concept drift suspected" tonight (the alert's line, its figures).
    self_check: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> NightPoint:
        """Also a record written before points were kept (night, champion, decision only)."""
        known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        return cls(**{"mark": str(raw.get("decision", "")), **known})


def first_labels_sentence(
    points: Sequence[NightPoint], label_delay_days: int, positive_rate: str = "positive rate"
) -> str | None:
    """While no night has matured labels: when the first will (the first monitored night's rows plus the
    label delay). None once a night has them."""
    if not points or any(p.labelled_rows for p in points):
        return None
    first = min(dt.date.fromisoformat(p.night) for p in points)
    ready = first + dt.timedelta(days=label_delay_days)
    return (
        f"No matured labels yet: a label is known {label_delay_days} days after its row, so the first "
        f"matured labels (ROC AUC, {positive_rate}) come on {ready}."
    )


def nights_figure(points: Sequence[NightPoint], figure: str, threshold: float, title: str) -> Any:
    """A Plotly figure of `figure` ("drift_share" or "score_psi") over the nights: straight segments, one
    marker per night by its mark, the threshold as a dashed line, the y axis from 0."""
    import plotly.graph_objects as go

    drawn = sorted((p for p in points if getattr(p, figure) is not None), key=lambda p: p.night)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[p.night for p in drawn],
            y=[getattr(p, figure) for p in drawn],
            mode="lines",
            line={"shape": "linear", "color": "#1f77b4"},
            name=figure.replace("_", " "),
            hoverinfo="skip",
        )
    )
    for mark, (symbol, colour) in MARKS.items():
        marked = [p for p in drawn if p.mark == mark]
        if marked:
            fig.add_trace(
                go.Scatter(
                    x=[p.night for p in marked],
                    y=[getattr(p, figure) for p in marked],
                    mode="markers",
                    marker={"symbol": symbol, "color": colour, "size": 12},
                    name=f"{mark} night",
                    customdata=[[p.champion, p.rows] for p in marked],
                    hovertemplate="%{x}: %{y:.4f}, champion %{customdata[0]}, %{customdata[1]} rows<extra>"
                    + mark
                    + "</extra>",
                )
            )
    fig.add_hline(
        y=threshold,
        line={"dash": "dash", "color": "#d62728"},
        # Above it is drift; the decision retrains only when the drift hurts the champion (the marks say what
        # each night decided): "retrain above" contradicted every kept night above the line.
        annotation_text=f"threshold {threshold}: drift above",
        annotation_position="top left",
    )
    top = max([threshold, *(getattr(p, figure) for p in drawn)])
    fig.update_layout(
        title=title,
        yaxis={"range": [0, top * 1.15], "rangemode": "tozero", "title": figure.replace("_", " ")},
        xaxis=nights_axis([dt.date.fromisoformat(p.night) for p in drawn], "night"),
        legend={"orientation": "h"},
    )
    return fig


def nights_axis(days: Sequence[dt.date], title: str) -> dict[str, Any]:
    """A Plotly date axis over `days` (today when empty) with a day of room either side, so one night is a point
    in the middle, not on an edge; and a tick a whole number of days apart (about ten at most): Plotly's own ticks
    on a few nights fall every six hours, and the day-only labels then repeat one date four times under a point."""
    days = list(days) or [dt.date.today()]
    tick_days = max(1, math.ceil(((max(days) - min(days)).days + 2) / 10))
    return {
        "type": "date",
        "range": [str(min(days) - dt.timedelta(days=1)), str(max(days) + dt.timedelta(days=1))],
        "tickformat": "%Y-%m-%d",
        "dtick": tick_days * DAY_MS,
        "tick0": str(min(days)),
        "title": title,
    }


def chart_widgets(
    points: Sequence[NightPoint], drift_share_threshold: float, score_psi_threshold: float
) -> list[Any]:
    """The two charts as Evidently widgets (Plotly, which the report page renders)."""
    from evidently.legacy.renderers.html_widgets import plotly_figure

    return [
        plotly_figure(
            title="Over the nights: share of drifted columns (what the decision compares with its threshold)",
            figure=nights_figure(points, "drift_share", drift_share_threshold, "share of drifted columns"),
        ),
        plotly_figure(
            title="Over the nights: score drift (PSI of the champion's scores)",
            figure=nights_figure(points, "score_psi", score_psi_threshold, "score PSI"),
        ),
    ]


def banner_widget(title: str, lines: Sequence[str]) -> Any:
    """The report page's banner: the night, champion and decision, the rows behind the figures (Markdown)."""
    from evidently.legacy.renderers.html_widgets import text_widget

    return text_widget(title=title, text="\n".join(f"- {line}" for line in lines))


def prepend_widgets(snapshot: Any, widgets: Sequence[Any]) -> None:
    """Put widgets at the top of a report snapshot, after its banner (the leading text widgets). Evidently 0.7
    stores a snapshot's widgets as data and its UI serves them as stored, but `Snapshot` has no public call to
    add one: its `_widgets` list is the place."""
    at = 0
    while at < len(snapshot._widgets) and snapshot._widgets[at].type == "text":
        at += 1
    snapshot._widgets[at:at] = list(widgets)
