"""Nightly batch scoring with the champion (loaded by alias, preprocessing inside) into the prediction log,
and the delayed-ground-truth join once labels mature."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from tabular_mlops.core.config import Params
from tabular_mlops.core.contracts import SOURCE_CONN_ID, LogSource
from tabular_mlops.model.decision_rule import decision_codes
from tabular_mlops.model.scoring import load_champion, load_version, model_frame
from tabular_mlops.model.target_labels import encode_target
from tabular_mlops.store import prediction_log, source_db


def score_night(
    params: Params,
    source_engine: sa.Engine,
    log_engine: sa.Engine,
    night: dt.date,
    run_id: str,
    conn_id: str = SOURCE_CONN_ID,
    rescore: bool = False,
) -> dict:
    """Score the rows received during `night` and replace that night's batch rows in the log.

    History is not rewritten: a re-run of a night that is already logged scores it with the version that scored
    it first (the champion of that night), unless `rescore` asks for the current champion; the result says which.
    """
    schema = params.schema
    start = dt.datetime.combine(night, dt.time())
    end = start + dt.timedelta(days=1)
    # What scoring uses: the ids, timestamps and features (the label is not known yet, and is joined later).
    only = [schema.id_column, schema.timestamp_column, *schema.feature_names]
    batch = source_db.read_window(source_engine, schema, start, end, conn_id, only)
    duplicates = int(batch[schema.id_column].duplicated().sum())
    batch = batch.drop_duplicates(schema.id_column, keep="first").reset_index(drop=True)
    if batch.empty:
        prediction_log.replace_batch(log_engine, schema, pd.DataFrame(), start, end)
        return {
            "night": night.isoformat(),
            "rows": 0,
            "model_version": None,
            "duplicates_dropped": duplicates,
        }
    name = params.registry.model_name
    first = prediction_log.logged_version(log_engine, schema, start, end)
    model = None
    if first is not None and not rescore:
        try:
            model = load_version(name, first)
            scored_by = f"v{first}, the version that first scored this night (rescore=true uses the champion)"
        except Exception as exc:  # noqa: BLE001 - an unloadable old version falls back to the champion, said so
            scored_by = f"the champion: v{first}, which first scored this night, cannot be loaded ({exc})"
    if model is None:
        model = load_champion(name)
        if first is None or rescore:
            scored_by = f"v{model.version}, the champion" + (
                f" (re-scored; v{first} scored it before)" if first else ""
            )
    version = model.version
    scores = model.score(batch, schema)
    features = model_frame(batch, schema)
    for f in schema.features:
        if f.is_categorical:
            features[f.name] = batch[f.name].astype(object).where(batch[f.name].notna(), None)
    ids = batch[schema.id_column]
    by = prediction_log.AnsweredBy(params.registry.model_name, version, run_id, LogSource.BATCH)
    columns = prediction_log.log_columns(
        schema,
        by,
        prediction_log.prediction_id(LogSource.BATCH, "") + ids.astype(str),
        ids,
        batch[schema.timestamp_column],
        features,
        scores,
        decision_codes(scores, model.threshold(params.evaluate.decision_threshold)),
    )
    rows = pd.DataFrame(columns, index=batch.index)
    n = prediction_log.replace_batch(log_engine, schema, rows, start, end)
    return {
        "night": night.isoformat(),
        "rows": n,
        "model_version": version,
        "scored_by": scored_by,
        "duplicates_dropped": duplicates,
        "mean_score": round(float(scores.mean()), 6),
    }


def join_matured_labels(
    params: Params,
    source_engine: sa.Engine,
    log_engine: sa.Engine,
    night: dt.date,
    conn_id: str = SOURCE_CONN_ID,
) -> dict:
    """Labels of the rows of `night - label_delay_days` have matured: write them onto the log."""
    schema = params.schema
    day = night - dt.timedelta(days=schema.label_delay_days)
    start = dt.datetime.combine(day, dt.time())
    only = [schema.id_column, schema.target_column]
    labels = source_db.read_window(source_engine, schema, start, start + dt.timedelta(days=1), conn_id, only)
    labels = labels[only].drop_duplicates(schema.id_column)
    # The raw labels (e.g. yes/no) mapped to 0/1 exactly as extraction maps them.
    labels = labels.assign(**{schema.target_column: encode_target(labels[schema.target_column], schema)})
    joined_at = dt.datetime.combine(night + dt.timedelta(days=1), dt.time())
    updated = prediction_log.join_labels(log_engine, schema, labels, joined_at)
    return {"row_day": day.isoformat(), "labels": len(labels), "predictions_labelled": updated}
