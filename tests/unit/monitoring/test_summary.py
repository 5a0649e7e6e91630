"""summarize on simulator windows: a typed NightSummary from the sections it needs."""

import datetime as dt
from dataclasses import replace

import numpy as np
import pandas as pd
from tabular_mlops.data.simulate import generate_day
from tabular_mlops.monitoring.results import NightSummary, Status

from tests.support.night_summary_of import summary_of

NIGHT = dt.date(2026, 4, 7)


def _window(params, scenario, last_day, days, rows=600):
    df = pd.concat(
        [generate_day(last_day - dt.timedelta(days=i), rows, 7, scenario) for i in reversed(range(days))]
    ).reset_index(drop=True)
    score = np.random.default_rng(days).random(len(df))
    return df.assign(score=score, label=df[params.schema.target_column].astype(float))


def test_a_shifted_window_with_matured_labels(repo_params):
    schema, monitor = repo_params.schema, replace(repo_params.monitor, window_days=3, min_rows=500)
    reference = _window(repo_params, "stable", dt.date(2026, 1, 7), 7)
    current = _window(repo_params, "covariate_shift", NIGHT, 3)
    labelled = _window(repo_params, "stable", NIGHT - dt.timedelta(days=30), 3)
    labelled = labelled.assign(logged_score=labelled["score"])
    summary = summary_of(schema, monitor, reference, current, labelled, NIGHT)
    assert summary.status is Status.OK
    assert (summary.rows, summary.night_rows, summary.labelled_rows) == (1800, 600, 1800)
    assert summary.expected_rows == 1800.0 and summary.row_count_ratio == 1.0
    assert {"income", "has_smartphone"} <= set(summary.drifted_columns)
    assert summary.last_night is not None and summary.last_night.rows == 600
    assert summary.matured_roc_auc is not None and summary.label_drift.matured_rate is not None
    assert summary.labelled_window_drifted == ()
    assert NightSummary.from_dict(summary.to_dict()) == summary


def test_too_few_rows_and_no_rows(repo_params):
    schema, monitor = repo_params.schema, replace(repo_params.monitor, window_days=3, min_rows=500)
    reference = _window(repo_params, "stable", dt.date(2026, 1, 7), 7)
    small = _window(repo_params, "stable", NIGHT, 1, rows=100)
    none = reference.iloc[:0]
    tiny = summary_of(schema, monitor, reference, small, none, NIGHT)
    assert tiny.status is Status.TOO_FEW_ROWS and tiny.window is not None and tiny.last_night is None
    assert tiny.matured_roc_auc is None and tiny.label_drift.matured_rate is None
    empty = summary_of(schema, monitor, reference, none, none, NIGHT)
    assert empty.status is Status.NO_DATA and empty.window is None and empty.rows == 0


def test_row_count_expected_from_the_nights_logged(repo_params):
    """A fresh stack has logged one night, not `window_days`: one normal night is not a row-count problem, while
    nights that are all short still are."""
    from tabular_mlops.monitoring.decision import quality_problems

    schema, monitor = repo_params.schema, replace(repo_params.monitor, window_days=7, min_rows=500)
    reference = _window(repo_params, "stable", dt.date(2026, 1, 7), 7)
    one = _window(repo_params, "stable", NIGHT, 1)
    none = reference.iloc[:0]
    summary = summary_of(schema, monitor, reference, one, none, NIGHT)
    assert summary.expected_rows == 600.0 and summary.row_count_ratio == 1.0
    assert not [p for p in quality_problems(summary, monitor) if "rows where" in p]

    short = _window(repo_params, "stable", NIGHT, 3, rows=100)
    low = summary_of(schema, monitor, reference, short, none, NIGHT)
    assert low.expected_rows == 1800.0
    assert "300 rows where about 1800 are normal" in quality_problems(low, monitor)
