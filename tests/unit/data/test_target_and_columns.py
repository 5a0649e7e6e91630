"""Config that fits any table: a yes/no target mapped once at extraction, only the schema's columns extracted,
integer-coded categories kept as integers, and YAML values that flip type on load refused with a fix."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
import pytest
import yaml
from tabular_mlops.core.config import ConfigError, load_params
from tabular_mlops.data import extract
from tabular_mlops.model import target_labels
from tabular_mlops.store import source_db

from tests import second_table
from tests.support.project import REPO

SURVEY_SCHEMA = {
    "table": second_table.TABLE,
    "id_column": second_table.ID,
    "timestamp_column": second_table.TIME,
    "target_column": second_table.TARGET,
    "positive_label": "yes",
    "negative_labels": ["no"],
    "label_delay_days": 0,
    "features": {
        "state_fips": {"type": "category", "value_type": "integer", "categories": list(second_table.STATES)},
        "household_size": {"type": "int", "min": 1, "max": 10},
        "monthly_rent": {"type": "float", "min": 0, "max": 20000, "nullable": True},
        "years_at_address": {"type": "float", "min": 0, "max": 100},
        "tenure": {"type": "category", "categories": list(second_table.TENURE), "nullable": True},
    },
}


def params_with(tmp_path, schema: dict | None = None, text: str | None = None):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["schema"] = schema or SURVEY_SCHEMA
    raw["monitor"]["key_features"], raw["monitor"]["column_tests"] = [], {}
    path = tmp_path / "params.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(raw, sort_keys=False))
    return load_params(path)


@pytest.fixture()
def survey(tmp_path):
    url = f"sqlite:///{tmp_path / 'survey.db'}"
    return second_table.write(url, days=2, rows=200), params_with(tmp_path)


def _window(engine, params, day=second_table.START):
    start = dt.datetime.combine(day, dt.time())
    return source_db.read_window(engine, params.schema, start, start + dt.timedelta(days=1))


def test_a_yes_no_target_is_mapped_to_one_and_zero(survey):
    engine, params = survey
    raw = _window(engine, params)
    out = extract.conform(raw, params.schema)
    assert str(out["moved_out"].dtype) == "Int64"
    assert out["moved_out"].tolist() == (raw["moved_out"] == "yes").astype(int).tolist()
    assert 0.1 < out["moved_out"].mean() < 0.5


def test_the_credit_example_keeps_its_zero_one_target(repo_params):
    assert repo_params.schema.positive_label == 1 and repo_params.schema.negative_labels == (0,)
    values = pd.Series([1, 0, None, 1.0], dtype=object)
    assert target_labels.encode_target(values, repo_params.schema).tolist() == [1, 0, pd.NA, 1]


def test_an_unknown_label_names_the_real_values(survey):
    engine, params = survey
    raw = _window(engine, params)
    raw.loc[:2, "moved_out"] = "maybe"
    raw.loc[3, "moved_out"] = "Y"
    with pytest.raises(target_labels.TargetLabelError) as err:
        extract.conform(raw, params.schema)
    message = str(err.value)
    assert "'maybe' (3 rows)" in message and "'Y' (1 row)" in message
    assert "positive_label 'yes'" in message and "None" not in message


def test_only_the_configured_columns_are_extracted(survey):
    engine, params = survey
    raw = _window(engine, params)
    assert set(raw.columns) == set(params.schema.columns)
    assert not set(second_table.EXTRA) & set(extract.conform(raw, params.schema).columns)


def test_integer_coded_categories_stay_integers(survey):
    engine, params = survey
    spec = params.schema.feature("state_fips")
    assert spec.integer_codes and spec.categories == second_table.STATES
    out = extract.conform(_window(engine, params), params.schema)
    assert str(out["state_fips"].dtype) == "Int64" and out["state_fips"].isin(spec.categories).all()
    assert out["tenure"].dropna().isin(params.schema.feature("tenure").categories).all()


def test_text_categories_from_an_integer_column_are_compared_as_text(survey):
    engine, params = survey
    as_text = dataclasses.replace(params.schema.feature("state_fips"), value_type="string")
    assert as_text.categories == tuple(str(c) for c in second_table.STATES)
    features = tuple(as_text if f.name == "state_fips" else f for f in params.schema.features)
    schema = dataclasses.replace(params.schema, features=features)
    out = extract.conform(_window(engine, params), schema)
    assert out["state_fips"].isin(as_text.categories).all()


def test_integer_codes_refuse_text_values(tmp_path):
    schema = {**SURVEY_SCHEMA, "features": {"state_fips": {"type": "category", "value_type": "integer",
                                                             "categories": ["6", 12]}}}  # fmt: skip
    with pytest.raises(ConfigError, match=r"schema\.features\.state_fips\.categories.*not whole numbers"):
        params_with(tmp_path, schema)


@pytest.mark.parametrize(
    ("lines", "key"),
    [
        ("  positive_label: yes\n  negative_labels: ['no']\n", "schema.positive_label"),
        ("  positive_label: 'yes'\n  negative_labels: [no]\n", "schema.negative_labels.0"),
        ("  id_column: on\n", "schema.id_column"),
    ],
)
def test_yaml_values_that_flip_to_booleans_say_to_quote_them(tmp_path, lines, key):
    text = (REPO / "params.yaml").read_text().replace("  id_column: application_id\n", "")
    (tmp_path / "params.yaml").write_text(text.replace("schema:\n", "schema:\n" + lines, 1))
    with pytest.raises(ConfigError) as err:
        load_params(tmp_path / "params.yaml")
    assert key in str(err.value) and "quote" in str(err.value), str(err.value)


def test_the_positive_label_cannot_also_be_negative(tmp_path):
    with pytest.raises(ConfigError, match="negative_labels: must not hold schema.positive_label 'yes'"):
        params_with(tmp_path, {**SURVEY_SCHEMA, "negative_labels": ["no", "yes"]})
