import datetime as dt

import pandas as pd
import pytest
from tabular_mlops.data import source
from tabular_mlops.monitoring import predictions

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
    return source.connect(f"sqlite:///{tmp_path / 'log.db'}")


def test_a_rescored_night_replaces_its_rows(engine, repo_params):
    end = NIGHT + dt.timedelta(days=1)
    predictions.replace_batch(engine, repo_params.schema, _rows(5), NIGHT, end)
    predictions.replace_batch(engine, repo_params.schema, _rows(5, "2", 0.5), NIGHT, end)
    log = predictions.read_log(engine, repo_params.schema, NIGHT, end)
    assert len(log) == 5 and set(log["model_version"]) == {"2"}


def test_online_rows_survive_a_batch_rescore(engine, repo_params):
    end = NIGHT + dt.timedelta(days=1)
    online = _rows(2).assign(source="online", prediction_id=lambda d: "online:" + d["application_id"])
    predictions.replace_batch(engine, repo_params.schema, online, NIGHT, end, source="online")
    predictions.replace_batch(engine, repo_params.schema, _rows(3), NIGHT, end)
    assert len(predictions.read_log(engine, repo_params.schema, NIGHT, end)) == 5


def test_label_join_is_idempotent(engine, repo_params):
    end = NIGHT + dt.timedelta(days=1)
    predictions.replace_batch(engine, repo_params.schema, _rows(4), NIGHT, end)
    labels = pd.DataFrame({"application_id": ["0", "1", "9"], "defaulted": [1, 0, 1]})
    for _ in range(2):
        predictions.join_labels(engine, repo_params.schema, labels, end)
    log = predictions.read_log(engine, repo_params.schema, NIGHT, end).set_index("application_id")
    assert log.loc["0", "label"] == 1 and log.loc["1", "label"] == 0
    assert log["label"].isna().sum() == 2
