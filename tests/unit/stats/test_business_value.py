"""Business value per confusion cell: realized by hand, estimated from expected cells."""

import json

import numpy as np
import pytest
from tabular_mlops.stats.business_value import (
    BusinessValue,
    CellValues,
    business_value_of,
    estimate_business_value,
    realized_business_value,
)
from tabular_mlops.stats.calibration import CalibrationFit, ScoreCalibrator

# Credit: declined & defaulted 0, declined & would have repaid -120, approved & defaulted -2500, approved & repaid 300.
CREDIT = CellValues(true_positive=0.0, false_positive=-120.0, false_negative=-2500.0, true_negative=300.0)
IDENTITY = CalibrationFit(ScoreCalibrator("identity"), "identity: test", 1000, 50)


def test_realized_value_by_hand():
    scores = np.array([0.9, 0.6, 0.2, 0.1, 0.05])
    labels = np.array([1, 0, 1, 0, 0])
    got = realized_business_value(scores, labels, 0.5, CREDIT)
    # declined: one defaulter (0), one good (-120); approved: one defaulter (-2500), two good (+600)
    assert got.total == pytest.approx(-2020.0) and got.per_row == pytest.approx(-404.0)
    assert got.cells.false_negative == 1 and got.cells.true_negative == 2


def test_estimate_is_the_expected_cells_value_and_its_interval_covers_realized_nights():
    rng = np.random.default_rng(0)
    scores = rng.beta(1, 12, 3000)
    est = estimate_business_value(scores, 0.15, IDENTITY, CREDIT)
    flagged = scores >= 0.15
    expected = np.sum(
        np.where(flagged, scores * CREDIT.true_positive + (1 - scores) * CREDIT.false_positive, 0)
    ) + np.sum(np.where(~flagged, scores * CREDIT.false_negative + (1 - scores) * CREDIT.true_negative, 0))
    assert est.total == pytest.approx(expected)
    hits = sum(
        est.lower
        <= realized_business_value(scores, (rng.random(3000) < scores).astype(int), 0.15, CREDIT).total
        <= est.upper
        for _ in range(200)
    )
    assert 180 <= hits <= 199  # 95% intervals, 200 nights


def test_withheld_values_say_why():
    no_cal = CalibrationFit(None, "holdout has a single class (all 600 rows negative)", 600, 0)
    assert "single class" in estimate_business_value(np.full(900, 0.1), 0.5, no_cal, CREDIT).reason
    tiny = estimate_business_value(np.full(10, 0.1), 0.5, IDENTITY, CREDIT, min_rows=500)
    assert tiny.total is None and "fewer than min_rows" in tiny.reason
    assert business_value_of("importance_weighting", None, CREDIT, "no overlap").reason == "no overlap"


def test_cell_values_are_checked_and_round_trip():
    with pytest.raises(TypeError, match="true_negative"):
        CellValues.from_dict({"true_positive": 0, "false_positive": -1, "false_negative": -5})
    with pytest.raises(ValueError, match="CellValues.false_positive is nan"):
        CellValues(0.0, float("nan"), 1.0, 1.0)
    est = estimate_business_value(np.random.default_rng(1).beta(1, 12, 800), 0.15, IDENTITY, CREDIT)
    assert BusinessValue.from_dict(json.loads(json.dumps(est.to_dict(), allow_nan=False))) == est
    assert CellValues.from_dict(CREDIT.to_dict()) == CREDIT


def test_row_values_are_the_value_of_each_rows_cell():
    from tabular_mlops.stats.business_value import CellValues, row_values

    values = CellValues(true_positive=0.0, false_positive=-40.0, false_negative=-1800.0, true_negative=300.0)
    assert list(row_values(np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0]), values)) == [0, -40, -1800, 300]
    with pytest.raises(ValueError, match="differ in length"):
        row_values(np.array([1]), np.array([1, 0]), values)
