"""When the DAGs run comes from params.yaml `dags`: schedules, the first night, and how long a retraining that never
started counts as in flight."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import shutil

import pytest
import yaml
from airflow.sdk.exceptions import AirflowFailException
from tabular_mlops.core.contracts import DAG_IDS
from tabular_mlops_airflow.settings import check_night, project_params, retraining_in_flight

from tests.support.project import REPO

EXPECTED_SCHEDULES = {
    "ingest": "@daily",
    "train_model": "0 3 * * *",
    "monitor_nightly": "@daily",
    "simulate_source": "0 23 * * *",
    "deploy_model": "0 4 * * *",
}


def _bag(project_dir=None):
    from airflow.dag_processing.dagbag import DagBag

    saved = os.environ.get("MLOPS_PROJECT_DIR")
    if project_dir is not None:
        os.environ["MLOPS_PROJECT_DIR"] = str(project_dir)
    try:
        return DagBag(dag_folder=str(REPO / "dags"))
    finally:
        if saved is None:
            os.environ.pop("MLOPS_PROJECT_DIR", None)
        else:
            os.environ["MLOPS_PROJECT_DIR"] = saved


def test_the_example_keeps_its_schedules_and_first_night(repo_params):
    assert dataclasses.asdict(repo_params.dags.schedules) == EXPECTED_SCHEDULES
    assert [f.name for f in dataclasses.fields(repo_params.dags.schedules)] == list(DAG_IDS)
    assert repo_params.dags.start_date == "2026-01-31"
    bag = _bag()
    for dag_id, schedule in EXPECTED_SCHEDULES.items():
        dag = bag.dags[dag_id]
        assert dag.schedule == schedule
        # No Airflow start_date: a run for an earlier night must get its tasks, so the guard can refuse it.
        assert dag.start_date is None


def test_schedules_follow_params_yaml(tmp_path):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["dags"]["schedules"]["ingest"] = "0 6 * * 1"
    raw["dags"]["schedules"]["train_model"] = None
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    bag = _bag(tmp_path)
    assert bag.import_errors == {}
    assert bag.dags["ingest"].schedule == "0 6 * * 1"
    assert bag.dags["train_model"].schedule is None


def test_a_bad_schedule_is_an_import_error_naming_the_key(tmp_path):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["dags"]["schedules"]["monitor_nightly"] = "every night"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    errors = _bag(tmp_path).import_errors
    assert errors, "a bad schedule must not load a DAG"
    assert all("dags.schedules.monitor_nightly" in e and "every night" in e for e in errors.values())


def test_a_night_before_the_start_date_fails_naming_both(tmp_path):
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    params = project_params(str(tmp_path))
    check_night(params.dags, dt.date(2026, 1, 31))
    with pytest.raises(
        AirflowFailException, match="night 2019-03-01 is before params.yaml dags.start_date 2026-01-31"
    ):
        check_night(params.dags, dt.date(2019, 3, 1))


class _Runs:
    """The count queries of a task instance over a list of (run_id, state) train_model runs."""

    def __init__(self, runs):
        self.runs = runs

    def get_dr_count(self, dag_id, logical_dates=None, run_ids=None, states=None):
        assert dag_id == "train_model" and logical_dates is None
        return sum(
            (run_ids is None or r in run_ids) and (states is None or s in states) for r, s in self.runs
        )


NIGHT = dt.date(2019, 6, 10)


def test_a_running_or_freshly_queued_retraining_is_in_flight():
    assert retraining_in_flight(_Runs([("manual__x", "running")]), NIGHT, 2)
    assert retraining_in_flight(_Runs([("retrain__2019-06-09", "queued")]), NIGHT, 2)
    assert not retraining_in_flight(_Runs([("retrain__2019-06-01", "success")]), NIGHT, 2)


def test_a_retraining_queued_for_longer_is_ignored_with_a_warning(caplog):
    runs = _Runs([("retrain__2019-06-07", "queued"), ("retrain__2019-06-08", "queued")])
    with caplog.at_level(logging.WARNING):
        assert not retraining_in_flight(runs, NIGHT, 2)
    assert "2 queued train_model run(s) did not start" in caplog.text
    assert "retrain_stale_after_days=2" in caplog.text
