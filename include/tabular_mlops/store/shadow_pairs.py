"""The paired rows of the shadow comparison (issue 25): the applications scored by both the champion and the
challenger in shadow, read from the prediction log (store/prediction_log.py) one row per application."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from tabular_mlops.core.config import SchemaConfig
from tabular_mlops.core.contracts import ONLINE_SOURCE, SHADOW_SOURCE, LogSource
from tabular_mlops.store.prediction_log import ensure_table


def shadowed_version(
    engine: sa.Engine, schema: SchemaConfig, start: dt.datetime, end: dt.datetime, champion_version: str
) -> str | None:
    """The challenger of the shadow rows in [start, end): the version of the newest shadow row that is not the
    champion's, or None. In canary the champion also scores the canary's rows in the background (source shadow
    too); the newest: a window can hold the shadow answers of an earlier challenger and of the one shadowing now."""
    table = ensure_table(engine, schema)
    ts = table.c[schema.timestamp_column]
    query = (
        sa.select(table.c.model_version)
        .where(
            ts >= start, ts < end, table.c.source == SHADOW_SOURCE, table.c.model_version != champion_version
        )
        .order_by(ts.desc(), table.c.prediction_id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        found = conn.execute(query).scalar()
    return None if found is None else str(found)


def read_shadow_pairs(
    engine: sa.Engine,
    schema: SchemaConfig,
    start: dt.datetime,
    end: dt.datetime,
    champion_version: str,
    challenger_version: str,
) -> pd.DataFrame:
    """The rows in [start, end) scored by both the champion and the challenger: one row per id with timestamp,
    `champion_score`, `challenger_score` and `label` (NaN until it matures). Rows without a score (fallback
    answers) are left out.

    Each side is the version's answer to the caller where it gave one, else its background (shadow) answer to the
    same request, else (the champion) its batch score: in shadow the challenger's side is its shadow answer; in
    canary the challenger's own answer pairs with the champion's shadow answer to the same request, and the
    champion's answer with the challenger's shadow answer. `challenger_answered` marks the applications the
    challenger decided (its canary answers): whether they are labelled depends on its decision, not the
    champion's, so a test on matured labels leaves them out (see monitoring/shadow_analysis.py)."""
    table = ensure_table(engine, schema)
    ts, ids = table.c[schema.timestamp_column], table.c[schema.id_column]
    names = [schema.id_column, schema.timestamp_column, "source", "model_version", "score", "label"]
    # The challenger never scores in batch: a batch row of its version is not an answer of this rollout.
    challenger = sa.and_(table.c.model_version == challenger_version, table.c.source != LogSource.BATCH)
    query = sa.select(*(table.c[n] for n in names)).where(
        ts >= start,
        ts < end,
        table.c.score.isnot(None),
        sa.or_(table.c.model_version == champion_version, challenger),
    )
    with engine.connect() as conn:
        rows = pd.read_sql(query.order_by(ids, table.c.prediction_id), conn)
    rows = rows.assign(rank=rows["source"].map(_PREFERENCE).fillna(len(_PREFERENCE)))
    rows = rows.sort_values([schema.id_column, "rank"], kind="stable")
    version = rows["model_version"].astype(str)
    champion = rows[version == str(champion_version)].drop_duplicates(schema.id_column)
    challenger_rows = rows[version == str(challenger_version)].drop_duplicates(schema.id_column)
    challenger_rows = challenger_rows.assign(challenger_answered=challenger_rows["source"] == ONLINE_SOURCE)
    pairs = champion.merge(
        challenger_rows[[schema.id_column, "score", "label", "challenger_answered"]],
        on=schema.id_column,
        suffixes=("", "_shadow"),
    )
    pairs["label"] = pairs["label"].fillna(pairs["label_shadow"])
    pairs = pairs.rename(columns={"score": "champion_score", "score_shadow": "challenger_score"})
    columns = [
        schema.id_column,
        schema.timestamp_column,
        "champion_score",
        "challenger_score",
        "label",
        "challenger_answered",
    ]
    return pairs[columns].sort_values([schema.timestamp_column, schema.id_column]).reset_index(drop=True)


# Which of a version's rows for an application is its side of the pair: its answer, its shadow answer, its batch.
_PREFERENCE = {ONLINE_SOURCE: 0, SHADOW_SOURCE: 1, LogSource.BATCH: 2}
