"""`make run` on your own table (MLOPS_SOURCE_URL): the table checked against params.yaml's schema before any
server starts, and the history the backfill covers read from the table's own first and last days."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa

from tabular_mlops.core.contracts import SOURCE_URL_ENV
from tabular_mlops.stack.stack_error import StackError

if TYPE_CHECKING:
    from tabular_mlops.core.config import SchemaConfig

# An integer time column holds seconds since the epoch, or milliseconds when it is this large (year 5138 in s).
EPOCH_MS_ABOVE = 10**11


@dataclass(frozen=True)
class SourceTable:
    """What the stack needs to know about the user's table: where it is, its rows and its first and last day."""

    url: str
    table: str
    rows: int
    first_day: dt.date
    last_day: dt.date

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "table": self.table, "rows": self.rows,
                "first_day": self.first_day.isoformat(), "last_day": self.last_day.isoformat()}  # fmt: skip

    def describe(self) -> str:
        days = (self.last_day - self.first_day).days + 1
        return f"table '{self.table}': {self.rows} rows over {days} days {self.first_day}..{self.last_day}"


def safe_url(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def _is_numeric(column_type: sa.types.TypeEngine[Any]) -> bool:
    return isinstance(column_type, sa.Integer | sa.Float | sa.Numeric | sa.Boolean)


def mismatches(schema: SchemaConfig, columns: dict[str, sa.types.TypeEngine[Any]]) -> list[str]:
    """Every way the table's columns differ from params.yaml's schema (empty: they match)."""
    found: list[str] = []
    wanted = [schema.id_column, schema.timestamp_column, *schema.feature_names, schema.target_column]
    missing = [c for c in wanted if c not in columns]
    if missing:
        found.append(f"missing columns {missing}")
    for spec in schema.features:
        column_type = columns.get(spec.name)
        if column_type is not None and spec.type in ("float", "int") and not _is_numeric(column_type):
            found.append(f"{spec.name} is {column_type} in the table but {spec.type} in schema.features")
    return found


def as_day(value: object) -> dt.date:
    """A time column's value as a day: a datetime, an ISO text, or seconds (milliseconds) since the epoch."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        unit = "ms" if abs(value) > EPOCH_MS_ABOVE else "s"
        return pd.Timestamp(value, unit=unit).date()
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC")
    return stamp.date()


def inspect_source(url: str, schema: SchemaConfig) -> SourceTable:
    """The table behind `url` checked against `schema`; a StackError in one line naming every mismatch."""
    where = f"{SOURCE_URL_ENV}={safe_url(url)}"
    try:
        engine = sa.create_engine(url)
        inspector = sa.inspect(engine)
        if not inspector.has_table(schema.table):
            raise StackError(
                f"{where}: no table '{schema.table}' (params.yaml schema.table); tables there: "
                f"{sorted(inspector.get_table_names())}"
            )
        columns = {c["name"]: c["type"] for c in inspector.get_columns(schema.table)}
        problems = mismatches(schema, columns)
        if problems:
            raise StackError(
                f"{where}: table '{schema.table}' does not match params.yaml schema: {'; '.join(problems)}"
            )
        time_col: sa.ColumnClause[Any] = sa.column(schema.timestamp_column)
        query = sa.select(sa.func.count(), sa.func.min(time_col), sa.func.max(time_col)).select_from(
            sa.table(schema.table)
        )
        with engine.connect() as conn:
            rows, first, last = conn.execute(query).one()
    except sa.exc.SQLAlchemyError as exc:
        raise StackError(f"{where}: cannot read table '{schema.table}': {exc}") from exc
    if not rows or first is None:
        raise StackError(f"{where}: table '{schema.table}' has no rows with a {schema.timestamp_column}")
    try:
        first_day, last_day = as_day(first), as_day(last)
    except (ValueError, TypeError) as exc:
        raise StackError(
            f"{where}: {schema.table}.{schema.timestamp_column} holds {first!r}, not a time: {exc}"
        ) from exc
    return SourceTable(url=url, table=schema.table, rows=int(rows), first_day=first_day, last_day=last_day)


def nights(
    source: SourceTable, label_delay_days: int, start_date: dt.date, today: dt.date
) -> tuple[dt.date, dt.date]:
    """First and last night to backfill: night D ingests the rows of D - label delay, so the table's days are
    nights first + delay .. last + delay, none before dags.start_date and none after today."""
    start = max(source.first_day + dt.timedelta(days=label_delay_days), start_date)
    end = min(source.last_day + dt.timedelta(days=label_delay_days), today)
    if start > end:
        raise StackError(
            f"{source.describe()}: no night to backfill between dags.start_date {start_date} (or first day + "
            f"schema.label_delay_days {label_delay_days}) and {end} (last day + label delay, at most today)"
        )
    return start, end
