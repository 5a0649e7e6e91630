"""The one decision rule and the one prediction-log row builder, which batch scoring and the service both use."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from tabular_mlops.core.contracts import LogColumn, LogSource
from tabular_mlops.model.decision_rule import HIGH_RISK, LOW_RISK, decision_codes
from tabular_mlops.store import prediction_log


def test_a_score_at_the_threshold_is_the_high_risk_decision():
    codes = decision_codes(np.array([0.0, 0.2999, 0.3, 0.9]), 0.3)
    assert codes.tolist() == [LOW_RISK, LOW_RISK, HIGH_RISK, HIGH_RISK]


def test_a_missing_score_gets_no_decision():
    with pytest.raises(ValueError, match=r"1 of 3 score\(s\) are not finite numbers \(first at position 1\)"):
        decision_codes(np.array([0.1, np.nan, 0.8]), 0.5)


def _columns(repo_params, rows: int, as_lists: bool):
    schema = repo_params.schema
    features = {f.name: [None] * rows for f in schema.features}
    ids = [f"a{i}" for i in range(rows)]
    by = prediction_log.AnsweredBy("credit_default", "3", "run-1", LogSource.BATCH)
    scores = [0.1 * (i + 1) for i in range(rows)]
    codes = decision_codes(np.array(scores), 0.15)
    return prediction_log.log_columns(
        schema,
        by,
        [prediction_log.prediction_id(LogSource.BATCH, i) for i in ids],
        ids,
        dt.datetime(2026, 1, 2, 3, 4),
        features,
        scores,
        codes.tolist() if as_lists else codes,
    )


def test_batch_and_online_rows_have_the_same_columns_and_fit_the_table(repo_params, tmp_path):
    """A DataFrame of the columns (batch scoring) and a record per row (the service) are the same rows, and the
    log table takes them."""
    schema = repo_params.schema
    frame = pd.DataFrame(_columns(repo_params, 3, as_lists=False))
    records = prediction_log.log_records(_columns(repo_params, 3, as_lists=True), 3)
    assert list(frame.columns) == list(records[0])
    assert frame[LogColumn.DECISION].tolist() == [r[LogColumn.DECISION] for r in records] == [0, 1, 1]
    assert {r[LogColumn.SOURCE] for r in records} == {LogSource.BATCH}
    assert records[0][LogColumn.PREDICTION_ID] == "batch:a0"
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'log.db'}")
    start = dt.datetime(2026, 1, 2)
    assert prediction_log.replace_batch(engine, schema, frame, start, start + dt.timedelta(days=1)) == 3
    logged = pd.read_sql_table(prediction_log.TABLE, engine)
    assert sorted(logged[LogColumn.PREDICTION_ID]) == ["batch:a0", "batch:a1", "batch:a2"]
    assert logged[LogColumn.MODEL_VERSION].unique().tolist() == ["3"]


def test_a_column_of_the_wrong_length_is_refused(repo_params):
    columns = _columns(repo_params, 3, as_lists=True)
    columns[LogColumn.SCORE] = [0.5]
    with pytest.raises(ValueError, match=r"\['score'\] do not hold one value for each of the 3 row\(s\)"):
        prediction_log.log_records(columns, 3)
