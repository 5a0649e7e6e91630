"""The request model comes from params.yaml `schema`: types, ranges, categories, nullability, unknown fields,
NaN/Inf; each bad field is one error entry without its value."""

import dataclasses
import json

import pytest
from pydantic import ValidationError
from tabular_mlops.serving.schema import batch_model, example_row, row_model
from tabular_mlops.serving.validation_errors import field_errors

from tests.support.scoring_service import example


def errors_of(model, body: str) -> dict[str, tuple[str, str]]:
    with pytest.raises(ValidationError) as err:
        model.model_validate_json(body)
    return {e.field: (e.value_type, e.rule) for e in field_errors(err.value.errors())}


def test_a_valid_application_passes_and_nullable_fields_may_be_left_out(repo_params, applications):
    model = row_model(repo_params.schema)
    body = example(applications, repo_params.schema)
    assert model.model_validate(body).model_dump(by_alias=True)["age"] == body["age"]
    nullable = [f.name for f in repo_params.schema.features if f.nullable]
    without = {k: v for k, v in body.items() if k not in nullable}
    dumped = model.model_validate(without).model_dump(by_alias=True)
    assert all(dumped[n] is None for n in nullable) and nullable


@pytest.mark.parametrize(
    ("field", "value", "value_type", "rule"),
    [
        ("age", 17, "integer", ">= 18"),
        ("age", 30.5, "number", "whole number"),
        ("age", "30", "string", "whole number"),
        ("age", True, "boolean", "whole number"),
        ("age", None, "null", "whole number"),
        ("income", "50000", "string", "must be a number"),
        ("income", -1, "integer", ">= 0"),
        ("loan_amount", 10**9, "integer", "<= 100000"),
        ("region", "atlantis", "string", "'north', 'south', 'east', 'west' or 'central'"),
        ("home_ownership", 1, "integer", "'RENT'"),
        ("shoe_size", 44, "integer", "unknown field"),
    ],
)
def test_each_rule_is_one_entry_naming_field_type_and_rule(
    repo_params, applications, field, value, value_type, rule
):
    model = row_model(repo_params.schema)
    body = {**example(applications, repo_params.schema), field: value}
    errors = errors_of(model, json.dumps(body))
    named = "(unknown field)" if rule == "unknown field" else field  # an unknown key is never repeated
    assert list(errors) == [named]
    assert errors[named][0] == value_type and rule in errors[named][1]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(repo_params, applications, literal):
    body = json.dumps({**example(applications, repo_params.schema), "income": "@"}).replace('"@"', literal)
    errors = errors_of(row_model(repo_params.schema), body)
    assert errors["income"] == ("number", "must be a finite number (NaN and Infinity are refused)")


def test_missing_required_fields_are_named_once_each(repo_params):
    errors = errors_of(row_model(repo_params.schema), "{}")
    required = [f.name for f in repo_params.schema.features if not f.nullable]
    assert sorted(errors) == sorted(required)
    assert all(v == ("missing", "required") for v in errors.values())


def test_the_model_follows_the_config(repo_params, applications):
    """A narrower range in params.yaml is a narrower API: no code change."""
    schema = repo_params.schema
    features = tuple(dataclasses.replace(f, max=40) if f.name == "age" else f for f in schema.features)
    narrow = row_model(dataclasses.replace(schema, features=features))
    body = {**example(applications, schema), "age": 41}
    assert errors_of(narrow, json.dumps(body))["age"][1] == "must be <= 40"
    assert narrow.model_json_schema()["properties"]["age"]["maximum"] == 40


def test_batches_are_bounded_and_errors_point_at_the_item(repo_params, applications):
    schema = repo_params.schema
    batch = batch_model(row_model(schema), 2)
    good = example(applications, schema)
    errors = errors_of(batch, json.dumps({"rows": [good, {**good, "age": 5}]}))
    assert errors == {"rows[1].age": ("integer", "must be >= 18")}
    too_many = errors_of(batch, json.dumps({"rows": [good] * 3}))
    assert too_many == {"rows": ("array", "must hold at most 2 item(s)")}


def test_the_documented_example_is_a_valid_application(repo_params):
    """/docs and the `make run` curl line show it: it must pass the model it documents."""
    model = row_model(repo_params.schema)
    example = model.model_json_schema()["examples"][0]
    assert model.model_validate(example).model_dump(by_alias=True) == example


def test_the_documented_example_reads_like_a_real_application(repo_params):
    """The curl line shows the simulator's typical applicant (params.yaml `example`), not the middle of a
    bound such as income 1,000,000 or debt-to-income 1.5."""
    example = row_model(repo_params.schema).model_json_schema()["examples"][0]
    assert example["income"] == 44_000 and example["debt_to_income"] == 0.32
    assert example["age"] == 35 and isinstance(example["age"], int)
    assert example["region"] == "north"  # no example configured: the first category


def test_without_an_example_a_feature_shows_the_middle_of_its_range(repo_params):
    schema = repo_params.schema
    age = dataclasses.replace(schema.feature("age"), example=None)
    features = tuple(age if f.name == "age" else f for f in schema.features)
    body = example_row(dataclasses.replace(schema, features=features))
    assert body["age"] == 59 and isinstance(body["age"], int)
