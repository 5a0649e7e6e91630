"""YAML with unique keys, and pydantic's errors as `<key.path>: <rule> (got <value>)` lines."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, NotRequired, get_args, get_origin, get_type_hints

import yaml
from pydantic import (
    ValidationError,
)
from typing_extensions import is_typeddict

from tabular_mlops.core.config.fields import (
    _FLIPPED,
    _Invalid,
)
from tabular_mlops.core.config.model_sections import (
    ESTIMATORS,
    _estimator,
)
from tabular_mlops.core.config.params import _MOVED, _UNIONS, Params

# --------------------------------------------------------------------------- YAML and error messages


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping (PyYAML would keep the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        self.flatten_mapping(node)
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"key {key!r} appears twice",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _problems(exc: ValidationError, raw: dict[str, Any]) -> list[tuple[str, str]]:
    """(dotted key path, message) for every error pydantic found, in file order."""
    errors = exc.errors()
    out: list[tuple[str, str]] = []
    for err in errors:
        loc, error = tuple(err["loc"]), err.get("ctx", {}).get("error")
        if err["type"] == "too_short" and any(e["loc"][: len(loc)] == loc and e is not err for e in errors):
            continue  # the items' own errors say more than "too few valid items"
        if isinstance(error, _Invalid):
            out += [(_key(loc + tuple(k.split(".")), raw), msg) for k, msg in error.problems]
        else:
            loc, msg = _describe(err, loc)
            out.append((_key(loc, raw), msg))
    return out


# Plain-language rule per pydantic error type; {got} is the value read.
_RULES = {
    "missing": "missing (required)",
    "missing_argument": "missing (required)",
    "int_type": "must be a whole number{got}",
    "int_from_float": "must be a whole number{got}",
    "float_type": "must be a number{got}",
    "finite_number": "must be a finite number{got}",
    "bool_type": "must be true or false{got}",
    "string_type": "must be text{got}",
    "string_too_short": "must not be empty",
    "tuple_type": "must be a list{got}",
    "dict_type": "must be a mapping{got}",
    "dataclass_type": "must be a mapping{got}",
    "dataclass_args_type": "must be a mapping{got}",
    "model_attributes_type": "must be a mapping{got}",
}


def _describe(err: Any, loc: tuple) -> tuple[tuple, str]:
    """(key path, message) of one pydantic error that is not one of our own rule violations."""
    kind, ctx, value = err["type"], err.get("ctx", {}), err.get("input")
    got = "" if isinstance(value, dict | list | tuple) else f" (got {value!r})"
    if isinstance(value, bool) and kind in ("string_type", "literal_error"):
        return loc, f"must be text (got {value!r}): {_FLIPPED}"
    if kind in _RULES:
        return loc, _RULES[kind].format(got=got)
    if kind == "value_error":
        return loc, str(ctx["error"])
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        return loc, _MOVED.get(loc) or f"unknown key (allowed: {', '.join(_keys_at(loc[:-1]))})"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return loc, f"must be {_range_at(loc)}{got}"
    if kind == "too_short":
        return loc, f"must list at least {ctx['min_length']} item(s)"
    if kind == "literal_error":
        return loc, f"must be one of {ctx['expected']}{got}"
    if kind == "union_tag_invalid":
        return loc + ("model",), f"must be one of {ctx['expected_tags']} (got {ctx['tag']!r})"
    if kind == "union_tag_not_found":
        return loc + ("model",), f"missing: name the estimator, one of {', '.join(ESTIMATORS)}"
    return loc, f"{err['msg']}{got}"


def _key(loc: tuple, raw: dict[str, Any]) -> str:
    """Dotted key path as written in params.yaml: feature index -> its name, no union tags."""
    parts = list(loc)
    if parts[:2] == ["schema", "features"] and len(parts) > 2 and isinstance(parts[2], int):
        names = list((raw.get("schema") or {}).get("features") or {})
        parts[2] = names[parts[2]] if parts[2] < len(names) else parts[2]
    if parts[:2] == ["train", "search_space"] and len(parts) > 3 and parts[3] in ESTIMATORS:
        del parts[3]
    return ".".join(str(p) for p in parts if p != "")


def _type_at(loc: tuple) -> tuple[Any, list[Any]]:
    """The declared type at a key path and its constraint metadata (Field(...) / annotated_types)."""
    tp: Any = Params
    for part in loc:
        tp, _ = _unwrap(tp)
        if dataclasses.is_dataclass(tp) or is_typeddict(tp):
            tp = get_type_hints(tp, include_extras=True).get(part)
        elif get_origin(tp) is tuple:
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        elif get_origin(tp) in _UNIONS:  # a tagged search_space candidate: pick the member by its tag
            tp = next((m for m in get_args(tp) if _estimator(m) == part), None)
        else:
            tp = None
        if tp is None:
            return None, []
    return _unwrap(tp)


def _unwrap(tp: Any) -> tuple[Any, list[Any]]:
    """Strip Annotated and Optional, collecting constraint metadata on the way."""
    meta: list[Any] = []
    while True:
        if get_origin(tp) is Annotated:
            meta += [m for item in tp.__metadata__ for m in getattr(item, "metadata", [item])]
            tp = tp.__origin__
        elif get_origin(tp) in _UNIONS and type(None) in get_args(tp):
            tp = next(a for a in get_args(tp) if a is not type(None))
        elif get_origin(tp) is NotRequired:
            tp = get_args(tp)[0]
        else:
            return tp, meta


def _keys_at(loc: tuple) -> list[str]:
    tp, _ = _type_at(loc)
    if dataclasses.is_dataclass(tp):
        hidden = {"name", "source_file", "raw"}
        return [f.name for f in dataclasses.fields(tp) if f.name not in hidden]
    if is_typeddict(tp):
        return list(get_type_hints(tp))
    return []


def _range_at(loc: tuple) -> str:
    _, meta = _type_at(loc)
    bounds = {name: getattr(m, name) for m in meta for name in ("gt", "ge", "lt", "le") if hasattr(m, name)}
    low = f"{'(' if 'gt' in bounds else '['}{bounds.get('gt', bounds.get('ge'))}"
    high = f"{bounds.get('lt', bounds.get('le'))}{')' if 'lt' in bounds else ']'}"
    if ("gt" in bounds or "ge" in bounds) and ("lt" in bounds or "le" in bounds):
        return f"in {low}, {high}"
    for name, op in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
        if name in bounds:
            return f"{op} {bounds[name]}"
    return "in range"
