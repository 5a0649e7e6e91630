"""Bring your own data, with configuration alone: a survey table nobody prepared for this pipeline (string yes/no
target, integer-coded states, extra source columns, interviews in 2019) goes through `tabular-mlops init`, the
regenerated GX suite and the real ingestion DAG, night by night, both through dag.test() and headless through
`tabular-mlops airflow-setup` + `airflow-env` + `airflow dags test`. A night before dags.start_date fails."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import sqlite3
import subprocess
import sys

import pandas as pd
import pytest
from tabular_mlops.cli import main
from tabular_mlops.core.config import load_params
from tabular_mlops.core.contracts import snapshot_name

from tests import second_table
from tests.support.airflow_runs import project_env, run_dag, task_states
from tests.support.project import REPO, make_project

pytestmark = pytest.mark.e2e

NIGHTS = [second_table.START + dt.timedelta(days=i) for i in range(3)]
HEADLESS_NIGHT = second_table.START + dt.timedelta(days=3)
TOO_EARLY = second_table.START - dt.timedelta(days=2)


@pytest.fixture(scope="module")
def survey(tmp_path_factory, airflow_db):
    project = make_project(tmp_path_factory.mktemp("survey") / "project")
    for folder in ("dags", "plugins"):  # a checkout: the headless airflow CLI reads the project's own folders
        shutil.copytree(REPO / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
    env, db, _ = project_env(project)
    second_table.write(f"sqlite:///{db}", days=6, rows=250)
    params_file = project / "params.yaml"
    init = [
        "--params",
        str(params_file),
        "init",
        "--source-url",
        f"sqlite:///{db}",
        "--table",
        second_table.TABLE,
    ]
    exclude = ["--exclude", "interviewer", "--exclude", "survey_weight"]
    assert main([*init, "--target", "moved_out", *exclude, "--write", str(params_file)]) == 0
    second_table.write_suite(params_file)
    out = {"project": project, "params": load_params(params_file), "runs": {}}
    try:
        for night in [*NIGHTS, TOO_EARLY]:
            out["runs"][night] = run_dag("ingest", logical_date=night)
        yield out
    finally:
        env.restore()


def test_init_config_ingests_historical_nights_with_no_code_change(survey):
    params, data = survey["params"], survey["project"] / "data"
    assert params.dags.start_date == "2019-03-01" and params.schema.positive_label == "yes"
    for night in NIGHTS:
        assert str(survey["runs"][night].state) == "success", night
        snapshot = pd.read_parquet(data / snapshot_name(night))
        assert list(snapshot.columns) == params.schema.columns, (
            "only the configured columns, never the extras"
        )
        assert len(snapshot) == 250
        assert set(snapshot["moved_out"].unique()) == {0, 1} and str(snapshot["moved_out"].dtype) == "Int64"
        assert str(snapshot["state_fips"].dtype) == "Int64"
        assert set(snapshot["state_fips"]) <= set(second_table.STATES)
    assert (survey["project"] / "data.dvc").exists()


def test_a_night_before_the_start_date_fails_naming_both_dates(survey):
    run = survey["runs"][TOO_EARLY]
    assert str(run.state) == "failed"
    states = task_states(run)
    assert states["extract"] == ("failed", 1), "a config problem is not retried"
    assert states["validate"][0] == "upstream_failed"
    assert not (survey["project"] / "data" / snapshot_name(TOO_EARLY)).exists()


def test_headless_setup_and_dags_test_ingest_a_night(survey):
    """The README's headless steps, as a user runs them: setup, the printed environment, `airflow dags test`."""
    project = survey["project"]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLOPS_", "MLFLOW_"))}
    base["MLOPS_PROJECT_DIR"] = str(project)
    venv_bin = os.path.dirname(sys.executable)
    cli = [sys.executable, "-m", "tabular_mlops"]
    setup = subprocess.run([*cli, "airflow-setup"], env=base, capture_output=True, text=True, timeout=900)
    assert setup.returncode == 0, setup.stderr[-2000:]
    assert (project / "var" / "airflow" / "airflow.db").exists()
    source = f"sqlite:///{project / 'var' / 'source.db'}"
    printed = subprocess.run(
        [*cli, "airflow-env", "--source-url", source], env=base, capture_output=True, text=True, check=True
    ).stdout
    script = f"{printed}\n{venv_bin}/airflow dags test ingest {HEADLESS_NIGHT.isoformat()}"
    run = subprocess.run(["bash", "-c", script], env=base, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert (project / "data" / snapshot_name(HEADLESS_NIGHT)).exists()
    # The printed environment is the set-up metadata DB's: the run is recorded there, next to the pool setup made
    # (read here, not with `airflow pools get`: a fourth Airflow interpreter, 5.7 CPU s, for the same row).
    with contextlib.closing(sqlite3.connect(project / "var" / "airflow" / "airflow.db")) as db:
        assert db.execute("SELECT slots FROM slot_pool WHERE pool = 'dvc_repo'").fetchall() == [(1,)]
        runs = db.execute("SELECT logical_date, state FROM dag_run WHERE dag_id = 'ingest'").fetchall()
    assert [(str(day)[:10], state) for day, state in runs] == [(HEADLESS_NIGHT.isoformat(), "success")], runs
