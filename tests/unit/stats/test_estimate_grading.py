"""Self-grading: error, coverage and the concept-drift alert on k consecutive misses."""

import json

import pytest
from tabular_mlops.stats.estimate_grading import CONCEPT_DRIFT, EstimateGrading, NightFigures, grade_estimates


def nights(realized):
    """Estimate 0.80 [0.77, 0.83] every night, with the realized figures given (None: not matured)."""
    return [NightFigures(f"2026-02-{i + 1:02d}", 0.80, 0.77, 0.83, r) for i, r in enumerate(realized)]


def test_error_and_coverage_over_matured_nights():
    got = grade_estimates("roc_auc", "cbpe", nights([0.81, 0.75, 0.79, None]))
    assert got.matured_nights == 3
    assert got.mean_absolute_error == pytest.approx((0.01 + 0.05 + 0.01) / 3)
    assert got.coverage == pytest.approx(2 / 3)
    assert [n.running_mae for n in got.nights] == pytest.approx([0.01, 0.03, 0.07 / 3])
    assert not got.alert and "interval coverage 67%" in got.reason


def test_alert_after_k_misses_in_a_row_and_a_covered_night_resets_the_run():
    got = grade_estimates("roc_auc", "cbpe", nights([0.80, 0.70, 0.71, 0.80, 0.70, 0.72, 0.69]), 3)
    assert got.alert and got.alert_night == "2026-02-07"
    assert got.reason.startswith(CONCEPT_DRIFT) and "from 2026-02-05" in got.reason and "below" in got.reason
    assert [n.consecutive_misses for n in got.nights] == [0, 1, 2, 0, 1, 2, 3]
    recovered = grade_estimates("roc_auc", "cbpe", nights([0.70, 0.70, 0.70, 0.80]), 3)
    assert not recovered.alert and recovered.alert_night is None


def test_withheld_nights_neither_break_nor_extend_a_run():
    figures = nights([0.70, 0.70, 0.70])
    figures.insert(1, NightFigures("2026-02-01T12", None, None, None, 0.70))
    got = grade_estimates("roc_auc", "cbpe", figures, 3)
    assert got.matured_nights == 3 and got.alert


def test_nothing_matured_yet():
    got = grade_estimates("roc_auc", "cbpe", nights([None, None]))
    assert got.mean_absolute_error is None and not got.alert and "no matured night" in got.reason


def test_round_trips_through_json_and_refuses_k_0():
    got = grade_estimates("roc_auc", "cbpe", nights([0.70, 0.70, 0.70]))
    assert EstimateGrading.from_dict(json.loads(json.dumps(got.to_dict(), allow_nan=False))) == got
    with pytest.raises(ValueError, match="consecutive_misses"):
        grade_estimates("roc_auc", "cbpe", [], 0)
