"""The plugin's shared task settings: a config error fails a task at once instead of being retried."""

from __future__ import annotations

import shutil

import pytest
import yaml
from airflow.sdk.exceptions import AirflowFailException
from tabular_mlops_airflow.settings import project_params

from tests.support.project import REPO


def test_a_config_error_is_not_retried(tmp_path):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["preprocess"]["validation_fraction"] = 1.5
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(AirflowFailException, match=r"preprocess\.validation_fraction"):
        project_params(str(tmp_path))


def test_a_valid_config_loads(tmp_path):
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    assert project_params(str(tmp_path)).registry.model_name


@pytest.mark.parametrize(
    ("run_type", "conf", "reason"),
    [
        ("manual", {"reason": ""}, "manual"),  # triggered by hand from the form, reason left empty
        ("manual", {}, "manual"),
        ("scheduled", {}, "scheduled"),
        ("manual", {"reason": "drift on 2026-04-01"}, "drift on 2026-04-01"),
    ],
)
def test_the_retrain_reason_says_how_the_run_came(run_type, conf, reason):
    """The `retrain_reason` tag of a training triggered by hand is `manual`, never `scheduled`."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.types import DagRunType
    from tabular_mlops_airflow.settings import task_env

    run = DagRun(dag_id="train_model", run_id="r1", run_type=DagRunType(run_type), conf=conf)
    assert task_env(str(REPO), {"dag_run": run})["MLOPS_TRIGGER_REASON"] == reason


def test_the_training_form_leaves_the_reason_empty():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / "train_model.py"))
    assert bag.dags["train_model"].params["reason"] == ""
