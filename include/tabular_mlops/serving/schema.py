"""Request and response models of the service, generated from params.yaml `schema` (never written by hand, so
a new column or range is a config change): one field per feature with its type, range, allowed categories and
nullability; unknown fields, NaN and Infinity are refused."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, create_model

from tabular_mlops.core.config import FeatureSpec, SchemaConfig

# The prediction log stores ids as text of at most 64 characters.
MAX_ID_LENGTH = 64
_STRICT_BODY = ConfigDict(extra="forbid", allow_inf_nan=False, populate_by_name=False)


def _feature_type(spec: FeatureSpec) -> Any:
    """The pydantic type of one feature: strict (no "42" for 42), bounded, categories as a Literal."""
    bounds = Field(ge=spec.min, le=spec.max)
    if spec.is_categorical:
        kind: Any = Literal[spec.categories]
    elif spec.type == "int":
        kind = Annotated[int, Strict(), bounds]
    else:
        # A JSON integer is a valid float; strings are not.
        kind = Annotated[float, Strict(), bounds]
    return kind | None if spec.nullable else kind


def example_row(schema: SchemaConfig) -> dict[str, Any]:
    """A valid request body that reads like a real one: each feature's configured `example`, else the middle of
    its range (or its first category). Shown at /docs and in the `make run` summary's curl line."""
    body: dict[str, Any] = {schema.id_column: "example-1"}
    for spec in schema.features:
        body[spec.name] = _example_value(spec)
    return body


def _example_value(spec: FeatureSpec) -> Any:
    if spec.is_categorical:
        if spec.example is None:
            return spec.categories[0]
        # The config reads a whole-number code as a float; the request must carry the category as listed.
        return next(c for c in spec.categories if c == spec.example)
    if spec.example is not None:
        value = float(spec.example)
    else:
        low = spec.min if spec.min is not None else 0.0
        value = (low + (spec.max if spec.max is not None else low)) / 2
    return round(value) if spec.type == "int" else value


def row_model(schema: SchemaConfig) -> type[BaseModel]:
    """One row of the table: every feature (nullable ones may be left out or null) and an optional id.

    Fields are declared by alias: the feature names come from the config and may clash with pydantic's own
    attribute names (`schema`, `model_*`), the aliases never do.
    """
    fields: dict[str, Any] = {
        "entity_id": (
            Annotated[str, Strict(), Field(min_length=1, max_length=MAX_ID_LENGTH)] | None,
            Field(
                default=None,
                alias=schema.id_column,
                description="echoed back and logged; generated if absent",
            ),
        )
    }
    for i, spec in enumerate(schema.features):
        default: Any = None if spec.nullable else ...
        fields[f"f{i}"] = (_feature_type(spec), Field(default, alias=spec.name))
    config = ConfigDict(**_STRICT_BODY, json_schema_extra={"examples": [example_row(schema)]})
    return create_model("Row", __config__=config, **fields)


def batch_model(row: type[BaseModel], max_batch: int) -> type[BaseModel]:
    """Up to `max_batch` rows scored in one call."""
    items = Annotated[list[row], Field(min_length=1, max_length=max_batch)]  # type: ignore[valid-type]
    return create_model("RowBatch", __config__=_STRICT_BODY, rows=(items, ...))


class Prediction(BaseModel):
    """One answer: the score and decision of the model version that made it, or the fallback decision."""

    prediction_id: str
    entity_id: str = Field(description="the request's id (the schema's id column), or one generated")
    score: float | None = Field(
        description="the model's probability of the positive class; null when the answer is a fallback"
    )
    decision: str
    fallback: bool = Field(description="true when the model failed and the configured safe decision answered")
    model_name: str
    model_version: str


class BatchPrediction(BaseModel):
    predictions: list[Prediction]


class FieldError(BaseModel):
    """One invalid field. The submitted value is never echoed (it may be personal data): only its JSON type and the rule."""

    field: str
    value_type: str
    rule: str


class ValidationErrors(BaseModel):
    detail: list[FieldError]
