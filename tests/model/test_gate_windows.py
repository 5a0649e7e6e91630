"""Never judged on its own training days: the gate compares challenger and champion only on holdout days after
the champion's training window, and skips the comparison (with the reason) when there are none."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os

import pytest
from tabular_mlops.core.config import load_params
from tabular_mlops.core.contracts import CHAMPION, Tag, snapshot_name
from tabular_mlops.model.tracking import configure_tracking
from tabular_mlops.training import registry
from tabular_mlops.training.evaluate import evaluate
from tabular_mlops.training.preprocess import split_window
from tabular_mlops.training.train import train

from tests.support.project import ledger_engine, make_project, publish_history, register

START = dt.date(2026, 1, 1)
DAYS = 14


def _train_and_gate(project, params):
    split_window(params, project)
    train(params, project)
    evaluate(params, project)
    version = register(params, project).version
    return registry.promote_if_better(params, project, version, ledger_engine(project), "test")


@pytest.fixture(scope="module")
def first_champion(tmp_path_factory):
    """v1 trained on days 1..11 (holdout 12..14) and promoted."""
    project = make_project(tmp_path_factory.mktemp("windows") / "project")
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{project / 'mlflow.db'}"
    params = load_params(project / "params.yaml")
    one = ({"model": "hist_gradient_boosting", "learning_rate": 0.1, "max_iter": 60, "max_depth": 3},)
    params = dataclasses.replace(
        params,
        preprocess=dataclasses.replace(params.preprocess, window_days=DAYS, holdout_days=3),
        train=dataclasses.replace(params.train, search_space=one),
    )
    publish_history(project, params, days=DAYS, rows=900)
    configure_tracking(params, project)
    first = _train_and_gate(project, params)
    assert first.promoted, first
    yield project, params, first
    if saved is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = saved


def test_an_overlapping_holdout_is_compared_only_on_the_champions_unseen_days(first_champion):
    project, params, first = first_champion
    from mlflow import MlflowClient

    tags = MlflowClient().get_model_version(params.registry.model_name, first.version).tags
    assert tags[Tag.REFERENCE_WINDOW].endswith((START + dt.timedelta(days=DAYS - 4)).isoformat())
    # A wider holdout (7 days) reaches back into v1's training days 8..11.
    wider = dataclasses.replace(params, preprocess=dataclasses.replace(params.preprocess, holdout_days=7))
    result = _train_and_gate(project, wider)
    comparison = next(g for g in result.gates if g.name == "champion_comparison")
    trained_until = (START + dt.timedelta(days=DAYS - 4)).isoformat()
    assert (
        f"the 3 holdout day(s) after v{first.version}'s training ended {trained_until}" in comparison.reason
    )


def test_a_holdout_inside_the_champions_training_window_skips_the_comparison(first_champion):
    project, params, _ = first_champion
    from mlflow import MlflowClient
    from tabular_mlops.training.gate import training_end

    name = params.registry.model_name
    champion = MlflowClient().get_model_version_by_alias(name, CHAMPION)
    trained_until = training_end(champion.tags[Tag.REFERENCE_WINDOW])
    # An older window: every snapshot after the champion's training end is set aside, so each holdout day is
    # one the champion trained on.
    raw = project / params.paths.raw_dir
    aside = project / "aside"
    aside.mkdir(exist_ok=True)
    for i in range(DAYS):
        day = START + dt.timedelta(days=i)
        if day > trained_until:
            (raw / snapshot_name(day)).replace(aside / snapshot_name(day))
    try:
        result = _train_and_gate(project, params)
    finally:
        for path in aside.iterdir():
            path.replace(raw / path.name)
    comparison = next(g for g in result.gates if g.name == "champion_comparison")
    assert comparison.reason.startswith("skipped: only 0 holdout row(s)"), comparison
    assert "never judged on days it was trained on" in comparison.reason
