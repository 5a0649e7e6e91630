"""Monitoring for every column type, on a table that is not the credit example: an integer feature with and
without missing values on either side, a float, a nullable category and a bool, in the dtypes each side really
has (the reference from the snapshots: integers as pandas Int64, flags as bool; the current window from the
prediction log: numbers as float64, NULL as NaN). The real Evidently reports and the drift statistics run end
to end; a shifted column is found and a stable one is not."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from tabular_mlops.core.config import FeatureSpec, SchemaConfig
from tabular_mlops.monitoring.drift import dataset_drift
from tabular_mlops.monitoring.evidently_reports import evidently_reports

from tests.support.night_summary_of import summary_of

NIGHT = dt.date(2019, 6, 30)
SCHEMA = SchemaConfig(
    table="visits",
    id_column="visit_id",
    timestamp_column="visited_at",
    target_column="bought",
    label_delay_days=0,
    features=(
        FeatureSpec(name="pages", type="int", min=0, max=50, nullable=True),
        FeatureSpec(name="amount", type="float", nullable=True),
        FeatureSpec(name="channel", type="category", categories=("web", "app", "store"), nullable=True),
        FeatureSpec(name="member", type="int", min=0, max=1),
    ),
)


def _frame(
    rows: int, seed: int, start: dt.date, days: int, pages_mean: float, side: str, gaps: bool
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pages = rng.poisson(pages_mean, rows).clip(0, 50)
    amount = rng.gamma(2.0, 30.0, rows)
    channel = rng.choice(["web", "app", "store"], rows, p=[0.5, 0.3, 0.2]).astype(object)
    member = rng.random(rows) < 0.4
    channel[rng.random(rows) < 0.02] = None
    amount[rng.random(rows) < 0.02] = np.nan
    stamps = [
        dt.datetime.combine(start + dt.timedelta(days=int(d)), dt.time(12))
        for d in rng.integers(0, days, rows)
    ]
    df = pd.DataFrame(
        {"visit_id": [f"{side}-{i}" for i in range(rows)], "visited_at": pd.to_datetime(stamps)}
    )
    if side == "reference":  # as the validated snapshots hold them (data/extract.py: int -> Int64)
        df["pages"] = pd.array(pages, dtype="Int64")
        if gaps:
            df.loc[rng.random(rows) < 0.05, "pages"] = pd.NA
        df["member"] = member
    else:  # as the prediction log gives them back: numbers are FLOAT columns, NULL -> NaN
        df["pages"] = pages.astype(float)
        if gaps:
            df.loc[rng.random(rows) < 0.05, "pages"] = np.nan
        df["member"] = member.astype(float)
    df["amount"], df["channel"] = amount, channel
    df["score"] = rng.beta(2, 5, rows)
    df["bought"] = (rng.random(rows) < 0.25).astype(int)
    df["label"] = df["bought"].astype(float)
    return df


@pytest.mark.parametrize(
    "reference_gaps", [False, True], ids=["reference-int-complete", "reference-int-gaps"]
)
@pytest.mark.parametrize("current_gaps", [False, True], ids=["current-int-complete", "current-int-gaps"])
def test_every_column_type_is_monitored(repo_params, tmp_path, reference_gaps, current_gaps):
    monitor = repo_params.monitor
    reference = _frame(3000, 1, NIGHT - dt.timedelta(days=60), 30, 8.0, "reference", reference_gaps)
    current = _frame(1400, 2, NIGHT - dt.timedelta(days=6), 7, 12.0, "current", current_gaps)
    labelled = _frame(1400, 3, NIGHT - dt.timedelta(days=20), 7, 8.0, "current", current_gaps)
    labelled = labelled.assign(logged_score=labelled["score"])

    made = evidently_reports(SCHEMA, monitor, reference, current, labelled, tmp_path / "reports", NIGHT)
    assert set(made) == {"drift", "performance"}
    assert all(path.stat().st_size > 10_000 for path, _ in made.values())

    drift = {c.column: c for c in dataset_drift(reference, current, SCHEMA, monitor)}
    assert drift["pages"].drifted, drift["pages"]  # mean 8 -> 12 visits' pages
    assert not any(drift[c].drifted for c in ("amount", "channel", "member")), drift
    assert all(np.isfinite(c.psi) and np.isfinite(c.statistic) for c in drift.values())
    summary = summary_of(SCHEMA, monitor, reference, current, labelled, NIGHT)
    assert summary.window is not None and "pages" in summary.drifted_columns
    assert summary.matured_roc_auc is not None and summary.label_drift.matured_rate is not None
    assert summary.labelled_window_drifted == ()


def test_a_bool_column_is_monitored_when_both_sides_hold_bools(repo_params, tmp_path):
    reference = _frame(3000, 1, NIGHT - dt.timedelta(days=60), 30, 8.0, "reference", False)
    current = _frame(1400, 2, NIGHT - dt.timedelta(days=6), 7, 8.0, "reference", False)
    current["member"] = np.random.default_rng(5).random(len(current)) < 0.8  # 40% -> 80% members
    made = evidently_reports(
        SCHEMA, repo_params.monitor, reference, current, current.iloc[:0], tmp_path, NIGHT
    )
    assert set(made) == {"drift"}
    drift = {c.column: c for c in dataset_drift(reference, current, SCHEMA, repo_params.monitor)}
    assert drift["member"].drifted and not drift["pages"].drifted
