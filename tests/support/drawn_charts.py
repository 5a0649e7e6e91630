"""What a chart in a page draws, read from its SVG as the browser laid it out: the axes' tick labels and positions,
the bars, points and lines, the legend names by colour, the shapes (threshold lines). A value is read back from a
position through the axis's own ticks, so a check compares what a person sees with the data.

Two renderers: Plotly (Evidently's report pages, MLflow's metric page) and MUI X Charts (Evidently 0.7's project
dashboard)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

# Runs in the page on one `.js-plotly-plot` element; positions are page pixels (getBoundingClientRect).
_READ_JS = """(plot) => {
  const box = (e) => { const b = e.getBoundingClientRect(); return {x: b.x, y: b.y, w: b.width, h: b.height}; };
  const fill = (e) => (e.style.fill || e.getAttribute('fill') || '').replace(/\\s/g, '');
  const stroke = (e) => (e.style.stroke || e.getAttribute('stroke') || '').replace(/\\s/g, '');
  const ticks = (axis) => [...plot.querySelectorAll(`g.${axis}axislayer-above g.${axis}tick text`)].map(
    (t) => ({text: t.getAttribute('data-unformatted') || t.textContent, ...box(t)}));
  const traces = [...plot.querySelectorAll('g.cartesianlayer g.trace')].map((g) => ({
    kind: g.classList.contains('bars') ? 'bars' : 'scatter',
    bars: [...g.querySelectorAll('g.point path')].map((p) => ({...box(p), fill: fill(p), d: p.getAttribute('d')})),
    points: [...g.querySelectorAll('path.point')].map((p) => ({...box(p), fill: fill(p)})),
    lines: [...g.querySelectorAll('path.js-line')].map((p) => ({d: p.getAttribute('d'), stroke: stroke(p)})),
  }));
  const legend = [...plot.querySelectorAll('g.legend g.traces')].map((g) => ({
    name: g.querySelector('text.legendtext')?.textContent || '',
    colours: [...g.querySelectorAll('g.legendpoints path')].map((p) => fill(p) || stroke(p)),
  }));
  const shapes = [...plot.querySelectorAll('g.shapelayer path')].map((p) => ({...box(p), stroke: stroke(p)}));
  const title = plot.querySelector('text.gtitle')?.textContent || '';
  return {title, x: ticks('x'), y: ticks('y'), traces, legend, shapes};
}"""


@dataclass(frozen=True)
class Axis:
    """Pixel <-> value of one axis, fitted on its tick labels (numbers, or dates as days)."""

    ticks: tuple[tuple[float, float], ...]  # (pixel, value)

    @classmethod
    def of(cls, ticks: list[dict[str, Any]], pixel: str) -> Axis:
        pairs = []
        for tick in ticks:
            value = tick_value(tick["text"])
            if value is not None:
                pairs.append((tick[pixel] + tick["h" if pixel == "y" else "w"] / 2, value))
        if len(pairs) < 2:
            raise AssertionError(
                f"an axis needs two readable tick labels, it has {[t['text'] for t in ticks]}"
            )
        return cls(tuple(pairs))

    def value(self, pixel: float) -> float:
        """The value drawn at `pixel` (least-squares line through the ticks: a linear axis)."""
        n = len(self.ticks)
        mp = sum(p for p, _ in self.ticks) / n
        mv = sum(v for _, v in self.ticks) / n
        slope = sum((p - mp) * (v - mv) for p, v in self.ticks) / sum((p - mp) ** 2 for p, _ in self.ticks)
        return mv + slope * (pixel - mp)

    @property
    def values(self) -> list[float]:
        return [v for _, v in self.ticks]


def tick_value(text: str) -> float | None:
    """A tick label as a number: 0.25, 1k, −0.1 (Plotly's minus), or a date (days since 1970-01-01)."""
    text = text.strip().replace("\u2212", "-").replace(",", "")
    try:
        return float(dt.date.fromisoformat(text[:10]).toordinal() - dt.date(1970, 1, 1).toordinal())
    except ValueError:
        pass
    scale = {"k": 1e3, "M": 1e6}.get(text[-1:], 1.0)
    try:
        return float(text.rstrip("kM")) * scale
    except ValueError:
        return None


@dataclass(frozen=True)
class PlotlyChart:
    """One rendered Plotly chart: its raw geometry and its axes."""

    raw: dict[str, Any]

    @classmethod
    def read(
        cls, plot: Any
    ) -> PlotlyChart:  # plot: a Playwright ElementHandle / Locator of a .js-plotly-plot
        return cls(plot.evaluate(_READ_JS))

    @property
    def title(self) -> str:
        return str(self.raw["title"])

    @property
    def y(self) -> Axis:
        return Axis.of(self.raw["y"], "y")

    @property
    def x(self) -> Axis:
        return Axis.of(self.raw["x"], "x")

    def legend_of(self, colour: str) -> str | None:
        """The legend name of the trace drawn in `colour`."""
        for item in self.raw["legend"]:
            if colour and colour in item["colours"]:
                return str(item["name"])
        return None

    def bars(self) -> list[tuple[float, float, str | None]]:
        """Each bar drawn: (x value of its centre, y value of its top, its legend name); a zero-height bar is a
        bar at 0."""
        x, y = self.x, self.y
        return [
            (x.value(b["x"] + b["w"] / 2), y.value(b["y"]), self.legend_of(b["fill"]))
            for trace in self.raw["traces"]
            if trace["kind"] == "bars"
            for b in trace["bars"]
            if b["d"] and b["d"] != "M0,0Z"
        ]

    def points(self) -> list[tuple[float, float, str | None]]:
        """Each marker drawn: (x value, y value of its centre, its legend name)."""
        x, y = self.x, self.y
        return [
            (x.value(p["x"] + p["w"] / 2), y.value(p["y"] + p["h"] / 2), self.legend_of(p["fill"]))
            for trace in self.raw["traces"]
            for p in trace["points"]
        ]

    def lines(self) -> list[str]:
        """The SVG path of each line drawn (M/L: straight segments; C or Q: a smoothed curve)."""
        return [line["d"] for trace in self.raw["traces"] for line in trace["lines"] if line["d"]]

    def horizontal_lines(self) -> list[float]:
        """The y value of each horizontal shape (a threshold line)."""
        y = self.y
        return [y.value(s["y"]) for s in self.raw["shapes"] if s["h"] < 2 and s["w"] > 10]


# Runs in the page on a panel's heading: the nearest enclosing element that holds a chart's axes is its panel.
_READ_MUI_JS = """(heading) => {
  let panel = heading;
  while (panel && !panel.querySelector('.MuiChartsAxis-root')) panel = panel.parentElement;
  if (!panel) return null;
  const box = (e) => { const b = e.getBoundingClientRect(); return {x: b.x, y: b.y, w: b.width, h: b.height}; };
  const ticks = (dir) => [...panel.querySelectorAll(`.MuiChartsAxis-direction${dir} .MuiChartsAxis-tickContainer`)]
    .filter((g) => g.querySelector('text'))
    .map((g) => ({text: g.querySelector('text').textContent, ...box(g.querySelector('line'))}));
  return {
    x: ticks('X'),
    y: ticks('Y'),
    bars: [...panel.querySelectorAll('rect.MuiBarElement-root')].map((r) => ({...box(r), fill: r.getAttribute('fill')})),
    legend: [...panel.querySelectorAll('.MuiChartsLegend-series')].map((s) => ({
      name: s.querySelector('.MuiChartsLegend-label')?.textContent || '',
      colours: [s.querySelector('.MuiChartsLabelMark-fill')?.getAttribute('fill') || ''],
    })),
  };
}"""


@dataclass(frozen=True)
class MuiBarChart:
    """One rendered MUI X bar chart (an Evidently dashboard panel): bands on x (one per timestamp), values on y."""

    raw: dict[str, Any]

    @classmethod
    def under(cls, heading: Any) -> MuiBarChart:  # heading: a Playwright Locator of the panel's title
        raw = heading.evaluate(_READ_MUI_JS)
        if raw is None:
            raise AssertionError("no chart under this heading")
        return cls(raw)

    @property
    def y(self) -> Axis:
        return Axis.of(self.raw["y"], "y")

    def legend_of(self, colour: str) -> str | None:
        for item in self.raw["legend"]:
            if colour and colour in item["colours"]:
                return str(item["name"])
        return None

    def bars(self) -> list[tuple[str, float, float, str | None]]:
        """Each bar drawn: (the x label of its band, the y value of its top, the y value of its bottom, its
        legend name). The band is the x label nearest the bar's centre."""
        y = self.y
        labels = [(t["x"] + t["w"] / 2, str(t["text"])) for t in self.raw["x"]]
        found = []
        for b in self.raw["bars"]:
            centre = b["x"] + b["w"] / 2
            band = min(labels, key=lambda label: abs(label[0] - centre))[1] if labels else ""
            found.append((band, y.value(b["y"]), y.value(b["y"] + b["h"]), self.legend_of(b["fill"])))
        return found
