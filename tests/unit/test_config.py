import dataclasses
import subprocess
import sys

import pydantic
import pytest
import yaml
from tabular_mlops.core.config import ESTIMATORS, METRICS, ConfigError, load_params

from tests.support.project import REPO


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
        (lambda r: r["ingest"].__setitem__("chunk_rows", 0), "ingest.chunk_rows"),
        (lambda r: r["ingest"].__setitem__("chunk_rows", 2_000_000), "ingest.chunk_rows"),
        (lambda r: r["schema"]["features"]["age"].__setitem__("example", 12), "schema.features.age.example"),
        (
            lambda r: r["schema"]["features"]["age"].__setitem__("example", 35.5),
            "schema.features.age.example",
        ),
        (
            lambda r: r["schema"]["features"]["region"].__setitem__("example", "mars"),
            "schema.features.region.example",
        ),
    ],
)
def test_malformed_params_name_the_key(tmp_path, mutate, key):
    path = _write(tmp_path, mutate)
    with pytest.raises(ConfigError) as err:
        load_params(path)
    assert key in str(err.value)
    assert str(path) in str(err.value)


def test_search_space_candidates_are_plain_dicts_naming_their_estimator(repo_params):
    space = repo_params.train.search_space
    assert isinstance(space, tuple) and all(type(c) is dict for c in space)
    assert {c["model"] for c in space} == set(ESTIMATORS)
    assert space[0] == {
        "model": "hist_gradient_boosting",
        "learning_rate": 0.05,
        "max_depth": 3,
        "max_iter": 200,
        "l2_regularization": 0.0,
    }
    assert {"model": "logistic_regression", "C": 1.0} in space
    assert {"model": "random_forest", "n_estimators": 200, "max_depth": 8, "min_samples_leaf": 20} in space
    assert not hasattr(repo_params.train, "model")


def test_metric_names_are_the_ones_the_project_computes():
    import numpy as np
    from tabular_mlops.model.classification_metrics import classification_metrics

    computed = classification_metrics(np.array([0, 1, 0, 1]), np.array([0.2, 0.7, 0.4, 0.9]), 0.5)
    assert set(METRICS) == set(computed)


def test_sections_keep_their_types(repo_params):
    schema, mon = repo_params.schema, repo_params.monitor
    assert schema.feature("region").categories == ("north", "south", "east", "west", "central")
    assert schema.feature("region").is_categorical and not schema.feature("age").is_categorical
    assert schema.columns[:2] == ["application_id", "applied_at"] and schema.columns[-1] == "defaulted"
    assert isinstance(mon.key_features, tuple) and isinstance(mon.default_test, dict)
    assert repo_params.simulate.history_start == "2026-01-01" and repo_params.simulate.scenario_start is None
    assert repo_params.source_file == str(REPO / "params.yaml") and repo_params.raw["train"]["seed"] == 42


def test_sections_are_frozen(repo_params):
    with pytest.raises(dataclasses.FrozenInstanceError):
        repo_params.monitor.psi_bins = 0


def test_replace_validates_the_new_value(repo_params):
    assert dataclasses.replace(repo_params.monitor, cooldown_days=3).cooldown_days == 3
    with pytest.raises(pydantic.ValidationError, match="psi_bins"):
        dataclasses.replace(repo_params.monitor, psi_bins=0)
    unknown = dataclasses.replace(repo_params.monitor, key_features=("nope",))
    with pytest.raises(pydantic.ValidationError, match="nope"):
        dataclasses.replace(repo_params, monitor=unknown)


def test_every_error_is_listed_not_only_the_first(tmp_path):
    def mutate(raw):
        raw["monitor"]["psi_bins"] = 0
        raw["preprocess"]["validation_fraction"] = 1.5
        raw["schema"]["features"]["age"]["type"] = "integer"
        raw["train"]["search_space"][2]["C"] = -1

    path = _write(tmp_path, mutate)
    with pytest.raises(ConfigError) as err:
        load_params(path)
    lines = str(err.value).splitlines()
    assert len(lines) == 4, lines
    assert all(line.startswith(f"{path}: ") for line in lines)
    for key in (
        "monitor.psi_bins",
        "preprocess.validation_fraction",
        "schema.features.age.type",
        "train.search_space.2.C",
    ):
        assert any(f": {key}: " in line for line in lines), key


def _replace_line(tmp_path, old, new):
    text = (REPO / "params.yaml").read_text()
    assert old in text
    path = tmp_path / "params.yaml"
    path.write_text(text.replace(old, new))
    return path


def test_unquoted_yaml_boolean_in_categories_says_to_quote_it(tmp_path):
    path = _replace_line(
        tmp_path, "categories: [RENT, OWN, MORTGAGE, OTHER]", "categories: [RENT, OWN, yes, no]"
    )
    with pytest.raises(ConfigError, match=r"schema.features.home_ownership.categories: .*quote them"):
        load_params(path)


def test_numeric_category_names_are_kept_as_text(tmp_path):
    path = _replace_line(tmp_path, "categories: [north, south, east, west, central]", "categories: [1, 2, 3]")
    assert load_params(path).schema.feature("region").categories == ("1", "2", "3")


def test_unquoted_date_is_read_as_iso_text(tmp_path):
    path = _replace_line(tmp_path, 'history_start: "2026-01-01"', "history_start: 2026-01-01")
    assert load_params(path).simulate.history_start == "2026-01-01"


def test_a_key_written_twice_is_refused(tmp_path):
    path = _replace_line(tmp_path, "  psi_bins: 10\n", "  psi_bins: 10\n  psi_bins: 0\n")
    with pytest.raises(ConfigError, match="'psi_bins' appears twice"):
        load_params(path)


def test_unknown_section_lists_the_sections(tmp_path):
    path = _write(tmp_path, lambda r: r.__setitem__("monitr", {}))
    with pytest.raises(ConfigError, match=r"unknown section\(s\) \['monitr'\] \(allowed: schema, simulate"):
        load_params(path)


def test_section_that_is_not_a_mapping(tmp_path):
    path = _write(tmp_path, lambda r: r.__setitem__("monitor", 5))
    with pytest.raises(ConfigError, match="monitor: must be a mapping"):
        load_params(path)


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
