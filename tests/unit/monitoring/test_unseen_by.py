"""The matured-label evaluation never judges the champion on days it trained on."""

import datetime as dt

import pandas as pd
from tabular_mlops.core.contracts import Tag
from tabular_mlops.model.scoring import LoadedModel
from tabular_mlops.monitoring.log_window import unseen_by


def test_rows_on_or_before_the_training_end_are_dropped(repo_params):
    ts = repo_params.schema.timestamp_column
    days = [dt.datetime(2026, 3, d, 12) for d in (8, 9, 10, 11, 12)]
    rows = pd.DataFrame({ts: days, "label": [0, 1, 0, 1, 0]})
    champion = LoadedModel(None, "m", "3", "r", {Tag.REFERENCE_WINDOW: "2026-01-20..2026-03-10"})
    kept = unseen_by(champion, rows, repo_params.schema)
    assert list(kept[ts].dt.day) == [11, 12]


def test_without_a_recorded_window_nothing_is_dropped(repo_params):
    ts = repo_params.schema.timestamp_column
    rows = pd.DataFrame({ts: [dt.datetime(2026, 3, 8)], "label": [1]})
    assert len(unseen_by(LoadedModel(None, "m", "1", None, {}), rows, repo_params.schema)) == 1
