"""Which nights `make run` monitors on your own table when its days are past (stack/past_nights.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from tabular_mlops.stack.own_table import SourceTable
from tabular_mlops.stack.past_nights import _headline, past_nights

TODAY = dt.date(2026, 12, 7)


def _params(repo_params, window_days: int, delay: int, start: str):
    return dataclasses.replace(
        repo_params,
        monitor=dataclasses.replace(repo_params.monitor, window_days=window_days),
        schema=dataclasses.replace(repo_params.schema, label_delay_days=delay),
        dags=dataclasses.replace(repo_params.dags, start_date=start),
    )


def _table(first: dt.date, last: dt.date) -> SourceTable:
    return SourceTable("sqlite:///t.db", "pump_readings", 9000, first, last)


def test_a_past_table_is_monitored_over_its_last_window_plus_label_delay_days(repo_params):
    params = _params(repo_params, window_days=7, delay=7, start="2023-04-08")
    nights = past_nights(_table(dt.date(2023, 4, 1), dt.date(2023, 4, 30)), params, TODAY)
    # night D scores the rows of D and joins the labels of D - 7: the last night's window (04-24..04-30) is scored,
    # and the labels of 04-17..04-23 have matured by then
    assert (nights[0], nights[-1], len(nights)) == (dt.date(2023, 4, 17), dt.date(2023, 4, 30), 14)


def test_never_before_the_first_day_or_dags_start_date(repo_params):
    short = _table(dt.date(2023, 4, 1), dt.date(2023, 4, 10))
    assert past_nights(short, _params(repo_params, 7, 7, "2023-03-01"), TODAY)[0] == dt.date(2023, 4, 1)
    assert past_nights(short, _params(repo_params, 7, 7, "2023-04-08"), TODAY)[0] == dt.date(2023, 4, 8)


def test_a_table_still_written_is_left_to_the_schedule(repo_params):
    params = _params(repo_params, 7, 7, "2026-01-01")
    assert past_nights(_table(dt.date(2026, 10, 1), TODAY - dt.timedelta(days=1)), params, TODAY) == []
    assert past_nights(_table(dt.date(2026, 10, 1), TODAY - dt.timedelta(days=2)), params, TODAY) != []


def test_the_decision_line_is_the_notes_first_line_without_emphasis():
    assert _headline("**KEEP** night 2023-04-30: no drift\n\n| rows |") == "KEEP night 2023-04-30: no drift"
    assert _headline(None) == "no note"
