import dataclasses
import datetime as dt
import time

import numpy as np
import pytest
from tabular_mlops.data.simulate import generate_day
from tabular_mlops.model.model_tests import model_tests
from tabular_mlops.training.gate import champion_comparison, threshold_checks

GOOD = {"roc_auc": 0.80, "pr_auc": 0.12, "brier": 0.03, "brier_skill": 0.07}


@pytest.fixture()
def holdout():
    return generate_day(dt.date(2026, 1, 1), 300, 9)


def test_thresholds_pass_and_fail_with_reasons(repo_params):
    assert threshold_checks(GOOD, repo_params.gate).passed
    bad = threshold_checks({**GOOD, "roc_auc": 0.55, "brier_skill": -0.2}, repo_params.gate)
    assert not bad.passed
    assert "roc_auc 0.5500 violates >=" in bad.reason and "brier_skill -0.2000 violates >=" in bad.reason


def test_champion_comparison_respects_the_margin(repo_params):
    margin = repo_params.gate.champion_margin
    assert champion_comparison(GOOD, None, None, repo_params.gate).passed
    slightly_worse = {**GOOD, "roc_auc": GOOD["roc_auc"] - margin / 2}
    assert champion_comparison(slightly_worse, GOOD, "3", repo_params.gate).passed
    much_worse = {**GOOD, "roc_auc": GOOD["roc_auc"] - 3 * margin}
    result = champion_comparison(much_worse, GOOD, "3", repo_params.gate)
    assert not result.passed and "champion v3" in result.reason
    assert "worse by 0.0300, more than the allowed margin" in result.reason


def test_a_passing_comparison_reads_as_a_pass(repo_params):
    """No "delta ... margin ... passed" puzzles: the verdict says better, or worse within the margin."""
    margin = repo_params.gate.champion_margin
    better = champion_comparison({**GOOD, "roc_auc": GOOD["roc_auc"] + 0.0006}, GOOD, "1", repo_params.gate)
    assert better.passed and "not worse: better by 0.0006" in better.reason
    within = champion_comparison(
        {**GOOD, "roc_auc": GOOD["roc_auc"] - margin / 2}, GOOD, "1", repo_params.gate
    )
    assert within.passed and f"within the allowed margin {margin}" in within.reason


def test_model_tests_accept_a_sane_model(repo_params, holdout):
    result = model_tests(lambda x: np.full(len(x), 0.03), holdout, repo_params.schema, repo_params.gate)
    assert result.passed, result.reason


def test_model_tests_reject_scores_outside_unit_interval(repo_params, holdout):
    result = model_tests(lambda x: np.full(len(x), 1.7), holdout, repo_params.schema, repo_params.gate)
    assert not result.passed and "[0, 1]" in result.reason


def test_model_tests_reject_models_that_break_on_missing_values(repo_params, holdout):
    def fragile(x):
        if x["income"].isna().any():
            raise ValueError("NaN in income")
        return np.full(len(x), 0.03)

    result = model_tests(fragile, holdout, repo_params.schema, repo_params.gate)
    assert not result.passed and "income" in result.reason


def test_model_tests_enforce_the_latency_budget(repo_params, holdout):
    budget = repo_params.gate.latency_p95_ms

    def slow(x):
        # CPU spent in the scoring thread is what counts (a sleep or a wait for a busy core is not the model's)
        end = time.thread_time() + budget * 1.5 / 1000
        while time.thread_time() < end:
            pass
        return np.full(len(x), 0.03)

    gate = dataclasses.replace(repo_params.gate, latency_samples=5)
    result = model_tests(slow, holdout.head(5), repo_params.schema, gate)
    assert not result.passed and "latency" in result.reason


def _forecasts(base_rate: float, seed: int = 0, rows: int = 20_000):
    """Labels at `base_rate` and calibrated scores from a model with real skill (AUC ~0.8)."""
    rng = np.random.default_rng(seed)
    logit = np.log(base_rate / (1 - base_rate)) + rng.normal(0, 1.4, rows)
    truth = 1 / (1 + np.exp(-logit))
    return (rng.random(rows) < truth).astype(int), truth


@pytest.mark.parametrize("base_rate", [0.03, 0.25])
def test_brier_gate_is_relative_to_the_base_rate(repo_params, base_rate):
    """A good model passes and a constant base-rate forecast fails at a 3% and at a 25% base rate alike
    (an absolute max Brier of 0.06 failed every model at 25%, whose Brier is about 0.15 however good)."""
    from tabular_mlops.model.classification_metrics import classification_metrics

    y, good = _forecasts(base_rate)
    good_metrics = classification_metrics(y, good, 0.5)
    result = threshold_checks(good_metrics, repo_params.gate)
    assert result.passed, result.reason
    assert "brier_skill" in result.reason
    constant = classification_metrics(y, np.full(len(y), y.mean()), 0.5)
    assert abs(constant["brier_skill"]) < 1e-9
    failed = threshold_checks({**good_metrics, "brier_skill": constant["brier_skill"]}, repo_params.gate)
    assert not failed.passed and "brier_skill" in failed.reason


def test_the_retired_max_brier_key_says_what_replaced_it(tmp_path):
    import yaml
    from tabular_mlops.core.config import ConfigError, load_params

    from tests.support.project import REPO

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["gate"].pop("min_brier_skill", None)
    raw["gate"]["max_brier"] = 0.06
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(ConfigError, match=r"gate\.max_brier: replaced by gate\.min_brier_skill"):
        load_params(path)


def _mixed_table(rows: int = 400, seed: int = 0):
    """A table with every nullable type: a nullable category, a nullable int (pandas Int64), a nullable float,
    and a bool column (declared int 0/1), none of them from the credit example."""
    import pandas as pd
    from tabular_mlops.core.config import FeatureSpec, SchemaConfig

    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "id": range(rows),
            "ts": pd.Timestamp("2019-06-01"),
            "colour": pd.Series(rng.choice(["red", "blue", "green"], rows), dtype=object),
            "visits": pd.array(rng.integers(0, 9, rows), dtype="Int64"),
            "amount": rng.normal(size=rows),
            "member": rng.random(rows) < 0.5,
            "bought": (rng.random(rows) < 0.3).astype(int),
        }
    )
    # Gaps in the training rows of two nullable columns only: the nullable int has none in the sample the
    # signature is inferred from, and must still take a missing value.
    df.loc[::7, "colour"] = None
    df.loc[::5, "amount"] = np.nan
    schema = SchemaConfig(
        table="t",
        id_column="id",
        timestamp_column="ts",
        target_column="bought",
        label_delay_days=0,
        features=(
            FeatureSpec(name="colour", type="category", categories=("red", "blue", "green"), nullable=True),
            FeatureSpec(name="visits", type="int", min=0, max=9, nullable=True),
            FeatureSpec(name="amount", type="float", nullable=True),
            FeatureSpec(name="member", type="int", min=0, max=1),
        ),
    )
    return df, schema


def test_model_tests_feed_missing_values_the_signature_accepts(repo_params, tmp_path):
    """A real pyfunc model with its inferred signature (MLflow enforces it as a served model would): a missing
    nullable category must reach it as the model frame spells it, not as a float NaN MLflow refuses ("Can not
    safely convert float64 to <U0"); the reason stays short."""
    import mlflow
    from mlflow.models import infer_signature
    from tabular_mlops.model.scoring import model_frame
    from tabular_mlops.training.features import build_pipeline

    df, schema = _mixed_table()
    x = model_frame(df, schema)
    model = build_pipeline(schema, {"model": "logistic_regression"}, 0).fit(x, df["bought"])
    sample = model_frame(df.head(200), schema)
    path = tmp_path / "model"
    mlflow.sklearn.save_model(
        model,
        str(path),
        signature=infer_signature(sample, model.predict_proba(sample)[:, 1]),
        pyfunc_predict_fn="predict_proba",
        serialization_format="cloudpickle",
    )
    pyfunc = mlflow.pyfunc.load_model(str(path))
    gate = dataclasses.replace(repo_params.gate, latency_samples=20, latency_p95_ms=1000.0)
    result = model_tests(lambda frame: pyfunc.predict(frame)[:, 1], df, schema, gate)
    assert result.passed, result.reason
    assert "colour" in result.reason and "visits" in result.reason and "amount" in result.reason


def test_a_model_test_failure_reason_is_a_rule_and_a_number_not_a_table(repo_params, holdout):
    def dumps_a_table(x):
        if x["income"].isna().any():
            raise ValueError(f"Failed to enforce schema of data '{x.to_string()}'")
        return np.full(len(x), 0.03)

    result = model_tests(dumps_a_table, holdout, repo_params.schema, repo_params.gate)
    assert not result.passed and "income" in result.reason
    assert len(result.reason) <= 300 and "\n" not in result.reason
