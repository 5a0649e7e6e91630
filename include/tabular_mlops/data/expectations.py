"""The Great Expectations suite, generated from the schema config (the JSON lands in include/expectations/)."""

from __future__ import annotations

from typing import Any

from tabular_mlops.core.config import SchemaConfig, ValidateConfig

NUMERIC_DTYPES = ["float64", "Float64Dtype", "int64", "Int64Dtype", "float32", "int32"]
STRING_DTYPES = ["object", "str", "string", "StringDtype"]
INTEGER_DTYPES = ["int64", "Int64Dtype", "int32"]


def suite_name(schema: SchemaConfig) -> str:
    return f"{schema.table}_batch"


def expectation_specs(schema: SchemaConfig, rules: ValidateConfig) -> list[tuple[str, dict[str, Any]]]:
    """(GX expectation class name, kwargs) for every rule the schema and `validate` section imply."""
    specs: list[tuple[str, dict[str, Any]]] = [
        ("ExpectTableColumnsToMatchSet", {"column_set": schema.columns, "exact_match": True}),
        ("ExpectTableRowCountToBeBetween", {"min_value": rules.min_rows, "max_value": rules.max_rows}),
    ]
    for col in schema.columns:
        specs.append(("ExpectColumnToExist", {"column": col}))
    specs += [
        ("ExpectColumnValuesToNotBeNull", {"column": schema.id_column}),
        ("ExpectColumnValuesToBeUnique", {"column": schema.id_column}),
        ("ExpectColumnValuesToNotBeNull", {"column": schema.timestamp_column}),
        ("ExpectColumnValuesToNotBeNull", {"column": schema.target_column}),
        ("ExpectColumnValuesToBeInSet", {"column": schema.target_column, "value_set": [0, 1]}),
    ]
    for f in schema.features:
        mostly = 1.0 - rules.max_null_fraction if f.nullable else 1.0
        specs.append(("ExpectColumnValuesToNotBeNull", {"column": f.name, "mostly": round(mostly, 6)}))
        if f.is_categorical:
            # Integer codes are compared as integers (86 is in [33, 86, 93]), text categories as text.
            types = INTEGER_DTYPES if f.integer_codes else STRING_DTYPES
            specs.append(("ExpectColumnValuesToBeInSet", {"column": f.name, "value_set": list(f.categories)}))
            specs.append(("ExpectColumnValuesToBeInTypeList", {"column": f.name, "type_list": types}))
        else:
            specs.append(
                ("ExpectColumnValuesToBeInTypeList", {"column": f.name, "type_list": NUMERIC_DTYPES})
            )
            if f.min is not None or f.max is not None:
                specs.append(
                    (
                        "ExpectColumnValuesToBeBetween",
                        {"column": f.name, "min_value": f.min, "max_value": f.max},
                    )
                )
    return specs
