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


def test_params_are_read_once_per_version_of_the_file(tmp_path):
    """Tasks, DAG files and extra links share one parse; an edited params.yaml is read again (not stale)."""
    import os

    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    first = project_params(str(tmp_path))
    assert project_params(str(tmp_path)) is first
    raw = yaml.safe_load((tmp_path / "params.yaml").read_text())
    raw["registry"]["model_name"] = "edited_model"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    # An edit within the file system's timestamp resolution: the size changed, and the mtime is moved on.
    stat = (tmp_path / "params.yaml").stat()
    os.utime(tmp_path / "params.yaml", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    edited = project_params(str(tmp_path))
    assert edited is not first and edited.registry.model_name == "edited_model"


def test_the_extra_links_read_the_same_params(tmp_path):
    from tabular_mlops_airflow.extra_links import _params

    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    assert _params(str(tmp_path)) is project_params(str(tmp_path))
