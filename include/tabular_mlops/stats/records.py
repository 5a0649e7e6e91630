"""JSON round trip for the frozen result dataclasses of this package, with the standard library only.

`to_dict()` gives plain JSON (tuples as lists, enums as values, nested records as dicts) and refuses a NaN or an
infinity, naming the field: a verdict carries None and a reason instead. `from_dict()` rebuilds the record from
its type hints (nested records, tuples, enums), so `Record.from_dict(r.to_dict()) == r`.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, Self


def _plain(value: Any, where: str) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(getattr(value, f.name), f"{where}.{f.name}") for f in dataclasses.fields(value)
        }
    if isinstance(value, tuple | list):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} is {value}: a record holds None and a reason, never NaN or infinity")
    return value


def _typed(kind: Any, value: Any, where: str) -> Any:
    """`value` read from JSON as `kind` (a record, tuple[X, ...], dict[str, X], an enum, X | None or a scalar)."""
    if value is None:
        return None
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        return _typed(options[0], value, where) if len(options) == 1 else value
    if origin is tuple:
        inner = typing.get_args(kind)[0]
        return tuple(_typed(inner, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        inner = typing.get_args(kind)[1]
        return {k: _typed(inner, v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(kind, type) and issubclass(kind, JsonRecord):
        return kind.from_dict(value)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(value)
    if kind is float and isinstance(value, int):
        return float(value)
    return value


class JsonRecord:
    """Mixin for a frozen dataclass whose fields are scalars, enums, tuples, dicts or other records."""

    def to_dict(self) -> dict[str, Any]:
        return typing.cast(dict[str, Any], _plain(self, type(self).__name__))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        hints = typing.get_type_hints(cls)
        fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - fields)
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown keys {unknown}")
        values = {k: _typed(hints[k], v, f"{cls.__name__}.{k}") for k, v in data.items()}
        return cls(**values)


def refuse_out_of_range(record: object, owner: str, checks: Mapping[str, bool]) -> None:
    """Raise one error naming every field whose check failed or whose value is not finite."""
    bad = [k for k, ok in checks.items() if not ok or not math.isfinite(getattr(record, k))]
    if bad:
        raise ValueError(f"{owner}: out of range: {', '.join(f'{k}={getattr(record, k)}' for k in bad)}")
