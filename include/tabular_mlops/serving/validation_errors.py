"""422 answers that name every bad field once (field, JSON type of the value, rule) and never echo a value.

FastAPI's default handler returns pydantic's error list with each `input`, i.e. the applicant's data; for credit
data that is a privacy leak into client logs, so the service replaces it with this one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tabular_mlops.serving.schema import FieldError

# A field name comes from the client (an unknown key): cap what is repeated of it.
MAX_FIELD_CHARS = 64

_JSON_TYPES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    type(None): "null",
    dict: "object",
    list: "array",
}


def _json_type(value: Any) -> str:
    return next((name for kind, name in _JSON_TYPES.items() if type(value) is kind), "unknown")


def _bounds(ctx: Mapping[str, Any], kind: str) -> str:
    ops = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    limit = next(iter(ctx.values()), "?")
    return f"must be {ops[kind]} {limit}"


def _rule(err: Mapping[str, Any]) -> str:
    """Plain rule text from the error type and its context; pydantic's `msg` is not used (some embed input)."""
    kind, ctx = err["type"], err.get("ctx") or {}
    rules = {
        "missing": "required",
        "extra_forbidden": "unknown field",
        "int_type": "must be a whole number (JSON integer)",
        "float_type": "must be a number",
        "finite_number": "must be a finite number (NaN and Infinity are refused)",
        "string_type": "must be text",
        "literal_error": f"must be one of {ctx.get('expected', 'the allowed values')}",
        "string_too_short": f"must have at least {ctx.get('min_length')} character(s)",
        "string_too_long": f"must have at most {ctx.get('max_length')} characters",
        "too_short": f"must hold at least {ctx.get('min_length')} item(s)",
        "too_long": f"must hold at most {ctx.get('max_length')} item(s)",
        "list_type": "must be a list",
        "model_attributes_type": "must be a JSON object",
        "dict_type": "must be a JSON object",
        "json_invalid": "the body is not valid JSON",
        "json_type": "the body must be JSON",
    }
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return _bounds(ctx, kind)
    return rules.get(kind, f"invalid ({kind})")


UNKNOWN_FIELD = "(unknown field)"


def _field(loc: Sequence[Any], kind: str = "") -> str:
    """`income`, `rows[3].age`; the body itself is `(body)`. An unknown key is the client's text: it is
    never repeated (`rows[3].(unknown field)`), nor is a parse error's character position."""
    parts = list(loc[1:] if loc and loc[0] == "body" else loc)
    if kind == "extra_forbidden" and parts:
        parts[-1] = UNKNOWN_FIELD
    elif kind in ("json_invalid", "json_type"):
        parts = []
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return (text or "(body)")[:MAX_FIELD_CHARS]


def field_errors(errors: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    """One entry per bad field (the first rule it broke), in request order."""
    seen: dict[str, FieldError] = {}
    for err in errors:
        name = _field(err.get("loc", ()), err["type"])
        if name in seen:
            continue
        value_type = "missing" if err["type"] == "missing" else _json_type(err.get("input"))
        if err["type"] in ("json_invalid", "json_type"):
            value_type = "body"
        seen[name] = FieldError(field=name, value_type=value_type, rule=_rule(err))
    return list(seen.values())
