"""User-visible words about the domain come from params.yaml `wording` (the example's credit words), and a table
without that section gets words made from its target column, never the credit example's."""

from __future__ import annotations

import dataclasses

from tabular_mlops.core.config import WordingConfig
from tabular_mlops.model.model_tests import GateResult
from tabular_mlops.monitoring.decision import label_drift_reason
from tabular_mlops.monitoring.results import LabelDrift
from tabular_mlops.training.modelcard import render_model_card
from tabular_mlops.training.registry import model_description

from tests.support.model_card import INFO, METRICS

CREDIT_WORDS = ("loan", "default", "applicant", "application")


def _other_table(params):
    """The example's params for a table whose target is `bought` and which sets no wording."""
    schema = dataclasses.replace(params.schema, target_column="bought")
    return dataclasses.replace(params, schema=schema, wording=WordingConfig())


def _visible_text(params) -> str:
    card = render_model_card(params, "3", INFO, METRICS, {}, [GateResult("thresholds", True, "ok")], True)
    drift = LabelDrift(reference_rate=0.25, matured_rate=0.5, rate_ratio=2.0, p_value=1e-9, drifted=True)
    summary = type("S", (), {"label_drift": drift})()
    reason = label_drift_reason(summary, params.wording.rate_text(params.schema.target_column))
    return "\n".join([model_description(params.wording, params.schema), card, reason or ""])


def test_the_example_keeps_its_credit_wording(repo_params):
    assert (
        model_description(repo_params.wording, repo_params.schema)
        == "Probability of loan default (first-payment default)."
    )
    text = _visible_text(repo_params)
    assert "default rate 25.00% train" in text and "Window: applications 2019-01-01" in text
    assert "matured default rate 50.00%" in text and "after the application;" in text


def test_another_table_without_wording_gets_no_credit_words(repo_params):
    other = _other_table(repo_params)
    assert model_description(other.wording, other.schema) == "Probability that bought = 1."
    text = _visible_text(other).lower()
    # Names from the config (the model, the features) are the user's own; only the prose is checked.
    for name in [other.registry.model_name, *other.schema.feature_names]:
        text = text.replace(name, "")
    # The estimator's description mentions sklearn's own "default" nowhere; the card's credit words are gone.
    assert not [w for w in CREDIT_WORDS if w in text], [w for w in CREDIT_WORDS if w in text]
    assert "rate of bought = 1 25.00% train" in text and "matured rate of bought = 1 50.00%" in text
