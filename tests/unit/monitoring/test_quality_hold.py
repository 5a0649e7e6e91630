"""Quality before drift: a night whose own rows are broken (a key feature arrives empty, categories nobody has
seen, a fraction of the usual rows) is held, never retrained on, and its rows stay out of later windows."""

import datetime as dt
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from tabular_mlops.data.simulate import generate_day
from tabular_mlops.monitoring import decisions_log
from tabular_mlops.monitoring.decision import alerts_for, decide
from tabular_mlops.monitoring.log_window import Population, population, without_held
from tabular_mlops.monitoring.results import Action, Decision, Status
from tabular_mlops.store import prediction_log

from tests.support.night_summary_of import summary_of

NIGHT = dt.date(2026, 4, 7)


def _days(params, last_day, days, scenario="stable", rows=800, last_scenario=None):
    frames = []
    for i in reversed(range(days)):
        day = last_day - dt.timedelta(days=i)
        frames.append(generate_day(day, rows, 11, last_scenario if (i == 0 and last_scenario) else scenario))
    df = pd.concat(frames).reset_index(drop=True)
    score = np.random.default_rng(days).random(len(df))
    return df.assign(score=score, label=df[params.schema.target_column].astype(float))


def _summary(params, last_scenario, monitor=None, rows=800, population=None):
    monitor = monitor or params.monitor
    reference = _days(params, dt.date(2026, 1, 14), 14)
    current = _days(params, NIGHT, monitor.window_days, last_scenario=last_scenario, rows=rows)
    none = reference.iloc[:0]
    return summary_of(params.schema, monitor, reference, current, none, NIGHT, population)


def test_a_night_with_an_empty_key_feature_is_held_not_retrained(repo_params):
    summary = _summary(repo_params, "missing_column")
    assert any("'debt_to_income' missing on 100.0%" in p for p in summary.night_quality)
    decision = decide(summary, repo_params.monitor, repo_params.gate, None, False)
    assert decision.action is Action.HOLD
    assert decision.reasons[0].startswith("data quality: 'debt_to_income' missing")
    assert any(
        r.startswith("not acted on (quality hold)") and "debt_to_income" in r for r in decision.reasons
    )
    alerts = alerts_for(summary, decision, repo_params.monitor, repo_params.gate)
    assert any(a.kind == "quality" and "held" in a.title for a in alerts)
    assert not any(a.kind == "retraining" for a in alerts)


def test_without_the_hold_the_same_night_would_retrain(repo_params):
    """The failure the hold fixes, reproduced: the empty feature reads as key-feature drift."""
    monitor = replace(repo_params.monitor, hold_on_quality=False)
    decision = decide(
        _summary(repo_params, "missing_column", monitor), monitor, repo_params.gate, None, False
    )
    assert decision.action is Action.RETRAIN
    assert any("debt_to_income" in r for r in decision.drift_reasons)


@pytest.mark.parametrize(
    ("scenario", "rows", "expected"),
    [
        ("unseen_category", 800, "categories unseen in the reference"),
        ("stable", 80, "rows on the night where about"),
    ],
)
def test_other_quality_rules_hold_the_night(repo_params, scenario, rows, expected):
    summary = _summary(repo_params, scenario, rows=rows) if rows == 800 else None
    if summary is None:  # a thin night: the newest day has a tenth of the usual rows
        reference = _days(repo_params, dt.date(2026, 1, 14), 14)
        current = pd.concat(
            [_days(repo_params, NIGHT - dt.timedelta(days=1), 6), _days(repo_params, NIGHT, 1, rows=rows)]
        )
        none = reference.iloc[:0]
        summary = summary_of(
            repo_params.schema, repo_params.monitor, reference, current.reset_index(drop=True), none, NIGHT
        )
    assert any(expected in p for p in summary.night_quality), summary.night_quality
    assert decide(summary, repo_params.monitor, repo_params.gate, None, False).action is Action.HOLD


def test_a_stable_night_is_not_held(repo_params):
    summary = _summary(repo_params, None)
    assert summary.night_quality == ()
    assert decide(summary, repo_params.monitor, repo_params.gate, None, False).action is Action.KEEP


def test_held_nights_stay_out_of_later_windows(tmp_path, repo_params):
    """Through the log as the night reads it: a held night's rows leave the window's rows and its counts, whether
    the window is read whole or sampled."""
    schema = repo_params.schema
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'monitoring.db'}")
    held = NIGHT - dt.timedelta(days=2)
    decisions_log.record(engine, Decision(held, Status.OK, Action.HOLD, ("data quality: x",)), "1", 0.5)
    decisions_log.record(engine, Decision(NIGHT - dt.timedelta(days=1), Status.OK, Action.KEEP, ()), "1", 0.0)
    rows = _days(repo_params, NIGHT, 4, rows=50)
    logged = rows[
        [schema.id_column, schema.timestamp_column, *schema.feature_names, "score", "label"]
    ].assign(
        prediction_id=lambda d: "batch:" + d[schema.id_column].astype(str),
        decision=0,
        model_name="m",
        model_version="1",
        scoring_run_id="run",
        source="batch",
    )
    start = dt.datetime.combine(NIGHT - dt.timedelta(days=3), dt.time())
    end = dt.datetime.combine(NIGHT + dt.timedelta(days=1), dt.time())
    prediction_log.replace_batch(engine, schema, logged, start, end)
    nights = decisions_log.held_nights(engine, start.date(), NIGHT)
    assert nights == {held}
    for max_rows in (10_000, 120):
        window = prediction_log.read_window(engine, schema, start, end, max_rows)
        kept = without_held(schema, nights, window.rows)
        days = set(kept[schema.timestamp_column].dt.date)
        assert held not in days and NIGHT in days and len(days) == 3
        counts = population(window, window, nights, NIGHT, None)
        assert (counts.rows, counts.night_rows, counts.nights, counts.labelled_rows) == (150, 50, 3, 150)
        assert window.sampled == (max_rows == 120)


def test_a_sampled_window_reports_and_judges_its_exact_row_counts(repo_params):
    """A window read as a sample (prediction_log.read_window) keeps its real volumes: the summary reports the
    population's counts, and the night's row-count rule judges the night's real row count, not the sample's."""
    window_rows = repo_params.monitor.window_days * 800  # what _summary logs: 800 rows a night
    usual = Population(rows=window_rows * 10, night_rows=8_000, nights=7, labelled_rows=0)
    summary = _summary(repo_params, None, population=usual)
    assert (summary.rows, summary.night_rows) == (window_rows * 10, 8_000)
    assert summary.window.rows == window_rows  # the statistics' own rows
    assert any("8000 rows on the night where about 800" in p for p in summary.night_quality)
    whole = _summary(repo_params, None)
    assert whole.rows == window_rows and whole.night_quality == ()
