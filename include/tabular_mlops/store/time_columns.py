"""How a time column is read, whatever the database stores: one rule, used wherever a source's time is read or
compared (extraction, batch scoring, label joins).

The rule: every time becomes a naive datetime in UTC before any window is cut.
- ISO 8601 text (SQLite stores times as text): without an offset it is UTC; with one (`+05:00`, `Z`) it is
  converted to UTC.
- Integers or floats: seconds since the Unix epoch (UTC).
- Naive timestamps (SQL `timestamp`, Python datetimes): UTC; offset-aware ones (`timestamptz`) are converted.
Anything else in the column (text that is not ISO 8601, booleans) is a `TimeColumnError` naming the column and how
many rows hold such values: no row is silently dropped or moved to another day.

A window [start, end) is cut twice: in SQL, a range that may hold a few rows too many (so the database's index on
the column still does the work, whatever the storage), then exactly in Python on the normalised values. On SQLite
the SQL range also compares the normalised time (SQLite's `datetime()`), so rows of the neighbouring days are not
read; a text time whose local day differs from its UTC day is found by a range padded by MAX_OFFSET.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from tabular_mlops.core.input_errors import NotRetryableError

# The widest UTC offset in use (UTC+14, Kiribati; the westernmost is UTC-12): text times are looked for that far
# beyond the window, in local time.
MAX_OFFSET = dt.timedelta(hours=14)
_EPOCH = dt.datetime(1970, 1, 1)
_OFFSET_AT_END = r"(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"


class TimeColumnError(NotRetryableError, ValueError):
    """A time column holds values that are not times; the message names the column and counts them."""


def _unparseable(column: str, count: int, where: str) -> TimeColumnError:
    return TimeColumnError(
        f"time column '{column}' holds {count} value(s) that are neither ISO 8601 times (e.g. "
        f"2026-01-06T23:30:00+05:00; no offset means UTC) nor epoch seconds{where}: fix them in the source"
    )


def _epoch(numbers: pd.Series) -> pd.Series:
    return pd.to_datetime(numbers.astype("float64"), unit="s", errors="coerce")


def to_naive_utc(values: pd.Series, column: str) -> pd.Series:
    """`values` as naive UTC datetimes (datetime64[ns]), read by the module's rule; missing stays NaT.

    Raises TimeColumnError (not retryable) naming `column` when any present value is not a time."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]")
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return values.astype("datetime64[ns]")
    if pd.api.types.is_bool_dtype(values.dtype):
        raise _unparseable(column, int(values.notna().sum()), " (booleans)")
    if pd.api.types.is_numeric_dtype(values.dtype):
        return _epoch(values)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    present = values[values.notna()]
    if present.empty:
        return out
    kinds = present.map(type)
    numbers = kinds.map(lambda k: issubclass(k, (int, float, np.number)) and not issubclass(k, bool))
    times = kinds.map(lambda k: issubclass(k, dt.datetime))  # pandas Timestamps are datetimes
    texts = kinds.map(lambda k: issubclass(k, str))
    if numbers.any():
        out[present.index[numbers]] = _epoch(present[numbers].astype("float64"))
    if times.any():
        out[present.index[times]] = pd.to_datetime(list(present[times]), utc=True).tz_localize(None)
    bad = int((~(numbers | times | texts)).sum())
    if texts.any():
        text = present[texts].str.strip()
        # Parsed apart: in one call pandas gives the naive ones the offset of the others.
        offset = text.str.contains(_OFFSET_AT_END, regex=True)
        for part, aware in ((text[offset], True), (text[~offset], False)):
            if part.empty:
                continue
            parsed = pd.to_datetime(part, utc=aware, format="ISO8601", errors="coerce")
            bad += int(parsed.isna().sum())
            out[part.index] = parsed.dt.tz_localize(None) if aware else parsed
    if bad:
        raise _unparseable(column, bad, "")
    return out


def in_window(times: pd.Series, start: dt.datetime, end: dt.datetime) -> pd.Series:
    """Which normalised times (from `to_naive_utc`) lie in [start, end) (naive UTC bounds)."""
    return (times >= pd.Timestamp(start)) & (times < pd.Timestamp(end))


def window_clause(
    engine: sa.Engine, column: sa.ColumnElement[Any], start: dt.datetime, end: dt.datetime
) -> sa.ColumnElement[bool]:
    """A SQL condition that holds for every row whose time (by the module's rule) is in [start, end), and for
    few others; `in_window` on the read values is exact. `column` is the reflected time column (its type says how
    the database stores it); `start`/`end` are naive UTC."""
    epoch = sa.and_(
        column >= sa.literal((start - _EPOCH).total_seconds(), sa.Float()),
        column < sa.literal((end - _EPOCH).total_seconds(), sa.Float()),
    )
    sql_type = column.type
    numeric = isinstance(sql_type, sa.Integer | sa.Numeric | sa.Float)
    lo = sa.literal((start - MAX_OFFSET).strftime("%Y-%m-%d %H:%M:%S"), sa.String())
    hi = sa.literal((end + MAX_OFFSET).strftime("%Y-%m-%dT%H:%M:%S"), sa.String())
    as_text = sa.type_coerce(column, sa.String())
    text_range = sa.and_(as_text >= lo, as_text < hi)
    if engine.dialect.name == "sqlite":
        # SQLite keeps what was written (text, integer, real) whatever the declared type; text sorts after every
        # number, so the text range and the epoch range never match the same row.
        utc_text = sa.func.datetime(column)
        text = sa.and_(
            text_range,
            sa.or_(
                sa.and_(utc_text >= _sqlite_text(start), utc_text < _sqlite_text(end)),
                utc_text.is_(None),  # a form SQLite does not know: read it, `to_naive_utc` parses it or fails
            ),
        )
        main, other = (epoch, text) if numeric else (text, epoch)
        # Both ranges only when the other storage is there too: an OR of two ranges makes SQLite sort the window
        # instead of reading the index in order.
        with engine.connect() as conn:
            mixed = conn.execute(sa.select(sa.literal(1)).where(other).limit(1)).first() is not None
        return sa.or_(main, other) if mixed else main
    if isinstance(sql_type, sa.DateTime):
        if getattr(sql_type, "timezone", False):
            return sa.and_(column >= start.replace(tzinfo=dt.UTC), column < end.replace(tzinfo=dt.UTC))
        return sa.and_(column >= start, column < end)
    return epoch if numeric else text_range


def _sqlite_text(moment: dt.datetime) -> str:
    """A naive UTC time as SQLite's `datetime()` writes it."""
    return moment.strftime("%Y-%m-%d %H:%M:%S")
