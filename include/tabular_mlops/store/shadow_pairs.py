"""The paired rows of the shadow comparison (issue 25): the applications scored by both the champion and the
challenger in shadow, read from the prediction log (store/prediction_log.py) one row per application."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from tabular_mlops.core.config import SchemaConfig
from tabular_mlops.core.contracts import ONLINE_SOURCE, SHADOW_SOURCE
from tabular_mlops.store.prediction_log import ensure_table


def read_shadow_pairs(
    engine: sa.Engine,
    schema: SchemaConfig,
    start: dt.datetime,
    end: dt.datetime,
    champion_version: str,
    challenger_version: str,
) -> pd.DataFrame:
    """The rows in [start, end) scored by both the champion (its online answer, else its batch score)
    and the challenger in shadow: one row per id with timestamp, `champion_score`, `challenger_score` and
    `label` (NaN until it matures). Rows without a score (fallback answers) are left out."""
    table = ensure_table(engine, schema)
    ts, ids = table.c[schema.timestamp_column], table.c[schema.id_column]
    names = [schema.id_column, schema.timestamp_column, "source", "score", "label"]
    primary = sa.and_(table.c.source != SHADOW_SOURCE, table.c.model_version == champion_version)
    shadow = sa.and_(table.c.source == SHADOW_SOURCE, table.c.model_version == challenger_version)
    query = sa.select(*(table.c[n] for n in names)).where(
        ts >= start, ts < end, table.c.score.isnot(None), sa.or_(primary, shadow)
    )
    with engine.connect() as conn:
        rows = pd.read_sql(query.order_by(ids, table.c.prediction_id), conn)
    is_shadow = rows["source"] == SHADOW_SOURCE
    champion = rows[~is_shadow].assign(online_first=lambda d: d["source"] != ONLINE_SOURCE)
    # The same request's online answer is the champion's side of the pair; the batch score when there is none.
    champion = champion.sort_values([schema.id_column, "online_first"]).drop_duplicates(schema.id_column)
    challenger = rows[is_shadow].drop_duplicates(schema.id_column)
    pairs = champion.merge(
        challenger[[schema.id_column, "score", "label"]], on=schema.id_column, suffixes=("", "_shadow")
    )
    pairs["label"] = pairs["label"].fillna(pairs["label_shadow"])
    pairs = pairs.rename(columns={"score": "champion_score", "score_shadow": "challenger_score"})
    columns = [schema.id_column, schema.timestamp_column, "champion_score", "challenger_score", "label"]
    return pairs[columns].sort_values([schema.timestamp_column, schema.id_column]).reset_index(drop=True)
