"""The decision threshold chosen on validation rows by the configured rule, and its config."""

import numpy as np
import pytest
import yaml
from tabular_mlops.core.config import ConfigError, ThresholdRule, load_params
from tabular_mlops.model.scoring import decision_threshold
from tabular_mlops.training.threshold import choose_threshold

from tests.support.project import REPO


def _validation(base_rate: float, rows: int = 20_000, seed: int = 1):
    rng = np.random.default_rng(seed)
    logit = np.log(base_rate / (1 - base_rate)) + rng.normal(0, 1.4, rows)
    p = 1 / (1 + np.exp(-logit))
    return (rng.random(rows) < p).astype(int), p


def test_a_fixed_threshold_fits_one_base_rate_and_a_flag_rate_fits_any():
    """0.1 flags a few percent of a 3% table but most rows of a 25% one (recall ~1, the issue's symptom); the
    target_flag_rate rule flags the asked share at either base rate."""
    rule = ThresholdRule(rule="target_flag_rate", rate=0.1)
    for base_rate in (0.03, 0.25):
        y, scores = _validation(base_rate)
        t = choose_threshold(y, scores, rule)
        assert 0 < t < 1
        assert abs((scores >= t).mean() - 0.1) < 0.005
    y, scores = _validation(0.25)
    assert (scores >= 0.1).mean() > 0.6


def test_cost_ratio_picks_the_cheapest_threshold():
    y, scores = _validation(0.1, rows=3000)
    rule = ThresholdRule(rule="cost_ratio", false_negative_cost=9.0, false_positive_cost=1.0)
    t = choose_threshold(y, scores, rule)

    def cost(th: float) -> float:
        flagged = scores >= th
        return 9.0 * np.sum(~flagged & (y == 1)) + 1.0 * np.sum(flagged & (y == 0))

    brute = min(cost(th) for th in np.append(np.unique(scores), 1.0))
    assert cost(t) == brute
    # Calibrated scores: the cheapest threshold is near the Bayes threshold fp / (fp + fn) = 0.1.
    assert 0.05 < t < 0.2


def test_fixed_rule_returns_its_value_and_wins_over_a_recorded_one():
    rule = ThresholdRule(rule="fixed", value=0.1)
    assert choose_threshold(np.array([0, 1]), np.array([0.2, 0.9]), rule) == 0.1
    assert decision_threshold(rule, "0.3", "v1") == 0.1
    data_rule = ThresholdRule(rule="target_flag_rate", rate=0.1)
    assert decision_threshold(data_rule, "0.3", "v1") == 0.3
    with pytest.raises(LookupError, match="v1 has no recorded decision threshold"):
        decision_threshold(data_rule, None, "v1")


def _load(tmp_path, value):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["evaluate"]["decision_threshold"] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_params(path)


def test_a_bare_number_is_the_fixed_rule(tmp_path):
    assert _load(tmp_path, 0.2).evaluate.decision_threshold == ThresholdRule(rule="fixed", value=0.2)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"rule": "target_flag_rate"}, "evaluate.decision_threshold.rate: required by rule target_flag_rate"),
        (
            {"rule": "fixed", "value": 0.1, "rate": 0.2},
            "evaluate.decision_threshold.rate: not used by rule fixed (it takes value)",
        ),
        (
            {"rule": "cost_ratio", "false_negative_cost": 9.0},
            "false_positive_cost: required by rule cost_ratio",
        ),
        ({"rule": "youden"}, "evaluate.decision_threshold.rule: must be one of"),
        ({"rule": "target_flag_rate", "rate": 1.0}, "evaluate.decision_threshold.rate: must be in (0, 1)"),
    ],
)
def test_a_rule_without_its_keys_is_refused(tmp_path, value, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _load(tmp_path, value)


def test_a_champion_without_a_recorded_threshold_is_compared_at_the_challengers(repo_params, tmp_path):
    """Switching to a data rule with a champion registered before rules existed: the comparison still runs (the
    champion's precision/recall at the challenger's threshold), it does not fail the gate with a LookupError."""
    import dataclasses
    import datetime as dt

    import pandas as pd
    from tabular_mlops.core.contracts import Tag
    from tabular_mlops.data.simulate import generate_day
    from tabular_mlops.model.scoring import LoadedModel, model_frame
    from tabular_mlops.training.features import build_pipeline
    from tabular_mlops.training.registry import compare_with_champion

    schema = repo_params.schema
    train = pd.concat([generate_day(dt.date(2026, 1, d), 800, 3) for d in range(1, 8)], ignore_index=True)
    holdout = pd.concat([generate_day(dt.date(2026, 1, d), 800, 3) for d in range(8, 11)], ignore_index=True)
    model = build_pipeline(schema, {"model": "logistic_regression"}, 0)
    model.fit(model_frame(train, schema), train[schema.target_column].astype(int))
    window = {Tag.REFERENCE_WINDOW: "2026-01-01..2026-01-07"}
    champion = LoadedModel(model, "m", "1", "r1", window)
    challenger = LoadedModel(model, "m", "2", "r2", {**window, Tag.DECISION_THRESHOLD: "0.08"})
    rule = ThresholdRule(rule="target_flag_rate", rate=0.1)
    params = dataclasses.replace(
        repo_params, evaluate=dataclasses.replace(repo_params.evaluate, decision_threshold=rule)
    )
    from tabular_mlops.data.extract import conform
    from tabular_mlops.model.scoring import score_frame

    part = tmp_path / "holdout.parquet"
    conform(holdout, schema).to_parquet(part)
    truth = conform(holdout, schema)[[schema.timestamp_column, schema.target_column]]
    scores = score_frame(model, conform(holdout, schema), schema)
    result = compare_with_champion(
        params.schema,
        params.gate,
        params.evaluate.decision_threshold,
        challenger,
        champion,
        part,
        truth,
        scores,
    )
    assert result.passed and "champion v1" in result.reason
