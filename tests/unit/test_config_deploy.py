"""The `deploy` section: defaults keep today's behaviour, and one wrong value is refused naming the key path."""

import dataclasses

import pytest
import yaml
from tabular_mlops.core.config import ConfigError, load_params

from tests.support.project import REPO


def _write(tmp_path, raw):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_without_a_deploy_section_the_champion_alone_answers(tmp_path):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw.pop("deploy")
    deploy = load_params(_write(tmp_path, raw)).deploy
    assert deploy.strategy == "champion" and deploy.require_proof is False
    example = load_params(REPO / "params.yaml").deploy
    # params.yaml spells out the defaults, but for the bandit's reward: the example sets business_value, so its
    # bandit is rewarded with each answer's business value (gaussian) rather than the right decision (bernoulli).
    assert example.bandit.reward == "gaussian" and deploy.bandit.reward == "bernoulli"
    assert deploy == dataclasses.replace(
        example, bandit=dataclasses.replace(example.bandit, reward="bernoulli")
    )


def test_a_gaussian_bandit_needs_business_value(tmp_path):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw.pop("business_value")
    with pytest.raises(ConfigError) as err:
        load_params(_write(tmp_path, raw))
    assert "deploy.bandit.reward" in str(err.value) and "business_value" in str(err.value)
    raw["deploy"]["bandit"]["reward"] = "bernoulli"
    assert load_params(_write(tmp_path, raw)).deploy.bandit.reward == "bernoulli"


CASES = [
    (("strategy",), "blue_green", "deploy.strategy", "'champion', 'shadow', 'canary', 'ab_test' or 'bandit'"),
    (("shadow", "fraction"), 0.0, "deploy.shadow.fraction", "must be in (0, 1] (got 0.0)"),
    (("shadow", "loss"), "auc", "deploy.shadow.loss", "'log_loss' or 'brier'"),
    (("shadow", "timeout_ms"), -5, "deploy.shadow.timeout_ms", "must be > 0 (got -5)"),
    (("sequential", "alpha"), 1.5, "deploy.sequential.alpha", "must be in (0, 1) (got 1.5)"),
    (
        ("sequential", "min_samples"),
        50_000,
        "deploy.sequential.min_samples",
        "<= deploy.sequential.max_samples",
    ),
    (("sequential", "margin"), -0.1, "deploy.sequential.margin", "must be >= 0 (got -0.1)"),
    (("canary", "share"), 1.0, "deploy.canary.share", "must be in (0, 1) (got 1.0)"),
    (
        ("canary", "guard", "max_error_rate"),
        2,
        "deploy.canary.guard.max_error_rate",
        "must be in [0, 1) (got 2)",
    ),
    (("canary", "guard", "window"), 60, "deploy.canary.guard.window", "allowed: window_seconds"),
    (("ab_test", "higher_is_better"), True, "deploy.ab_test.higher_is_better", "must be false for a loss"),
    (("bandit", "floor"), 0.7, "deploy.bandit.floor", "must be in [0, 0.5] (got 0.7)"),
    (("bandit", "reward"), "money", "deploy.bandit.reward", "'bernoulli' or 'gaussian'"),
    (("routing_salt",), "", "deploy.routing_salt", "must not be empty"),
]


@pytest.mark.parametrize(("path", "value", "key", "says"), CASES, ids=[".".join(c[0]) for c in CASES])
def test_one_wrong_deploy_value_is_refused_with_its_key_path(tmp_path, path, value, key, says):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    node = raw["deploy"]
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    params_file = _write(tmp_path, raw)
    with pytest.raises(ConfigError) as err:
        load_params(params_file)
    lines = str(err.value).splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{params_file}: {key}: "), lines[0]
    assert says in lines[0], lines[0]
