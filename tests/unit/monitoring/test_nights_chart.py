"""The nights chart draws what was decided: true axis, straight segments, the threshold line, a mark per night."""

from __future__ import annotations

import datetime as dt

import pytest
from tabular_mlops.monitoring.nights_chart import (
    NightPoint,
    first_labels_sentence,
    night_mark,
    nights_figure,
)
from tabular_mlops.monitoring.results import Action, Decision, Status

NIGHT = dt.date(2026, 3, 17)


@pytest.mark.parametrize(
    ("decision", "mark"),
    [
        (Decision(NIGHT, Status.OK, Action.RETRAIN, ("drift",)), "retrain"),
        (Decision(NIGHT, Status.OK, Action.KEEP, ("no drift or performance rule fired",)), "keep"),
        (
            Decision(
                NIGHT,
                Status.OK,
                Action.KEEP,
                ("cooldown after the retraining of 2026-03-16 until 2026-03-23",),
            ),
            "cooldown",
        ),
        (
            Decision(NIGHT, Status.OK, Action.KEEP, ("a retraining is already in flight", "drift")),
            "in flight",
        ),
        (Decision(NIGHT, Status.OK, Action.HOLD, ("data quality: income missing",)), "hold"),
        (Decision(NIGHT, Status.TOO_FEW_ROWS, None, ("12 rows < monitor.min_rows 50",)), "too few rows"),
        (Decision(NIGHT, Status.NO_DATA, None, ("no rows in the current window",)), "no data"),
    ],
)
def test_each_night_is_marked_by_what_was_decided(decision, mark):
    assert night_mark(decision) == mark


def _points() -> list[NightPoint]:
    return [
        NightPoint("2026-03-17", "v1", "retrain", 0.3636, 0.0777, 2000),
        NightPoint("2026-03-18", "v1", "cooldown", 0.3636, 0.07, 4000),
        NightPoint("2026-03-19", "v2", "keep", 0.0909, 0.01, 6000),
    ]


def test_the_figure_has_straight_segments_a_threshold_line_and_marks():
    fig = nights_figure(_points(), "drift_share", 0.3, "Share of drifted columns")
    line, *marks = fig.data
    assert line.mode == "lines" and line.line.shape == "linear"
    assert list(line.y) == [0.3636, 0.3636, 0.0909]
    assert {m.name: list(m.x) for m in marks} == {
        "retrain night": ["2026-03-17"],
        "keep night": ["2026-03-19"],
        "cooldown night": ["2026-03-18"],
    }
    (threshold,) = fig.layout.shapes
    assert (threshold.y0, threshold.y1, threshold.line.dash) == (0.3, 0.3, "dash")
    assert fig.layout.yaxis.range[0] == 0 and fig.layout.yaxis.range[1] > 0.3636


def test_one_night_is_a_point_inside_a_true_axis():
    fig = nights_figure(_points()[:1], "score_psi", 0.05, "Score PSI")
    assert list(fig.data[1].y) == [0.0777]
    assert tuple(fig.layout.xaxis.range) == ("2026-03-16", "2026-03-18")
    # A tick a day, from a night: each date is written once (Plotly's own ticks would fall every six hours).
    assert (fig.layout.xaxis.dtick, fig.layout.xaxis.tick0) == (86_400_000, "2026-03-17")
    low, high = fig.layout.yaxis.range
    assert low == 0 < 0.0777 < high


def test_a_sentence_until_labels_mature():
    points = _points()
    # The base rate in the config's words (params.yaml `wording.positive_rate`), never the example's.
    assert first_labels_sentence(points, 30, "share of union = 1") == (
        "No matured labels yet: a label is known 30 days after its row, so the first matured labels "
        "(ROC AUC, share of union = 1) come on 2026-04-16."
    )
    matured = [*points[:2], NightPoint("2026-04-16", "v2", "keep", 0.1, 0.01, 6000, labelled_rows=1800)]
    assert first_labels_sentence(matured, 30) is None
    assert NightPoint.from_dict(points[0].to_dict()) == points[0]


def test_ninety_nights_get_about_ten_ticks_a_whole_number_of_days_apart():
    start = dt.date(2026, 1, 1)
    points = [
        NightPoint((start + dt.timedelta(days=i)).isoformat(), "v1", "keep", 0.1, 0.01) for i in range(90)
    ]
    fig = nights_figure(points, "drift_share", 0.3, "Share of drifted columns")
    assert fig.layout.xaxis.dtick == 10 * 86_400_000
