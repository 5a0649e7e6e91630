"""Low-volume monitoring that decides (about 11 rows a night, as on a small panel table): the quality hold does not
fire on Poisson noise, and with fewer than monitor.min_rows rows the windows widen rather than report nothing for
ever; the night's record says how wide they were. On a real SQLite prediction log and decision record."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
import pytest
from tabular_mlops.monitoring import decisions_log, low_volume
from tabular_mlops.monitoring.night_summary import night_quality
from tabular_mlops.monitoring.results import Action, Decision, Status
from tabular_mlops.stats.counts import poisson_band, unusual_count
from tabular_mlops.store import prediction_log, source_db

NIGHT = dt.date(2026, 3, 31)


def _log(days: int, per_night: int, last: dt.date = NIGHT) -> pd.DataFrame:
    """`days` nights of `per_night` scored rows each, ending at `last`."""
    frames = []
    for d in range(days):
        day = dt.datetime.combine(last - dt.timedelta(days=d), dt.time(8))
        n = per_night
        ids = [f"{day:%Y%m%d}-{i}" for i in range(n)]
        frames.append(pd.DataFrame({
            "prediction_id": [f"batch:{i}" for i in ids], "application_id": ids,
            "applied_at": [day + dt.timedelta(minutes=i) for i in range(n)],
            "income": 50_000.0, "age": 30.0, "has_smartphone": 1.0, "employment_length": None,
            "loan_amount": 1000.0, "debt_to_income": 0.2, "credit_history_length": 5.0, "num_open_accounts": 3.0,
            "home_ownership": "RENT", "loan_purpose": "car", "region": "north", "score": 0.1, "decision": 0,
            "model_name": "m", "model_version": "1", "scoring_run_id": "run", "source": "batch",
        }))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


@pytest.fixture()
def engine(tmp_path):
    return source_db.connect(f"sqlite:///{tmp_path / 'monitoring.db'}")


def _write(engine, schema, rows: pd.DataFrame) -> None:
    start = rows["applied_at"].min().normalize()
    prediction_log.replace_batch(engine, schema, rows, start, NIGHT + dt.timedelta(days=1))


def test_poisson_noise_at_low_volume_is_not_a_quality_problem(repo_params):
    monitor = dataclasses.replace(repo_params.monitor, row_count_tolerance=0.5)
    empty = pd.DataFrame()
    # 18 rows against an average of 11 is +64%: over the configured 0.5, within Poisson noise (4 / sqrt(11)).
    assert night_quality(empty, None, repo_params.schema, monitor, 11.0, night_rows=18) == []  # type: ignore[arg-type]
    flagged = night_quality(empty, None, repo_params.schema, monitor, 11.0, night_rows=80)  # type: ignore[arg-type]
    assert flagged == ["80 rows on the night where about 11 are normal"], (
        "a broken feed still holds the night"
    )
    assert not unusual_count(18, 11, 0.5) and unusual_count(60, 11, 0.5)
    assert unusual_count(0, 11, 0.5), "an empty night is not noise at 11 a night"
    low, high = poisson_band(800)
    assert 650 < low < high < 950, "at the example's volume the configured band (400..1200) is the wider"
    assert (
        not unusual_count(1100, 800, 0.5) and unusual_count(8000, 800, 0.5) and unusual_count(300, 800, 0.5)
    )


def test_too_few_rows_widen_the_window_and_the_record_says_so(engine, repo_params):
    schema = repo_params.schema
    monitor = dataclasses.replace(repo_params.monitor, window_days=7, min_rows=150)
    _write(engine, schema, _log(70, 11))
    choice = low_volume.choose_window(engine, schema, monitor, NIGHT)
    assert (choice.configured_rows, choice.nights, choice.rows) == (77, 14, 154)
    decision = Decision(NIGHT, Status.OK, Action.KEEP, ("no drift",))
    decisions_log.record(engine, low_volume.noted(decision, choice, monitor.min_rows), "1", 0.0)
    record = decisions_log.night_record(engine, NIGHT)
    assert record is not None and record.reasons == (
        "window widened to 14 nights: the last 7 (monitor.window_days) held 77 scored rows < monitor.min_rows "
        "150; 14 nights hold 154",
        "no drift",
    )
    assert low_volume.widened(monitor, choice).window_days == 14


def test_held_nights_do_not_count(engine, repo_params):
    schema = repo_params.schema
    monitor = dataclasses.replace(repo_params.monitor, window_days=7, min_rows=100)
    _write(engine, schema, _log(20, 11))
    for d in range(1, 4):  # three held nights: their rows leave the window
        night = NIGHT - dt.timedelta(days=d)
        decisions_log.record(engine, Decision(night, Status.OK, Action.HOLD, ("held",)), "1", None)
    choice = low_volume.choose_window(engine, schema, monitor, NIGHT)
    assert (choice.configured_rows, choice.nights, choice.rows) == (44, 14, 121)


def test_the_widest_window_is_the_limit_and_says_it_is_still_short(engine, repo_params):
    schema = repo_params.schema
    monitor = dataclasses.replace(repo_params.monitor, window_days=7, min_rows=100)
    _write(engine, schema, _log(5, 11))
    choice = low_volume.choose_window(engine, schema, monitor, NIGHT)
    assert (choice.nights, choice.rows) == (7 * low_volume.MAX_WIDENING, 55)
    assert choice.note(100).endswith("55, still fewer than monitor.min_rows 100 (the widest)")


def test_enough_rows_or_no_rows_leave_the_window_as_configured(engine, repo_params):
    schema = repo_params.schema
    monitor = dataclasses.replace(repo_params.monitor, window_days=7, min_rows=50)
    assert not low_volume.choose_window(engine, schema, monitor, NIGHT).widened, "no data is not low volume"
    _write(engine, schema, _log(10, 11))
    choice = low_volume.choose_window(engine, schema, monitor, NIGHT)
    assert not choice.widened and choice.rows == 77
    assert low_volume.widened(monitor, choice) is monitor
