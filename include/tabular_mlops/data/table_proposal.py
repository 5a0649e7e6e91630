"""`tabular-mlops init`: profile a source table and propose a starting `schema` section for params.yaml.

The proposal is read from the data, for a person to review: column types (whole-number codes with few, scattered
values proposed as integer categories), ranges widened by a margin, allowed categories, nullable columns, the
target and its positive label, the time column, and the base rate that the gate thresholds should be read
against. Columns that cannot be model inputs (free text, dates, constant or empty columns) are left out, each with
the reason in a comment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from tabular_mlops.core.config import label_key
from tabular_mlops.store.time_columns import to_naive_utc

# Positive labels recognised without --positive-label (compared through label_key, so 1.0 and True count).
KNOWN_POSITIVES = ("1", "yes", "y", "true", "t", "positive", "pos")
TARGET_NAMES = ("target", "label", "y", "class", "outcome")


class ProfileError(ValueError):
    """The table cannot be profiled as asked; the message says which option settles it."""


@dataclass(frozen=True)
class ProfileOptions:
    table: str
    id_column: str | None = None
    time_column: str | None = None
    target: str | None = None
    positive_label: str | None = None
    exclude: tuple[str, ...] = ()
    label_delay_days: int = 0
    # Whole-number columns with at most this many distinct values that are not one contiguous run: categories.
    max_codes: int = 30
    # Text columns with more distinct values than this are left out (free text, ids).
    max_categories: int = 50
    # Ranges are widened by this share of the observed span on each side (never below 0 for a non-negative column),
    # so a plausible unseen value (a 69-year-old when the oldest seen is 64) is not refused.
    margin: float = 0.25
    sample_rows: int = 200_000


@dataclass
class Proposal:
    """The proposed `schema` section (as plain data), the comments to write beside it, and the figures."""

    schema: dict[str, Any]
    feature_notes: dict[str, str] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)
    rows: int = 0
    base_rate: float = 0.0
    first_day: str = ""
    min_daily_rows: int = 0
    # Typical rows per day (the median over the profiled days): monitoring's volume settings follow from it.
    daily_rows: float = 0.0
    # The largest share of missing values among the proposed features.
    max_missing: float = 0.0


def read_table(engine: sa.Engine, options: ProfileOptions) -> pd.DataFrame:
    """Up to `sample_rows` rows of the table (the first ones by the time column when it is named)."""
    try:
        table = sa.Table(options.table, sa.MetaData(), autoload_with=engine)
    except sa.exc.NoSuchTableError as exc:
        raise ProfileError(f"table '{options.table}' does not exist in the source database") from exc
    query = sa.select(table).limit(options.sample_rows)
    if options.time_column and options.time_column in table.c:
        ts = table.c[options.time_column]
        # As the driver returns it: `time_columns` reads every form (SQLAlchemy's own parser refuses offsets).
        raw = sa.type_coerce(ts, sa.types.NullType()).label(ts.name)
        query = sa.select(*(raw if c is ts else c for c in table.c)).limit(options.sample_rows).order_by(ts)
    with engine.connect() as conn:
        df = pd.read_sql(query, conn)
    df.columns = [str(c) for c in df.columns]  # SQLAlchemy's quoted_name is not plain text to YAML
    if df.empty:
        raise ProfileError(f"table '{options.table}' has no rows to profile")
    named = [options.id_column, options.time_column, options.target, *options.exclude]
    unknown = [c for c in named if c and c not in df.columns]
    if unknown:
        raise ProfileError(
            f"column(s) {unknown} are not in table '{options.table}' ({', '.join(df.columns)})"
        )
    return df


# ISO 8601 text as SQLite stores times (a TEXT column): a date, optionally a time and a UTC offset.
ISO_TIME_TEXT = r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:[zZ]|[+-]\d{2}:?\d{2})?$"


def _is_time(s: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(s):
        return True
    present = s.dropna()
    if s.dtype != object or present.empty:
        return False
    if present.map(lambda v: hasattr(v, "year") and hasattr(v, "month")).all():
        return True
    return bool(present.map(lambda v: isinstance(v, str)).all() and present.str.match(ISO_TIME_TEXT).all())


def _whole(s: pd.Series) -> bool:
    """Numbers that are all whole (an integer column read as float because of missing values counts)."""
    if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
        return False
    values = s.dropna().to_numpy(dtype=float)
    return bool(len(values)) and bool(np.all(np.equal(np.mod(values, 1), 0)))


def _pick(df: pd.DataFrame, given: str | None, what: str, option: str, candidates: list[str]) -> str:
    if given:
        return given
    if len(candidates) == 1:
        return candidates[0]
    found = f"candidates {candidates}" if candidates else "no candidate"
    raise ProfileError(f"cannot tell the {what} column ({found}): name it with {option}")


def _id_column(df: pd.DataFrame, given: str | None) -> str:
    unique = [c for c in df.columns if df[c].notna().all() and df[c].is_unique and not _is_time(df[c])]
    named = [c for c in unique if c.lower() == "id" or c.lower().endswith("_id")]
    return _pick(df, given, "id", "--id-column", named or unique[:1])


def _labels(target: pd.Series, given: str | None) -> tuple[Any, list[Any]]:
    """(positive label, negative labels) in the column's own type: whole numbers stay numbers."""
    present = target.dropna()
    keys = {label_key(v): v for v in present.unique()}
    if given is not None:
        if label_key(given) not in keys:
            raise ProfileError(
                f"--positive-label {given!r} does not occur in target column '{target.name}' "
                f"(values: {sorted(keys)[:10]})"
            )
        positive_key = label_key(given)
    else:
        known = [k for k in keys if k.lower() in KNOWN_POSITIVES]
        if len(keys) != 2 or len(known) != 1:
            raise ProfileError(
                f"cannot tell the positive label of target column '{target.name}' (values: {sorted(keys)[:10]}): "
                "name it with --positive-label"
            )
        positive_key = known[0]
    if len(keys) > 10:
        raise ProfileError(
            f"target column '{target.name}' has {len(keys)} distinct values: not a binary target"
        )

    def as_label(key: str) -> Any:
        return int(key) if _whole(present) else key

    negatives = sorted(as_label(k) for k in keys if k != positive_key)
    return as_label(positive_key), negatives


def _bounds(values: pd.Series, margin: float, whole: bool) -> tuple[float, float]:
    low, high = float(values.min()), float(values.max())
    pad = margin * (high - low) or margin * max(abs(low), 1.0)
    lo, hi = low - pad, high + pad
    if low >= 0:
        lo = max(lo, 0.0)
    if whole:
        return math.floor(lo), math.ceil(hi)
    return _nice(lo, math.floor), _nice(hi, math.ceil)


def _nice(x: float, rounding: Any) -> float:
    """Round outward to 3 significant digits (a reviewer reads 2140, not 2139.87312)."""
    if x == 0:
        return 0.0
    scale = 10 ** (math.floor(math.log10(abs(x))) - 2)
    value = rounding(x / scale) * scale
    return float(round(value, 10))


# Names that say a column identifies a row, an entity or a position rather than describing it: the whole name,
# or its last word (`person_id`, `case_nr`), never its first (`num_open_accounts` is a feature).
ID_NAMES = ("id", "nr", "no", "rownum", "rowid", "row", "index", "idx", "key", "uuid")
ID_SUFFIXES = ("id", "nr", "rownum", "rowid", "uuid", "index", "idx")
# Names of a time component (a model trained on past years cannot score a year it never saw).
TIME_NAMES = (
    "year",
    "yr",
    "month",
    "day",
    "week",
    "quarter",
    "date",
    "time",
    "datetime",
    "timestamp",
    "wave",
)
TIME_SUFFIXES = ("year", "yr", "month", "quarter", "date", "datetime", "timestamp")


def _words(name: str) -> list[str]:
    return [w for w in "".join(c if c.isalnum() else " " for c in name.lower()).split() if w]


def _identifier_or_time(s: pd.Series) -> str | None:
    """Why a column is an identifier, a row number or a time component (None: it may be a feature)."""
    name = str(s.name)
    words = _words(name)
    whole_name = "".join(words)
    if name.lower().startswith("unnamed"):
        return "an unnamed index column (a row number written by a data frame export)"
    if whole_name in ID_NAMES or (len(words) > 1 and words[-1] in ID_SUFFIXES):
        return "named like an identifier or row number (not a model input)"
    if whole_name in TIME_NAMES or (len(words) > 1 and words[-1] in TIME_SUFFIXES):
        return "a time component by its name (a model cannot learn a year or date it never saw)"
    values = s.dropna()
    consecutive = _whole(values) and values.is_unique and values.max() - values.min() + 1 == len(values)
    if len(values) == len(s) and len(values) > 20 and consecutive:
        return "consecutive whole numbers, one per row: a row number"
    return None


def _counts(codes: list[int]) -> bool:
    """Whole numbers from 0 or 1 with the first values all present: a count (visits, children), open above."""
    return codes[0] in (0, 1) and codes[: min(4, len(codes))] == list(
        range(codes[0], codes[0] + min(4, len(codes)))
    )


def _feature(s: pd.Series, opts: ProfileOptions) -> tuple[dict[str, Any] | None, str]:
    """(spec, comment) of one candidate feature; spec None = left out, the comment says why."""
    values = s.dropna()
    nullable = bool(s.isna().any())
    missing = f"{s.isna().mean():.1%} missing" if nullable else "no missing values"
    if values.empty:
        return None, "empty in the sample"
    distinct = values.nunique()
    if distinct == 1:
        return None, f"constant ({values.iloc[0]!r})"
    if _is_time(s):
        return None, "a date/time column (not a model input)"
    extra = {"nullable": True} if nullable else {}
    if pd.api.types.is_bool_dtype(values):
        return {"type": "int", "min": 0, "max": 1, **extra}, f"true/false as 1/0, {missing}"
    if _whole(values):
        codes = sorted(int(v) for v in values.unique())
        if codes == [0, 1]:
            return {"type": "int", "min": 0, "max": 1, **extra}, f"a 0/1 flag, {missing}"
        if len(codes) > 2 and _counts(codes):
            spec: dict[str, Any] = {"type": "int", "min": 0, "max": None, **extra}
            return spec, f"a count, observed {codes[0]}..{codes[-1]}, no upper limit, {missing}"
        contiguous = codes[-1] - codes[0] + 1 == len(codes)
        if 2 < len(codes) <= opts.max_codes and not contiguous:
            spec = {"type": "category", "value_type": "integer", "categories": codes, **extra}
            return spec, f"{len(codes)} scattered whole-number codes, {missing}"
        lo, hi = _bounds(values, opts.margin, whole=True)
        return {"type": "int", "min": lo, "max": hi, **extra}, f"observed {codes[0]}..{codes[-1]}, {missing}"
    if pd.api.types.is_numeric_dtype(values):
        lo, hi = _bounds(values, opts.margin, whole=False)
        observed = f"observed {values.min():.6g}..{values.max():.6g}"
        return {"type": "float", "min": lo, "max": hi, **extra}, f"{observed}, {missing}"
    if distinct > opts.max_categories:
        return (
            None,
            f"text with {distinct} distinct values (more than {opts.max_categories}: free text or an id)",
        )
    categories = sorted(str(v) for v in values.unique())
    return {"type": "category", "categories": categories, **extra}, f"{distinct} categories, {missing}"


def propose(df: pd.DataFrame, opts: ProfileOptions) -> Proposal:
    """The starting schema for the profiled rows."""
    id_col = _id_column(df, opts.id_column)
    time_col = _pick(
        df,
        opts.time_column,
        "time",
        "--time-column",
        [c for c in df.columns if _is_time(df[c]) and c != id_col],
    )
    target = _pick(
        df, opts.target, "target", "--target", [c for c in df.columns if c.lower() in TARGET_NAMES]
    )
    roles = {id_col, time_col, target}
    if len(roles) != 3:
        raise ProfileError(f"id, time and target columns must differ (got {id_col}, {time_col}, {target})")
    positive, negatives = _labels(df[target], opts.positive_label)
    features: dict[str, Any] = {}
    proposal = Proposal(schema={})
    for col in df.columns:
        if col in roles:
            continue
        if col in opts.exclude:
            proposal.left_out[col] = "excluded with --exclude"
            continue
        why = _identifier_or_time(df[col])
        if why is not None:
            proposal.left_out[col] = why
            continue
        spec, note = _feature(df[col], opts)
        if spec is None:
            proposal.left_out[col] = note
        else:
            features[col] = spec
            proposal.feature_notes[col] = note
    if not features:
        raise ProfileError(f"no column of '{opts.table}' can be a feature: {proposal.left_out}")
    proposal.schema = {
        "table": opts.table,
        "id_column": id_col,
        "timestamp_column": time_col,
        "target_column": target,
        "positive_label": positive,
        "negative_labels": negatives,
        "label_delay_days": opts.label_delay_days,
        "features": features,
    }
    labelled = df[target].dropna().map(label_key)
    proposal.rows = len(df)
    proposal.base_rate = round(float((labelled == label_key(positive)).mean()), 6)
    days = to_naive_utc(df[time_col], time_col).dt.date  # the rule every window is cut by
    proposal.first_day = min(days).isoformat()
    per_day = days.value_counts()
    proposal.min_daily_rows = int(per_day.min())
    proposal.daily_rows = float(per_day.median())
    proposal.max_missing = max(float(df[c].isna().mean()) for c in features)
    return proposal
