"""Shadow answers in a real SQLite prediction log: paired by application id with the champion's own answer
(online first, else batch), left out of the drift window and its volumes, and their figures as MLflow metrics."""

import datetime as dt

import numpy as np
import pandas as pd
import sqlalchemy as sa
from tabular_mlops.core.contracts import ONLINE_SOURCE, SHADOW_SOURCE
from tabular_mlops.monitoring.night_record import shadow_metrics
from tabular_mlops.monitoring.results import ShadowComparison
from tabular_mlops.monitoring.run_notes import shadow_line
from tabular_mlops.monitoring.shadow_analysis import champion_decided
from tabular_mlops.stats.paired import compare_paired
from tabular_mlops.stats.sequential import SequentialDesign, paired_look, update
from tabular_mlops.store import prediction_log, shadow_pairs

NIGHT = dt.datetime(2026, 3, 1, 12)


def _rows(schema, source: str, ids: list[str], scores: list[float], version: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "prediction_id": [f"{source}:{i}" for i in ids],
            schema.id_column: ids,
            schema.timestamp_column: [NIGHT] * len(ids),
            "score": scores,
            "decision": [int(s >= 0.5) for s in scores],
            "model_name": "m",
            "model_version": version,
            "scoring_run_id": "run",
            "source": source,
        }
    )


def test_shadow_answers_pair_with_the_champions_and_stay_out_of_drift(repo_params, tmp_path):
    schema = repo_params.schema
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'log.db'}")
    start, end = NIGHT.replace(hour=0), NIGHT.replace(hour=0) + dt.timedelta(days=1)
    prediction_log.replace_batch(
        engine, schema, _rows(schema, "batch", ["a", "b", "c"], [0.1, 0.2, 0.3], "1"), start, end
    )
    prediction_log.replace_batch(
        engine, schema, _rows(schema, ONLINE_SOURCE, ["b"], [0.25], "1"), start, end, ONLINE_SOURCE
    )
    shadow = _rows(schema, SHADOW_SOURCE, ["a", "b", "d"], [0.6, 0.7, 0.9], "2")
    # Another challenger's answer for an application is not this pair's.
    other = _rows(schema, SHADOW_SOURCE, ["c"], [0.5], "3").assign(prediction_id="shadow-v3:c")
    prediction_log.replace_batch(engine, schema, pd.concat([shadow, other]), start, end, SHADOW_SOURCE)
    pairs = shadow_pairs.read_shadow_pairs(engine, schema, start, end, "1", "2")
    assert pairs[schema.id_column].tolist() == ["a", "b"]
    assert pairs["champion_score"].tolist() == [0.1, 0.25]  # b: the online answer, not the batch score
    assert pairs["challenger_score"].tolist() == [0.6, 0.7] and pairs["label"].isna().all()
    window = prediction_log.read_window(engine, schema, start, end, 1_000)
    # 3 applications: b's online answer is the same application as its batch row, counted once
    assert len(window.rows) == 3 and int(window.day_counts["rows"].sum()) == 3


def test_in_canary_each_answer_pairs_with_the_other_versions_background_score(repo_params, tmp_path):
    """Canary: v2 answers c and d, v1 a and b; each scores the other's rows in the background (source shadow).
    Every application pairs, each side the version's answer where it gave one; the challenger is v2 even when
    the newest shadow row is the champion's."""
    schema = repo_params.schema
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'log.db'}")
    start, end = NIGHT.replace(hour=0), NIGHT.replace(hour=0) + dt.timedelta(days=1)
    prediction_log.replace_batch(
        engine, schema, _rows(schema, "batch", ["a", "b", "c", "d"], [0.1, 0.2, 0.3, 0.4], "1"), start, end
    )
    online = pd.concat(
        [_rows(schema, ONLINE_SOURCE, ["a", "b"], [0.11, 0.21], "1"),
         _rows(schema, ONLINE_SOURCE, ["c", "d"], [0.7, 0.8], "2")]
    )  # fmt: skip
    prediction_log.replace_batch(engine, schema, online, start, end, ONLINE_SOURCE)
    later = NIGHT + dt.timedelta(minutes=5)
    shadow = pd.concat(
        [_rows(schema, SHADOW_SOURCE, ["a", "b"], [0.5, 0.6], "2"),
         _rows(schema, SHADOW_SOURCE, ["c", "d"], [0.31, 0.41], "1").assign(**{schema.timestamp_column: later})]
    )  # fmt: skip
    prediction_log.replace_batch(engine, schema, shadow, start, end, SHADOW_SOURCE)
    assert prediction_log.logged_version(engine, schema, start, end, SHADOW_SOURCE) == "1"
    assert shadow_pairs.shadowed_version(engine, schema, start, end, "1") == "2"
    assert shadow_pairs.shadowed_version(engine, schema, start, end, "2") == "1"
    pairs = shadow_pairs.read_shadow_pairs(engine, schema, start, end, "1", "2")
    assert pairs[schema.id_column].tolist() == ["a", "b", "c", "d"]
    # a, b: v1's answers and v2's background scores; c, d: v1's background scores (not its batch) and v2's answers
    assert pairs["champion_score"].tolist() == [0.11, 0.21, 0.31, 0.41]
    assert pairs["challenger_score"].tolist() == [0.5, 0.6, 0.7, 0.8]
    # c, d were decided by the challenger: their labels are its decisions' sample, not the champion's
    assert pairs["challenger_answered"].tolist() == [False, False, True, True]
    kept, reason = champion_decided(pairs.assign(label=[0.0, 1.0, 0.0, 1.0]))
    assert kept[schema.id_column].tolist() == ["a", "b"]
    assert reason is not None and reason.startswith("2 matured pairs the challenger decided")
    assert champion_decided(kept) == (kept, None)


def test_a_comparison_becomes_metrics_and_a_note_line_without_nan():
    rng = np.random.default_rng(0)
    champion = rng.random(400)
    labels = (rng.random(400) < champion).astype(float)
    challenger = np.clip(champion * 0.7 + labels * 0.3, 0, 1)
    report = compare_paired(
        champion, challenger, champion_threshold=0.5, challenger_threshold=0.5, labels=labels
    )
    improvements = (champion - labels) ** 2 - (challenger - labels) ** 2
    test = update(SequentialDesign(10_000, 0.01), None, paired_look(improvements))
    comparison = ShadowComparison("1", "2", "brier", report, report, test)
    metrics = shadow_metrics(comparison)
    assert metrics["shadow/pairs"] == 400 and metrics["shadow/brier.ci_high"] < 0
    assert all(np.isfinite(v) for v in metrics.values())
    assert shadow_metrics(ShadowComparison("1", "2", "brier", reasons=("no pairs",))) == {}
    line = shadow_line(comparison)
    assert line.startswith("shadow v2 vs champion v1: 400 pairs") and "favours the challenger" in line
    assert ShadowComparison.from_dict(comparison.to_dict()) == comparison
