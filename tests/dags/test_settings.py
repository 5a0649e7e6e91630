"""The plugin's shared task settings: a config error fails a task at once instead of being retried."""

from __future__ import annotations

import shutil

import pytest
import yaml
from airflow.sdk.exceptions import AirflowFailException
from tabular_mlops_airflow.settings import project_params

from tests.conftest import REPO


def test_a_config_error_is_not_retried(tmp_path):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["preprocess"]["validation_fraction"] = 1.5
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(AirflowFailException, match=r"preprocess\.validation_fraction"):
        project_params(str(tmp_path))


def test_a_valid_config_loads(tmp_path):
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    assert project_params(str(tmp_path)).registry.model_name
