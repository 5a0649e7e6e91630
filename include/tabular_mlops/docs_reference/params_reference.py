"""params.yaml from the pydantic config models: its JSON Schema, and the reference page of every key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from tabular_mlops.core import config as config_models  # the config models: their one import
from tabular_mlops.docs_reference import GENERATED, SCHEMA_FILE

# Fields of Params that are not params.yaml keys (filled in by the loader).
_LOADER_FIELDS = ("source_file", "raw")
_DATE = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}


@dataclass(frozen=True)
class ParamKey:
    """One params.yaml key as the reference lists it."""

    key: str
    type: str
    bounds: str
    default: str
    meaning: str

    def to_dict(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in ("key", "type", "bounds", "default", "meaning")}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> ParamKey:
        return cls(**{k: data[k] for k in ("key", "type", "bounds", "default", "meaning")})


# --------------------------------------------------------------------------- JSON Schema of params.yaml


class _ParamsJsonSchema(GenerateJsonSchema):
    """Describes what params.yaml holds where a before-validator accepts another shape than the model field."""

    def function_before_schema(self, schema: core_schema.BeforeValidatorFunctionSchema) -> JsonSchemaValue:
        name = getattr(schema["function"]["function"], "__name__", "")
        inner = super().function_before_schema(schema)
        if name == "_iso_date":
            return dict(_DATE)
        if name == "_threshold_shorthand":
            shorthand = {
                "type": "number",
                "exclusiveMinimum": 0,
                "exclusiveMaximum": 1,
                "description": "shorthand for {rule: fixed, value: <number>}",
            }
            return {"anyOf": [shorthand, inner]}
        if name == "_named":  # schema.features: a mapping of feature name -> spec (the name is the key)
            return {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": inner.get("items", {}),
                "propertyNames": {"minLength": 1},
            }
        if name == "_schedule":
            return {"anyOf": [{"type": "string", "minLength": 1}, {"type": "null"}]}
        return inner


def params_schema() -> dict[str, Any]:
    """The JSON Schema of params.yaml, from the config models (cross-field rules stay in the loader)."""
    schema = TypeAdapter(config_models.Params).json_schema(schema_generator=_ParamsJsonSchema)
    for field in _LOADER_FIELDS:
        schema["properties"].pop(field, None)
    feature = schema["$defs"]["FeatureSpec"]
    feature["properties"].pop("name", None)
    feature["required"] = [k for k in feature.get("required", []) if k != "name"]
    _tidy(schema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "params.yaml of tabular-mlops",
        "description": "The one source of ML configuration. " + GENERATED.format(source="the config models"),
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
    }


def _tidy(node: Any) -> None:
    """Drop the titles pydantic makes of field names ("Min Roc Auc": an editor shows the description instead)
    and join a docstring's lines into one description."""
    if isinstance(node, dict):
        if isinstance(node.get("title"), str) and "properties" not in node:
            del node["title"]
        if isinstance(node.get("description"), str):
            node["description"] = " ".join(node["description"].split())
        for key, value in node.items():
            if key != "properties":
                _tidy(value)
            else:
                for child in value.values():
                    _tidy(child)
    elif isinstance(node, list):
        for item in node:
            _tidy(item)


# --------------------------------------------------------------------------- params reference


def param_keys(schema: dict[str, Any]) -> list[tuple[str, list[ParamKey], str]]:
    """(section, its keys, the section's description) for every top-level section, in the models' order."""
    defs = schema["$defs"]
    out = []
    for section, node in schema["properties"].items():
        target = _resolve(node, defs)
        keys = list(_walk(section, target, defs))
        out.append((section, keys, target.get("description", "")))
    return out


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = {**defs[node["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _object_of(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any] | None:
    """The object schema a key holds (directly, or as one member of an anyOf), else None."""
    node = _resolve(node, defs)
    if "properties" in node:
        return node
    for member in node.get("anyOf", []):
        found = _object_of(member, defs)
        if found is not None:
            return found
    return None


def _walk(prefix: str, node: dict[str, Any], defs: dict[str, Any]) -> Iterator[ParamKey]:
    required = set(node.get("required", []))
    for name, child in node.get("properties", {}).items():
        key = f"{prefix}.{name}"
        child = _resolve(child, defs)
        yield _row(key, child, name in required, defs)
        inner = _object_of(child, defs)
        if inner is not None:
            yield from _walk(key, inner, defs)
        mapped = child.get("additionalProperties")
        if isinstance(mapped, dict) and _object_of(mapped, defs) is not None:
            yield from _walk(f"{key}.<name>", _resolve(mapped, defs), defs)
        items = _resolve(child.get("items", {}), defs)
        for member in items.get("oneOf", []):
            member = _resolve(member, defs)
            tag = member["properties"]["model"].get("const", "")
            yield from _walk(f"{key}[model={tag}]", member, defs)


def _row(key: str, node: dict[str, Any], required: bool, defs: dict[str, Any]) -> ParamKey:
    if "default" in node:
        default = f"`{json.dumps(node['default'])}`"
    else:
        default = "required" if required else "optional"
    return ParamKey(
        key=key,
        type=_type_text(node, defs),
        bounds=_bounds_text(node, defs),
        default=default,
        meaning=" ".join(node.get("description", "").split()),
    )


def _type_text(node: dict[str, Any], defs: dict[str, Any]) -> str:
    node = _resolve(node, defs)
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return "one of " + ", ".join(f"`{json.dumps(v)}`" for v in node["enum"])
    if "anyOf" in node or "oneOf" in node:
        members = node.get("anyOf") or node["oneOf"]
        texts = [_type_text(m, defs) for m in members if m.get("type") != "null"]
        nullable = any(m.get("type") == "null" for m in members)
        return " or ".join(dict.fromkeys(texts)) + (" or null" if nullable else "")
    kind = node.get("type", "any")
    if kind == "array":
        return f"list of {_type_text(node.get('items', {}), defs)}"
    if kind == "object":
        mapped = node.get("additionalProperties")
        if isinstance(mapped, dict):
            return f"mapping of name to {_type_text(mapped, defs)}"
        return "mapping"
    if node.get("format") == "date":
        return "date (YYYY-MM-DD)"
    return str(kind)


_BOUND_SIGNS = (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<"))


def _bounds_text(node: dict[str, Any], defs: dict[str, Any]) -> str:
    node = _resolve(node, defs)
    parts = [f"{sign} {node[name]:,}" for name, sign in _BOUND_SIGNS if name in node]
    if node.get("minLength"):
        parts.append("not empty")
    if node.get("minItems"):
        parts.append(f"at least {node['minItems']} item(s)")
    if node.get("minProperties"):
        parts.append(f"at least {node['minProperties']} entry")
    for member in node.get("anyOf", []):
        inner = _bounds_text(member, defs)
        if inner and inner not in parts:
            parts.append(inner)
    return ", ".join(parts)


def params_page(schema: dict[str, Any]) -> str:
    """docs/reference/params.md: one table per section, every key with type, bounds, default and meaning."""
    lines = [
        "# params.yaml reference",
        "",
        GENERATED.format(source="the pydantic config models"),
        f"The same models give `{SCHEMA_FILE}` (a JSON Schema) at the repository root, which "
        "`params.yaml` names on its first line, so an editor with a YAML language server validates and "
        "completes the file as you type. The loader checks the cross-field rules too (for example "
        "`preprocess.holdout_days` < `preprocess.window_days`) and names the file, key, rule and value of "
        "every problem.",
        "",
    ]
    for section, keys, description in param_keys(schema):
        lines += [f"## {section}", ""]
        if description:
            lines += [" ".join(description.split()), ""]
        lines += ["| key | type | bounds | default | meaning |", "|---|---|---|---|---|"]
        lines += [
            f"| `{k.key}` | {_cell(k.type)} | {_cell(k.bounds)} | {_cell(k.default)} | {_cell(k.meaning)} |"
            for k in keys
        ]
        lines.append("")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
