"""Monitoring reads matured labels from the source as extraction does: a yes/no target becomes 1/0 in the
prediction log, and integer state codes are logged as the integers the schema lists."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa
from tabular_mlops.monitoring.batch_scoring import join_matured_labels
from tabular_mlops.store import prediction_log, source_db

from tests import second_table
from tests.unit.data.test_target_and_columns import params_with


def test_yes_no_labels_are_joined_as_one_and_zero(tmp_path):
    params = params_with(tmp_path)
    schema = params.schema
    src = second_table.write(f"sqlite:///{tmp_path / 'survey.db'}", days=1, rows=50)
    log = sa.create_engine(f"sqlite:///{tmp_path / 'log.db'}")
    start = dt.datetime.combine(second_table.START, dt.time())
    batch = source_db.read_window(src, schema, start, start + dt.timedelta(days=1))
    rows = batch[[schema.id_column, schema.timestamp_column, *schema.feature_names]].assign(
        prediction_id="batch:" + batch[schema.id_column],
        score=0.5,
        decision=1,
        model_name="m",
        model_version="1",
        scoring_run_id="r",
        source="batch",
    )
    prediction_log.replace_batch(log, schema, rows, start, start + dt.timedelta(days=1))
    result = join_matured_labels(params, src, log, second_table.START)
    assert result["predictions_labelled"] == 50
    logged = prediction_log.read_log(log, schema, start, start + dt.timedelta(days=1)).set_index(
        schema.id_column
    )
    expected = (batch.set_index(schema.id_column)["moved_out"] == "yes").astype(int)
    pd.testing.assert_series_equal(logged["label"].astype(int), expected, check_names=False)
    assert logged["state_fips"].isin(schema.feature("state_fips").categories).all()
