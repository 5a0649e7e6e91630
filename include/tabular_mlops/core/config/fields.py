"""Field types, the config error and small value rules shared by every section."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
)

FeatureType = Literal["float", "int", "category"]
# How a category column's values are compared: as text, or as whole numbers (integer codes such as state codes).
CategoryValueType = Literal["string", "integer"]
Metric = Literal["roc_auc", "pr_auc", "precision", "recall", "f1", "brier", "brier_skill", "log_loss"]

FEATURE_TYPES: tuple[str, ...] = get_args(FeatureType)
# The names `metrics.classification_metrics` returns; for the ones below a smaller value is better.
METRICS: tuple[str, ...] = get_args(Metric)
LOWER_IS_BETTER = ("brier", "log_loss")
# Drift tests that fit each column type (a KS test on categories or a chi-square on numbers is refused).
TESTS_FOR_TYPE = {"float": ("psi", "ks"), "int": ("psi", "ks"), "category": ("psi", "chi2")}

# A field's meaning is the docstring under it: pydantic makes it the field's description, which the params.yaml
# reference and JSON Schema show (make docs-reference: docs/reference/params.md, params.schema.json).
_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False, use_attribute_docstrings=True)

Word = Annotated[str, Strict()]
Text = Annotated[str, Strict(), Field(min_length=1)]
Count = Annotated[int, Strict(), Field(ge=1)]
Days = Annotated[int, Strict(), Field(ge=0)]
Seed = Annotated[int, Strict(), Field(ge=0, le=2**32 - 1)]
Number = Annotated[float, Strict()]
Positive = Annotated[float, Strict(), Field(gt=0)]
Share = Annotated[float, Strict(), Field(ge=0, le=1)]
OpenFraction = Annotated[float, Strict(), Field(gt=0, lt=1)]
UpToOne = Annotated[float, Strict(), Field(gt=0, le=1)]


class ConfigError(ValueError):
    """A params.yaml problem; the message names the file, the key path, the rule and the value."""


class _Invalid(ValueError):
    """Rule violations found by one validator, each as (key path relative to the validated object, message)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{key}: {msg}" for key, msg in problems))
        self.problems = problems


def _raise_if(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise _Invalid(problems)


def _iso_date(value: Any) -> Any:
    """A date as `YYYY-MM-DD` text; YAML reads an unquoted date as a `date`, which is accepted too."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise ValueError(f"must be an ISO date YYYY-MM-DD (got {value!r})")


IsoDate = Annotated[str, BeforeValidator(_iso_date)]

_FLIPPED = "YAML reads unquoted yes/no/on/off/true/false as booleans and null/~ as nothing; quote them in params.yaml"


def _not_flipped(value: Any) -> Any:
    """Refuse a value YAML turned into a boolean or nothing: the user meant the text (`yes`, `no`, `on`)."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{value!r} is not a label: {_FLIPPED}")
    return value


# A target label: text or a whole number (a boolean column's labels are written as quoted 'true' / 'false').
Label = Annotated[Union[Annotated[int, Strict()], Text], BeforeValidator(_not_flipped)]  # noqa: UP007


def label_key(value: Any) -> str:
    """How a label and a source value are compared: as text, with 1, 1.0 and '1' alike and booleans as
    'true' / 'false' (a boolean column's labels are written quoted in params.yaml)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        return label_key(value.item())
    text = str(value)
    return text.lower() if text.lower() in ("true", "false") else text


# --------------------------------------------------------------------------- schema
