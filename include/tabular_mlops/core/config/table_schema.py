"""The `schema` section: the table's columns, target, labels and time column."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    Field,
    Strict,
    StrictBool,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass

from tabular_mlops.core.config.fields import (
    _FLIPPED,
    _STRICT,
    CategoryValueType,
    Days,
    FeatureType,
    Label,
    Number,
    Text,
    _Invalid,
    _raise_if,
    label_key,
)


@dataclass(frozen=True, config=_STRICT)
class FeatureSpec:
    """One model input column; in params.yaml its name is the key under `schema.features`."""

    name: Text
    type: FeatureType
    """`float`, `int` or `category`."""
    min: Number | None = None
    """Smallest allowed value (numeric features; null: no bound)."""
    max: Number | None = None
    """Largest allowed value (numeric features; null: no bound)."""
    nullable: StrictBool = False
    """Whether the column may be missing; a missing value in a non-nullable column fails validation."""
    value_type: CategoryValueType = "string"
    """Category features only: `integer` compares the values as whole numbers (codes such as 86, 93,
    33), `string` as text."""
    categories: tuple[Text | Annotated[int, Strict()], ...] = ()
    """Category features only: the allowed values; any other value fails validation."""
    example: Text | Number | None = None
    """A typical value, shown in the /docs request example and the `make run` curl line (left out: the middle
    of [min, max], or the first category); a value within the bounds, or one of the categories."""

    @property
    def is_categorical(self) -> bool:
        return self.type == "category"

    @property
    def integer_codes(self) -> bool:
        """A category whose values are whole numbers (compared as integers, stored as Int64)."""
        return self.is_categorical and self.value_type == "integer"

    @field_validator("categories", mode="before")
    @classmethod
    def _categories_of_value_type(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, list | tuple):
            return value
        flipped = [v for v in value if isinstance(v, bool) or v is None]
        if flipped:
            raise ValueError(f"{flipped} are not category names: {_FLIPPED}")
        if info.data.get("value_type") == "integer":
            text = [v for v in value if not isinstance(v, int)]
            if text:
                raise ValueError(f"{text} are not whole numbers, and value_type is integer")
            return tuple(value)
        return tuple(str(v) if isinstance(v, int) else v for v in value)

    @model_validator(mode="after")
    def _consistent(self) -> FeatureSpec:
        problems: list[tuple[str, str]] = []
        if self.is_categorical:
            if not self.categories:
                problems.append(("categories", "a category feature must list its allowed values"))
            duplicated = sorted({c for c in self.categories if self.categories.count(c) > 1})
            if duplicated:
                problems.append(("categories", f"lists {duplicated} more than once"))
            problems += [
                (b, "only numeric features have bounds")
                for b in ("min", "max")
                if getattr(self, b) is not None
            ]
        else:
            if self.value_type != "string":
                problems.append(
                    ("value_type", f"only category features have a value_type (type is {self.type})")
                )
            if self.categories:
                problems.append(
                    ("categories", f"only category features list categories (type is {self.type})")
                )
            if self.min is not None and self.max is not None and self.min > self.max:
                problems.append(("min", f"must be <= max {self.max:g} (got {self.min:g})"))
        if not problems:  # an example is judged against bounds that are themselves valid
            problems += self._example_problems()
        _raise_if(problems)
        return self

    def _example_problems(self) -> list[tuple[str, str]]:
        """The example must be a request the service accepts: one of the categories, or a number in bounds."""
        value = self.example
        if value is None:
            return []
        if self.is_categorical:
            return (
                [] if value in self.categories else [("example", f"{value!r} is not one of the categories")]
            )
        if isinstance(value, str) or (self.type == "int" and not float(value).is_integer()):
            return [("example", f"{value!r} is not a {self.type}")]
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            return [("example", f"{value:g} is outside [{self.min}, {self.max}]")]
        return []


@dataclass(frozen=True, config=_STRICT)
class SchemaConfig:
    table: Text
    """The source table in the `source_db` connection."""
    id_column: Text
    """Unique id of a row (the example: an application); kept in the prediction log."""
    timestamp_column: Text
    """When a row happened; extraction reads one day of it per night."""
    target_column: Text
    """The label column; its raw values are mapped to 1 and 0 by `positive_label` and `negative_labels`."""
    label_delay_days: Days
    """Days after a row until its label is known (0: at once); a night ingests the day whose labels
    have matured."""
    features: Annotated[tuple[FeatureSpec, ...], Field(min_length=1)]
    """The model's inputs: feature name -> its type, bounds, nullability and categories."""
    positive_label: Label = 1
    """The target value mapped to 1; text or a whole number (quote yes/no/true/false)."""
    negative_labels: Annotated[tuple[Label, ...], Field(min_length=1)] = (0,)
    """The target values mapped to 0; any other value stops the batch, naming the values found."""

    @field_validator("features", mode="before")
    @classmethod
    def _named(cls, value: Any) -> Any:
        """params.yaml maps name -> spec; a tuple of FeatureSpec (e.g. from `dataclasses.replace`) passes."""
        if isinstance(value, list):
            raise ValueError("must be a mapping of feature name -> {type, ...}, not a list")
        if not isinstance(value, Mapping):
            return value
        specs = []
        for name, spec in value.items():
            if not isinstance(name, str):
                raise ValueError(f"feature name {name!r} is not text: quote it in params.yaml")
            if isinstance(spec, Mapping) and "name" in spec:
                raise _Invalid([(f"{name}.name", "remove it: the key under schema.features is the name")])
            specs.append({**spec, "name": name} if isinstance(spec, Mapping) else spec)
        return specs

    @model_validator(mode="after")
    def _distinct_columns(self) -> SchemaConfig:
        problems: list[tuple[str, str]] = []
        roles = {"id_column": self.id_column, "timestamp_column": self.timestamp_column}
        seen: dict[str, str] = {}
        for key, column in {**roles, "target_column": self.target_column}.items():
            if column in seen:
                problems.append(
                    (key, f"'{column}' is already schema.{seen[column]}; the three columns must differ")
                )
            seen.setdefault(column, key)
            if column in self.feature_names:
                problems.append((key, f"'{column}' is also in schema.features; it cannot be a model input"))
        duplicated = sorted({n for n in self.feature_names if self.feature_names.count(n) > 1})
        if duplicated:
            problems.append(("features", f"names {duplicated} more than once"))
        negatives = [label_key(v) for v in self.negative_labels]
        if label_key(self.positive_label) in negatives:
            problems.append(
                ("negative_labels", f"must not hold schema.positive_label {self.positive_label!r}")
            )
        if len(set(negatives)) != len(negatives):
            problems.append(
                ("negative_labels", f"lists a label more than once (got {list(self.negative_labels)})")
            )
        _raise_if(problems)
        return self

    def target_codes(self) -> dict[str, int]:
        """label_key(raw target value) -> 1 (positive) or 0 (negative)."""
        return {label_key(self.positive_label): 1, **{label_key(v): 0 for v in self.negative_labels}}

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def numeric_features(self) -> list[str]:
        return [f.name for f in self.features if not f.is_categorical]

    @property
    def categorical_features(self) -> list[str]:
        return [f.name for f in self.features if f.is_categorical]

    @property
    def columns(self) -> list[str]:
        return [self.id_column, self.timestamp_column, *self.feature_names, self.target_column]

    def feature(self, name: str) -> FeatureSpec:
        return next(f for f in self.features if f.name == name)


# --------------------------------------------------------------------------- data
