import datetime as dt

import pandas as pd
import pytest
from tabular_mlops.data.simulate import QUALITY_SCENARIOS, generate_day, scenario_for

DAY = dt.date(2026, 1, 5)


def _days(scenario, n=5, rows=3000):
    return pd.concat([generate_day(DAY + dt.timedelta(days=i), rows, 7, scenario) for i in range(n)])


def test_same_seed_and_date_give_same_rows():
    pd.testing.assert_frame_equal(generate_day(DAY, 500, 1), generate_day(DAY, 500, 1))
    assert not generate_day(DAY, 500, 1).equals(generate_day(DAY, 500, 2))


def test_stable_default_rate_is_a_few_percent():
    rate = _days("stable")["defaulted"].mean()
    assert 0.01 < rate < 0.06


def test_covariate_shift_moves_income_age_and_smartphones():
    stable, shifted = _days("stable"), _days("covariate_shift")
    assert shifted["income"].mean() > stable["income"].mean() * 1.2
    assert shifted["age"].mean() < stable["age"].mean() - 2
    assert shifted["has_smartphone"].mean() > 0.9 > stable["has_smartphone"].mean()


def test_covariate_harmful_takes_applicants_where_the_model_never_looked():
    """covariate_shift's moves, and half the applicants with 16-30 open accounts (a stable day hardly has one
    above 15), where risk keeps rising: a model trained on stable days extrapolates there and ranks worse."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    stable, harmful = _days("stable"), _days("covariate_harmful")
    assert (stable["num_open_accounts"] > 15).mean() < 0.001
    assert 0.45 < (harmful["num_open_accounts"] > 15).mean() < 0.55
    assert harmful["has_smartphone"].mean() > 0.9
    numeric = ["income", "age", "debt_to_income", "num_open_accounts", "credit_history_length"]
    model = HistGradientBoostingClassifier(max_depth=3, random_state=0).fit(
        stable[numeric], stable["defaulted"]
    )
    fresh = pd.concat([generate_day(DAY + dt.timedelta(days=40 + i), 3000, 7, "stable") for i in range(5)])
    on_stable = roc_auc_score(fresh["defaulted"], model.predict_proba(fresh[numeric])[:, 1])
    on_harmful = roc_auc_score(harmful["defaulted"], model.predict_proba(harmful[numeric])[:, 1])
    assert on_harmful < on_stable - 0.03, (on_stable, on_harmful)


def test_label_drift_raises_default_rate():
    assert _days("label_drift")["defaulted"].mean() > 2 * _days("stable")["defaulted"].mean()


def test_concept_drift_changes_the_relationship_not_the_features():
    stable, drifted = _days("stable"), _days("concept_drift")
    pd.testing.assert_series_equal(stable["income"], drifted["income"])
    high_dti = stable["debt_to_income"] > 0.5
    lift_stable = stable[high_dti]["defaulted"].mean() / stable[~high_dti]["defaulted"].mean()
    lift_drift = drifted[high_dti]["defaulted"].mean() / drifted[~high_dti]["defaulted"].mean()
    assert lift_stable > 2 * lift_drift


@pytest.mark.parametrize("scenario", QUALITY_SCENARIOS)
def test_quality_scenarios_break_the_batch(scenario):
    clean, broken = generate_day(DAY, 1000, 3), generate_day(DAY, 1000, 3, scenario)
    assert not broken.equals(clean)


def test_scenario_switches_on_at_its_start_date():
    start = dt.date(2026, 2, 1)
    assert scenario_for(dt.date(2026, 1, 31), "covariate_shift", start) == "stable"
    assert scenario_for(start, "covariate_shift", start) == "covariate_shift"
    assert scenario_for(start, "label_drift", None) == "label_drift"


def test_unknown_scenario_is_named():
    with pytest.raises(ValueError, match="nope"):
        generate_day(DAY, 10, 1, "nope")
