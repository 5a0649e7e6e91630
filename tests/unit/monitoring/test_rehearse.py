"""scripts/rehearse.py without a stack: it starts, and it dates the service's answers to the simulated night on a
real prediction log (SQLite), leaving the batch rows and older answers alone."""

import datetime as dt
import subprocess
import sys

import pandas as pd
import pytest
from tabular_mlops.data.simulate import generate_day
from tabular_mlops.store import prediction_log, source_db

from tests.support.project import REPO

NIGHT = dt.date(2026, 3, 20)


@pytest.fixture(scope="module")
def rehearse():
    # rehearse.py imports drill.py beside it, as it does when run as `python scripts/rehearse.py`
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import rehearse as module
    finally:
        sys.path.remove(str(REPO / "scripts"))
    return module


def test_help_runs_without_a_stack():
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "rehearse.py"), "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "--outcome" in proc.stdout and "LABEL" not in proc.stdout


def _logged(params, ids, source, at):
    day = generate_day(NIGHT, params.simulate.rows_per_day, params.simulate.seed, "stable")
    rows = day[day[params.schema.id_column].isin(ids)].drop(columns=[params.schema.target_column])
    return rows.assign(
        prediction_id=[f"{source}:{i}" for i in rows[params.schema.id_column]],
        applied_at=at,
        score=0.1,
        decision=0,
        model_name="m",
        model_version="2" if source == "shadow" else "1",
        scoring_run_id="svc",
        source=source,
    )


def test_the_services_answers_are_dated_to_their_applications_on_the_night(rehearse, repo_params, tmp_path):
    engine = source_db.connect(f"sqlite:///{tmp_path / 'log.db'}")
    schema = repo_params.schema
    now = dt.datetime(2026, 12, 7, 17, 0)
    ids = [f"{NIGHT:%Y%m%d}-{i:07d}" for i in (0, 5, 1999)]
    for source in ("online", "shadow"):
        prediction_log.replace_batch(engine, schema, _logged(repo_params, ids, source, now), now, now, source)
    earlier = _logged(repo_params, ids[:1], "online", now - dt.timedelta(hours=1)).assign(
        prediction_id="online:old"
    )
    prediction_log.replace_batch(engine, schema, earlier, now, now, "online")
    counts = rehearse.date_answers(engine, repo_params, NIGHT, now - dt.timedelta(minutes=1), "stable")
    assert counts == {"online": 3, "shadow": 3}
    log = prediction_log.read_log(engine, schema, dt.datetime(2026, 1, 1), dt.datetime(2027, 1, 1))
    truth = generate_day(NIGHT, repo_params.simulate.rows_per_day, repo_params.simulate.seed, "stable")
    when = dict(zip(truth[schema.id_column], truth[schema.timestamp_column], strict=True))
    dated = log[log["prediction_id"] != "online:old"]
    assert (dated[schema.timestamp_column] == dated[schema.id_column].map(when)).all()
    assert log.loc[log["prediction_id"] == "online:old", schema.timestamp_column].tolist() == [
        pd.Timestamp(now - dt.timedelta(hours=1))
    ]
