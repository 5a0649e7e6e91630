"""The target as 0/1, mapped once where rows leave the source: schema.positive_label -> 1, negative_labels -> 0."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from tabular_mlops.core.config import SchemaConfig, label_key
from tabular_mlops.core.input_errors import NotRetryableError


class TargetLabelError(NotRetryableError, ValueError):
    """The target holds values that are neither the positive nor a negative label; the message shows them."""


def label_error(unknown: Counter[str], schema: SchemaConfig) -> TargetLabelError:
    """The error for unknown target values, counted (by repr) over every row read, the 10 first by repr shown."""
    found = ", ".join(f"{v} ({n} row{'s' if n > 1 else ''})" for v, n in sorted(unknown.items())[:10])
    return TargetLabelError(
        f"target column '{schema.target_column}' holds {sum(unknown.values())} value(s) that are neither "
        f"schema.positive_label {schema.positive_label!r} nor one of schema.negative_labels "
        f"{list(schema.negative_labels)}: {found}"
    )


def encode_target_counted(values: pd.Series, schema: SchemaConfig) -> tuple[pd.Series, Counter[str]]:
    """The target as 0/1 and the unknown values' counts (by repr); with unknown values the Series is meaningless."""
    codes = schema.target_codes()
    present = values[values.notna()]
    keys = present.map(label_key)
    unknown = present[~keys.isin(list(codes))]
    out = pd.Series(pd.NA, index=values.index, dtype="Int64")
    if len(unknown):
        return out, Counter(unknown.map(repr).value_counts().to_dict())
    out[keys.index] = keys.map(codes).astype("int64")
    return out, Counter()


def encode_target(values: pd.Series, schema: SchemaConfig) -> pd.Series:
    """The target as 0/1 (Int64, missing stays missing): schema.positive_label -> 1, negative_labels -> 0.

    Mapped once, where rows leave the source. Any other value raises TargetLabelError naming the values found
    and how many rows hold each, so a yes/no column is never silently nulled."""
    out, unknown = encode_target_counted(values, schema)
    if unknown:
        raise label_error(unknown, schema)
    return out
