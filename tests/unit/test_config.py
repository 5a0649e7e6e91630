import subprocess
import sys

import pytest
import yaml
from tabular_mlops.config import ConfigError, load_params

from tests.conftest import REPO


def _write(tmp_path, mutate):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    mutate(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_repo_params_load(repo_params):
    assert repo_params.schema.target_column == "defaulted"
    assert "income" in repo_params.schema.numeric_features
    assert "region" in repo_params.schema.categorical_features
    assert repo_params.flat()["gate.min_roc_auc"] == str(repo_params.gate.min_roc_auc)


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (lambda r: r["gate"].pop("min_roc_auc"), "gate.min_roc_auc"),
        (lambda r: r["train"].__setitem__("seed", "forty-two"), "train.seed"),
        (lambda r: r["schema"]["features"]["age"].__setitem__("type", "integer"), "schema.features.age.type"),
        (lambda r: r["schema"]["features"]["region"].pop("categories"), "schema.features.region.categories"),
        (lambda r: r["preprocess"].__setitem__("holdout_days", 99), "preprocess.holdout_days"),
        (lambda r: r.pop("registry"), "registry"),
        (lambda r: r["monitor"].__setitem__("label_alpha", 1.5), "monitor.label_alpha"),
        (lambda r: r["monitor"].__setitem__("label_rate_max_change", -1.0), "monitor.label_rate_max_change"),
        (lambda r: r["paths"].pop("evidently_workspace"), "paths.evidently_workspace"),
    ],
)
def test_malformed_params_name_the_key(tmp_path, mutate, key):
    path = _write(tmp_path, mutate)
    with pytest.raises(ConfigError) as err:
        load_params(path)
    assert key in str(err.value)
    assert str(path) in str(err.value)


def test_invalid_yaml_names_the_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("schema: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(path)


def test_cli_reports_the_key_and_exits_nonzero(tmp_path):
    path = _write(tmp_path, lambda r: r["simulate"].pop("seed"))
    proc = subprocess.run(
        [sys.executable, "-m", "tabular_mlops", "--params", str(path), "simulate", "--db-url", "sqlite://"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "simulate.seed" in proc.stderr
