import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa
from tabular_mlops.store import prediction_log, source_db

NIGHT = dt.datetime(2026, 3, 1)


def _rows(n, version="1", offset=0.0):
    return pd.DataFrame(
        {
            "prediction_id": [f"batch:{i}" for i in range(n)],
            "application_id": [str(i) for i in range(n)],
            "applied_at": [NIGHT + dt.timedelta(minutes=i) for i in range(n)],
            "income": [50_000.0] * n,
            "age": [30.0] * n,
            "has_smartphone": [1.0] * n,
            "employment_length": [None] * n,
            "loan_amount": [1000.0] * n,
            "debt_to_income": [0.2] * n,
            "credit_history_length": [5.0] * n,
            "num_open_accounts": [3.0] * n,
            "home_ownership": ["RENT"] * n,
            "loan_purpose": ["car"] * n,
            "region": ["north"] * n,
            "score": [0.01 + offset] * n,
            "decision": [0] * n,
            "model_name": ["m"] * n,
            "model_version": [version] * n,
            "scoring_run_id": ["run"] * n,
            "source": ["batch"] * n,
        }
    )


@pytest.fixture()
def engine(tmp_path):
    return source_db.connect(f"sqlite:///{tmp_path / 'log.db'}")


def test_a_rescored_night_replaces_its_rows(engine, repo_params):
    end = NIGHT + dt.timedelta(days=1)
    prediction_log.replace_batch(engine, repo_params.schema, _rows(5), NIGHT, end)
    prediction_log.replace_batch(engine, repo_params.schema, _rows(5, "2", 0.5), NIGHT, end)
    log = prediction_log.read_log(engine, repo_params.schema, NIGHT, end)
    assert len(log) == 5 and set(log["model_version"]) == {"2"}


def test_online_rows_survive_a_batch_rescore(engine, repo_params):
    end = NIGHT + dt.timedelta(days=1)
    online = _rows(2).assign(source="online", prediction_id=lambda d: "online:" + d["application_id"])
    prediction_log.replace_batch(engine, repo_params.schema, online, NIGHT, end, source="online")
    prediction_log.replace_batch(engine, repo_params.schema, _rows(3), NIGHT, end)
    assert len(prediction_log.read_log(engine, repo_params.schema, NIGHT, end)) == 5


def test_label_join_is_idempotent(engine, repo_params):
    end = NIGHT + dt.timedelta(days=1)
    prediction_log.replace_batch(engine, repo_params.schema, _rows(4), NIGHT, end)
    labels = pd.DataFrame({"application_id": ["0", "1", "9"], "defaulted": [1, 0, 1]})
    for _ in range(2):
        prediction_log.join_labels(engine, repo_params.schema, labels, end)
    log = prediction_log.read_log(engine, repo_params.schema, NIGHT, end).set_index("application_id")
    assert log.loc["0", "label"] == 1 and log.loc["1", "label"] == 0
    assert log["label"].isna().sum() == 2


def _old_log_table(schema, metadata: sa.MetaData) -> sa.Table:
    """The prediction_log as released before online answers were logged: no latency, no fallback, score NOT NULL."""
    kinds = {"float": sa.Float(), "int": sa.Float(), "category": sa.String(64)}
    return sa.Table(
        prediction_log.TABLE,
        metadata,
        sa.Column("prediction_id", sa.String(128), primary_key=True),
        sa.Column(schema.id_column, sa.String(64), nullable=False, index=True),
        sa.Column(schema.timestamp_column, sa.DateTime(), nullable=False, index=True),
        *[sa.Column(f.name, kinds[f.type], nullable=True) for f in schema.features],
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("decision", sa.Integer(), nullable=False),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("scoring_run_id", sa.String(256), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("label", sa.Integer(), nullable=True),
        sa.Column("label_joined_at", sa.DateTime(), nullable=True),
    )


def test_an_existing_log_is_migrated_in_place_without_losing_rows(engine, repo_params):
    """A running stack's monitoring.db has the old table: it gains latency_ms and fallback, score accepts NULL
    (a fallback answer), every old row and index is kept, and a second call changes nothing."""
    schema = repo_params.schema
    metadata = sa.MetaData()
    old = _old_log_table(schema, metadata)
    metadata.create_all(engine)
    rows = _rows(7).astype(object).where(_rows(7).notna(), None).to_dict("records")
    with engine.begin() as conn:
        conn.execute(old.insert(), rows)
    indexes_before = {i["name"] for i in sa.inspect(engine).get_indexes(prediction_log.TABLE)}

    table = prediction_log.ensure_table(engine, schema)

    columns = {c["name"]: c for c in sa.inspect(engine).get_columns(prediction_log.TABLE)}
    assert columns["score"]["nullable"] and columns[prediction_log.LATENCY_COLUMN]["nullable"]
    assert prediction_log.FALLBACK_COLUMN in columns
    assert {i["name"] for i in sa.inspect(engine).get_indexes(prediction_log.TABLE)} == indexes_before
    log = prediction_log.read_log(engine, schema, NIGHT, NIGHT + dt.timedelta(days=1))
    assert sorted(log["prediction_id"]) == sorted(r["prediction_id"] for r in rows)
    assert log[prediction_log.LATENCY_COLUMN].isna().all() and not log[prediction_log.FALLBACK_COLUMN].any()
    assert log["score"].tolist() == [0.01] * 7
    with engine.begin() as conn:  # a fallback answer: no score, its latency
        conn.execute(
            table.insert(),
            [{**rows[0], "prediction_id": "online:x", "score": None, "latency_ms": 2.5, "fallback": True}],
        )
    assert prediction_log.migrate(engine, table) is False
    assert len(prediction_log.read_log(engine, schema, NIGHT, NIGHT + dt.timedelta(days=1))) == 8


def _nights(n_per_night, nights=3):
    frames = []
    for d in range(nights):
        day = _rows(n_per_night).assign(
            prediction_id=lambda f, d=d: f"batch:{d}-" + f["application_id"],
            application_id=lambda f, d=d: f"{d}-" + f["application_id"],
            applied_at=[NIGHT + dt.timedelta(days=d, seconds=i) for i in range(n_per_night)],
        )
        frames.append(day)
    return pd.concat(frames, ignore_index=True)


def test_a_small_window_is_read_whole_with_exact_day_counts(engine, repo_params):
    schema = repo_params.schema
    rows = _nights(40)
    rows.loc[:9, "score"] = None  # ten fallback answers on the first night
    prediction_log.replace_batch(engine, schema, rows, NIGHT, NIGHT + dt.timedelta(days=3))
    matured = pd.concat([rows.iloc[:5], rows.iloc[50:70]])  # five fallback answers: labelled, not counted
    prediction_log.join_labels(engine, schema, matured.assign(defaulted=1), NIGHT + dt.timedelta(days=4))
    window = prediction_log.read_window(engine, schema, NIGHT, NIGHT + dt.timedelta(days=3), 1_000)
    assert not window.sampled and len(window.rows) == 120
    assert list(window.rows.columns) == [schema.timestamp_column, *schema.feature_names, "score", "label"]
    counts = window.day_counts.set_index("day")[["rows", "scored", "labelled"]]
    first, second, third = (NIGHT.date() + dt.timedelta(days=d) for d in range(3))
    assert counts.loc[first].tolist() == [40, 30, 0]  # ten fallback answers have no score
    assert counts.loc[second].tolist() == [40, 40, 20] and counts.loc[third].tolist() == [40, 40, 0]


def test_a_large_window_is_a_reproducible_sample_chosen_by_the_database(engine, repo_params):
    schema = repo_params.schema
    end = NIGHT + dt.timedelta(days=3)
    prediction_log.replace_batch(engine, schema, _nights(2_000), NIGHT, end)
    window = prediction_log.read_window(engine, schema, NIGHT, end, 1_500)
    assert window.sampled and window.sample_share == pytest.approx(1_500 / 6_000)
    assert 1_200 < len(window.rows) < 1_800
    assert int(window.day_counts["rows"].sum()) == 6_000  # counts stay exact
    per_night = window.rows[schema.timestamp_column].dt.date.value_counts()
    assert len(per_night) == 3 and per_night.min() > 350  # every night is in the sample, about evenly
    again = prediction_log.read_window(engine, schema, NIGHT, end, 1_500)
    pd.testing.assert_frame_equal(window.rows, again.rows)
    # A re-scored night keeps its sample: the key is a hash of the prediction id, not a random draw.
    prediction_log.replace_batch(engine, schema, _nights(2_000), NIGHT, end)
    pd.testing.assert_frame_equal(
        window.rows, prediction_log.read_window(engine, schema, NIGHT, end, 1_500).rows
    )


def test_rows_logged_before_the_sample_key_existed_are_always_read(engine, repo_params):
    schema = repo_params.schema
    end = NIGHT + dt.timedelta(days=3)
    prediction_log.replace_batch(engine, schema, _nights(1_000), NIGHT, end)
    table = prediction_log.ensure_table(engine, schema)
    with engine.begin() as conn:
        old = table.c.prediction_id.like("batch:0-%")
        conn.execute(table.update().where(old).values({prediction_log.SAMPLE_KEY_COLUMN: None}))
    window = prediction_log.read_window(engine, schema, NIGHT, end, 300)
    first_night = window.rows[schema.timestamp_column].dt.date == NIGHT.date()
    assert first_night.sum() == 1_000 and 120 < (~first_night).sum() < 280  # 10% of the 2,000 keyed rows


def test_sample_keys_are_stable_hashes_of_the_id():
    keys = prediction_log.sample_keys(["batch:1", "batch:2", "online:abc"])
    assert keys == prediction_log.sample_keys(["batch:1", "batch:2", "online:abc"])
    assert len(set(keys)) == 3 and all(0 <= k < prediction_log.SAMPLE_KEY_SPAN for k in keys)
    # Pinned: a change of hash would silently move every logged row's sample.
    assert keys[0] == 651_706_003


def test_an_application_answered_online_and_scored_in_batch_is_counted_once(engine, repo_params):
    """The service answered 30 of the night's 40 applications (3 of them twice: a re-submission), a shadow scored
    them too, and the nightly batch scored all 40: the window holds 40 rows, the night counts 40 (not 73 or 76,
    which the row-count rule would hold as twice a normal night), and an online answer for an application the
    batch never scored (an id outside the source) still counts."""
    schema = repo_params.schema
    end = NIGHT + dt.timedelta(days=1)
    batch = _rows(40)
    online = pd.concat([_rows(30), _rows(3)], ignore_index=True)
    online = online.assign(source="online", prediction_id=[f"online:{i}" for i in range(len(online))])
    shadow = _rows(30).assign(source="shadow", prediction_id=lambda d: "shadow:" + d["application_id"])
    only_online = _rows(1).assign(source="online", prediction_id="online:x", application_id="not-in-source")
    online = pd.concat([online, only_online], ignore_index=True)
    for rows, source in ((online, "online"), (shadow, "shadow")):
        prediction_log.replace_batch(engine, schema, rows, NIGHT, end, source=source)
    prediction_log.replace_batch(engine, schema, batch, NIGHT, end)
    assert len(prediction_log.read_log(engine, schema, NIGHT, end)) == 40 + 34 + 30
    window = prediction_log.read_window(engine, schema, NIGHT, end, 1_000)
    assert len(window.rows) == 41
    assert window.day_counts["rows"].tolist() == [41]
    assert prediction_log.day_counts(engine, schema, NIGHT, end)["rows"].tolist() == [41]


def test_the_shadow_version_of_a_window_is_the_newest_one(engine, repo_params):
    """A window can hold the shadow answers of an earlier challenger (rolled back or superseded) and of the one
    shadowing now: the nightly comparison must pair the champion with the current one (make rehearse compared
    v2 again for a week after v3 began shadowing)."""
    schema = repo_params.schema
    end = NIGHT + dt.timedelta(days=3)
    earlier = _nights(5, nights=1).assign(source="shadow", model_version="2")
    later = _nights(5, nights=3).iloc[10:].assign(source="shadow", model_version="3")
    rows = pd.concat([earlier, later]).assign(prediction_id=lambda d: "shadow:" + d["application_id"])
    prediction_log.replace_batch(engine, schema, rows, NIGHT, end, source="shadow")
    assert prediction_log.logged_version(engine, schema, NIGHT, end, source="shadow") == "3"
    assert prediction_log.logged_version(engine, schema, NIGHT, NIGHT + dt.timedelta(days=1), "shadow") == "2"
