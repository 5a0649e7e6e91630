import datetime as dt

import numpy as np
import pandas as pd
import pytest
from tabular_mlops.data.simulate import generate_day
from tabular_mlops.monitoring.drift import column_drift, dataset_drift, drift_share, numeric_psi


def _window(scenario, days, rows=3000, start=dt.date(2026, 1, 1)):
    return pd.concat([generate_day(start + dt.timedelta(days=i), rows, 4, scenario) for i in range(days)])


@pytest.fixture(scope="module")
def reference():
    return _window("stable", 10)


def test_psi_bands():
    rng = np.random.default_rng(0)
    ref = rng.normal(0, 1, 50_000)
    assert numeric_psi(ref, rng.normal(0, 1, 50_000), 10) < 0.01
    assert numeric_psi(ref, rng.normal(0, 1.5, 50_000), 10) > 0.1  # a 1.5x scale change is caught


def test_stable_window_flags_nothing(reference, repo_params):
    results = dataset_drift(
        reference, _window("stable", 3, start=dt.date(2026, 3, 1)), repo_params.schema, repo_params.monitor
    )
    assert [r.column for r in results if r.drifted] == []


def test_covariate_shift_flags_exactly_the_shifted_columns(reference, repo_params):
    results = dataset_drift(
        reference,
        _window("covariate_shift", 3, start=dt.date(2026, 3, 1)),
        repo_params.schema,
        repo_params.monitor,
    )
    # credit_history_length is derived from age, so it moves with it.
    assert {r.column for r in results if r.drifted} == {
        "income",
        "age",
        "has_smartphone",
        "credit_history_length",
    }


def test_unseen_category_is_flagged_with_its_share(reference, repo_params):
    current = _window("unseen_category", 2, start=dt.date(2026, 3, 1))
    result = column_drift(reference["region"], current["region"], "category", "psi", repo_params.monitor)
    assert result.drifted and "atlantis" in result.flags[0]


@pytest.mark.parametrize("test", ["psi", "ks"])
def test_all_missing_and_constant_columns_never_give_nan(reference, repo_params, test):
    current = _window("stable", 1, start=dt.date(2026, 3, 1))
    empty = column_drift(reference["income"], current["income"] * np.nan, "float", test, repo_params.monitor)
    constant = column_drift(reference["age"], current["age"] * 0 + 40, "int", test, repo_params.monitor)
    for r in (empty, constant):
        assert np.isfinite(r.statistic) and np.isfinite(r.psi)
    assert "all values missing" in empty.flags[0]
    assert "constant" in constant.flags[0]


def test_drift_share_is_zero_without_columns():
    assert drift_share([]) == 0.0


def test_label_drift_needs_both_significance_and_a_real_change():
    from tabular_mlops.monitoring.drift import label_drift

    rng = np.random.default_rng(0)
    ref = (rng.random(50_000) < 0.035).astype(float)
    same = (rng.random(5_000) < 0.035).astype(float)
    tripled = (rng.random(5_000) < 0.10).astype(float)
    assert not label_drift(ref, same, 0.5, 0.01).drifted
    result = label_drift(ref, tripled, 0.5, 0.01)
    assert result.drifted and 2.3 < result.rate_ratio < 3.5 and result.p_value < 1e-6
    # At a million rows a 5% relative change is "significant" but not a change anyone acts on.
    big_ref = (rng.random(1_000_000) < 0.035).astype(float)
    big_cur = (rng.random(1_000_000) < 0.0368).astype(float)
    assert not label_drift(big_ref, big_cur, 0.5, 0.01).drifted


def test_label_drift_of_empty_or_single_class_windows_is_not_nan():
    from tabular_mlops.monitoring.drift import label_drift

    assert label_drift(np.array([0.0, 1.0]), np.array([]), 0.5, 0.01).drifted is False
    none = label_drift(np.zeros(100), np.zeros(100), 0.5, 0.01)
    assert none.drifted is False and none.p_value == 1.0 and none.rate_ratio == 1.0
    nan_labels = label_drift(np.array([0.0, 1.0, np.nan]), np.array([np.nan, 1.0]), 0.5, 0.01)
    assert nan_labels.matured_rate == 1.0
