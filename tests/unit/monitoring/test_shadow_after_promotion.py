"""The nightly shadow comparison stops at the promotion that made the current champion (issue 25, design point 5),
on a real SQLite prediction log and monitoring decisions table and a real MLflow registry (SQLite store).

Two canary nights with v1 champion: each version answers half the applications and scores the other half in the
background. deploy_model promotes v2 after the second; from the next night v2 answers alone. Before the fix the
old champion's background scores stayed in the comparison's window (`monitor.window_days`) and its matured pairs
had no start: monitor_nightly reported "v1 beside v2" for a week, and a version proposed again after the promotion
was tested on pairs from before it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import mlflow
import pandas as pd
import pytest
import sqlalchemy as sa
from mlflow import MlflowClient
from tabular_mlops.core.config import ThresholdRule
from tabular_mlops.core.contracts import ONLINE_SOURCE, SHADOW_SOURCE, LogSource, Tag
from tabular_mlops.model.scoring import LoadedModel
from tabular_mlops.monitoring import decisions_log
from tabular_mlops.monitoring.results import Action, Decision, Status
from tabular_mlops.monitoring.shadow_analysis import compare_shadow
from tabular_mlops.store import prediction_log

from tests.support.project import tracking_store

NAME = "shadow_after_promotion"
CANARY = (dt.date(2026, 3, 4), dt.date(2026, 3, 5))  # v1 champion, v2 in canary; v2 promoted after the second
PROMOTED = CANARY[-1] + dt.timedelta(days=1)  # the first night v2 answers alone
AGAIN = PROMOTED + dt.timedelta(days=1)  # v1 proposed again by hand: it shadows v2
IDS = 200
RULE = ThresholdRule(rule="fixed", value=0.5)


def _rows(schema, night: dt.date, ids: list[int], source: str, version: str, shift: float) -> pd.DataFrame:
    at = dt.datetime.combine(night, dt.time(12))
    return pd.DataFrame(
        {
            "prediction_id": [f"{source}:{version}:{night}:{i}" for i in ids],
            schema.id_column: [f"{night}-{i}" for i in ids],
            schema.timestamp_column: [at + dt.timedelta(seconds=i) for i in ids],
            "score": [min(0.95, 0.05 + (i % 10) / 10 + shift) for i in ids],
            "decision": 0,
            "model_name": NAME,
            "model_version": version,
            "scoring_run_id": "test",
            "source": source,
            "label": [i % 2 for i in ids],
        }
    )


def _night(engine, schema, night: dt.date, frames: dict[str, list[pd.DataFrame]], champion: str) -> None:
    start = dt.datetime.combine(night, dt.time())
    for source, parts in frames.items():
        rows = pd.concat(parts, ignore_index=True)
        prediction_log.replace_batch(engine, schema, rows, start, start + dt.timedelta(days=1), source)
    decisions_log.record(engine, Decision(night, Status.OK, Action.KEEP, ("test",)), champion, 0.0)


@pytest.fixture(scope="module")
def log(tmp_path_factory, repo_params):
    folder = tmp_path_factory.mktemp("promotion")
    schema = dataclasses.replace(repo_params.schema, label_delay_days=0)
    engine = sa.create_engine(f"sqlite:///{folder / 'monitoring.db'}")
    half, other = list(range(0, IDS, 2)), list(range(1, IDS, 2))
    everyone = list(range(IDS))
    for (
        night
    ) in CANARY:  # v1 answers the even ids, v2 (canary) the odd; each scores the other's in the background
        _night(
            engine,
            schema,
            night,
            {
                LogSource.BATCH: [_rows(schema, night, everyone, LogSource.BATCH, "1", 0.0)],
                ONLINE_SOURCE: [
                    _rows(schema, night, half, ONLINE_SOURCE, "1", 0.0),
                    _rows(schema, night, other, ONLINE_SOURCE, "2", 0.02),
                ],
                SHADOW_SOURCE: [
                    _rows(schema, night, half, SHADOW_SOURCE, "2", 0.02),
                    _rows(schema, night, other, SHADOW_SOURCE, "1", 0.0),
                ],
            },
            "1",
        )
    _night(  # promoted: v2 answers alone, and the nightly batch scoring is v2's
        engine,
        schema,
        PROMOTED,
        {
            LogSource.BATCH: [_rows(schema, PROMOTED, everyone, LogSource.BATCH, "2", 0.02)],
            ONLINE_SOURCE: [_rows(schema, PROMOTED, everyone, ONLINE_SOURCE, "2", 0.02)],
        },
        "2",
    )
    frames = {  # v1 proposed again: it shadows v2's answers (this night's record is written after the comparison)
        LogSource.BATCH: [_rows(schema, AGAIN, everyone, LogSource.BATCH, "2", 0.02)],
        ONLINE_SOURCE: [_rows(schema, AGAIN, everyone, ONLINE_SOURCE, "2", 0.02)],
        SHADOW_SOURCE: [_rows(schema, AGAIN, everyone, SHADOW_SOURCE, "1", 0.0)],
    }
    start = dt.datetime.combine(AGAIN, dt.time())
    for source, parts in frames.items():
        prediction_log.replace_batch(engine, schema, parts[0], start, start + dt.timedelta(days=1), source)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with tracking_store(uri):
        mlflow.set_tracking_uri(uri)
        client = MlflowClient()
        client.create_registered_model(NAME)
        for _ in range(2):  # the comparison reads only their tags (the checksum every registered version has)
            client.create_model_version(NAME, str(folder / "model"), tags={Tag.MODEL_SHA256: "0" * 64})
        yield engine, schema, repo_params.monitor, repo_params.deploy
        mlflow.set_tracking_uri(None)


def _compare(log, champion: str, night: dt.date):
    engine, schema, monitor, deploy = log
    return compare_shadow(
        engine, schema, monitor, deploy, RULE, LoadedModel(None, NAME, champion, None), night
    )


def test_during_the_canary_the_two_versions_are_compared(log):
    comparison = _compare(log, "1", CANARY[-1])
    assert comparison is not None and comparison.challenger_version == "2"
    assert comparison.recent is not None and comparison.recent.rows == 2 * IDS


def test_after_the_promotion_the_old_champion_is_not_compared_with_the_new_one(log):
    """Its background scores of the canary nights are still in the 7-night window: before the fix, the first
    night after the promotion reported 'shadow v1 vs champion v2'."""
    assert _compare(log, "2", PROMOTED) is None


def test_a_version_proposed_again_is_judged_only_on_pairs_from_the_promotion_on(log):
    """v1 shadows again after the promotion: its recent and matured pairs are this night's only, not the
    canary nights' (v2's canary answers beside v1's background scores, whose labels have matured too)."""
    comparison = _compare(log, "2", AGAIN)
    assert comparison is not None and comparison.challenger_version == "1"
    assert comparison.recent is not None and comparison.recent.rows == IDS
    assert comparison.matured is not None and comparison.matured.rows == IDS
    assert comparison.test is not None
