"""The model card states what the monitor's performance estimates assume, with the limits they are held to."""

from __future__ import annotations

from tabular_mlops.model.model_tests import GateResult
from tabular_mlops.stats.importance import ImportanceSettings
from tabular_mlops.training.modelcard import estimator_assumptions, render_model_card

from tests.support.model_card import INFO, METRICS


def test_card_states_each_estimators_assumptions(repo_params):
    card = render_model_card(
        repo_params, "3", INFO, METRICS, {}, [GateResult("thresholds", True, "ok")], True
    )
    section = card[
        card.index("## Performance estimated before labels arrive") : card.index("## Retrain triggers")
    ]
    delay = repo_params.schema.label_delay_days
    assert f"Labels mature {delay} days late" in section
    # CBPE: calibration holds under covariate shift; blind to concept drift, hence the self-check.
    assert "*Assumes the calibration holds*" in section and "under covariate shift" in section
    assert "*Blind to concept drift*" in section and "`concept drift suspected`" in section
    assert "default rate at a given score" in section  # the example's own words
    # Importance weighting: support overlap and the effective sample size, with the limits in force.
    defaults = ImportanceSettings()
    assert "*Assumes support overlap*" in section and "*Effective sample size*" in section
    assert f"below\n    {defaults.min_effective_rows} effective rows" in section
    assert f"domain ROC AUC at least\n    {defaults.max_domain_auc:g}" in section


def test_limits_come_from_the_settings_in_force(repo_params):
    strict = ImportanceSettings(max_weight=8.0, min_effective_rows=1200, max_unsupported_share=0.02)
    text = " ".join(estimator_assumptions(repo_params, strict).split())
    assert "clipped at 8;" in text and "below 1200 effective rows" in text and "more than 2% of" in text
