"""`make run` on your own table (MLOPS_SOURCE_URL): the stack's own steps on a generated survey table that is not
the credit example. The table is checked against params.yaml before any server starts (one line naming every
mismatch), the backfill is planned from the table's first and last days plus the label delay and created in a
real Airflow metadata DB by the stack's `backfill.create_offline` (the real `airflow backfill create`), nothing
is seeded into the user's table, and the planned nights ingest through the real DAG (dag.test() per night, as
the other e2e tests run the scheduler's work)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3

import pandas as pd
import pytest
import sqlalchemy as sa
from airflow.configuration import conf
from tabular_mlops.cli import main
from tabular_mlops.core.config import load_params
from tabular_mlops.core.contracts import INGEST_DAG_ID, SOURCE_URL_ENV, snapshot_name
from tabular_mlops.stack import backfill, bootstrap, stack_cli
from tabular_mlops.stack.layout import Layout
from tabular_mlops.stack.stack_error import StackError

from tests import second_table
from tests.support.airflow_runs import project_env, run_dag
from tests.support.project import REPO, make_project

pytestmark = pytest.mark.e2e

DAYS, ROWS, DELAY = 2, 120, 2
START = dt.date(2018, 6, 1)  # days no other test ingests (the session's metadata DB is copied below)


def _count(url: str) -> int:
    with sa.create_engine(url).connect() as conn:
        return conn.execute(sa.text(f"SELECT COUNT(*) FROM {second_table.TABLE}")).scalar_one()


@pytest.fixture(scope="module")
def own(tmp_path_factory, airflow_db):
    """A project whose params.yaml came from `init` on the survey table, which lives outside var/."""
    project = make_project(tmp_path_factory.mktemp("own") / "project")
    for folder in ("dags", "plugins"):
        shutil.copytree(REPO / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
    env, _, _ = project_env(project)
    url = f"sqlite:///{project.parent / 'warehouse.db'}"
    second_table.write(url, days=DAYS, rows=ROWS, start=START)
    params_file = project / "params.yaml"
    init = ["--params", str(params_file), "init", "--source-url", url, "--table", second_table.TABLE]
    options = ["--target", "moved_out", "--exclude", "interviewer", "--exclude", "survey_weight"]
    assert main([*init, *options, "--label-delay-days", str(DELAY), "--write", str(params_file)]) == 0
    second_table.write_suite(params_file)
    layout = Layout.from_env(project, {SOURCE_URL_ENV: url, "MLOPS_AIRFLOW_PORT": "18931"})
    try:
        yield {
            "project": project,
            "url": url,
            "layout": layout,
            "params": load_params(params_file),
            "env": env,
        }
    finally:
        env.restore()


def test_a_table_that_does_not_match_stops_before_any_server_in_one_line(own, tmp_path):
    """cmd_up itself: the mismatch is named before supervisord, Airflow or MLflow is started."""
    url = f"sqlite:///{tmp_path / 'other.db'}"
    frame = second_table.generate_day(START, 5).drop(columns=["tenure"])
    frame["monthly_rent"] = frame["monthly_rent"].map(lambda v: f"{v} USD")
    frame.to_sql(second_table.TABLE, sa.create_engine(url), index=False)
    layout = Layout.from_env(own["project"], {SOURCE_URL_ENV: url, "MLOPS_AIRFLOW_PORT": "18932"})
    with pytest.raises(StackError) as caught:
        stack_cli.cmd_up(layout)
    message = str(caught.value)
    assert "\n" not in message, "one line naming every mismatch"
    assert "missing columns ['tenure']" in message
    assert "monthly_rent is TEXT in the table but float in schema.features" in message
    assert not layout.airflow_home.exists() and not layout.env_file.exists(), "nothing started or written"


def test_the_example_schema_check_names_the_switch(own):
    """Without MLOPS_SOURCE_URL the stack seeds the simulator, which writes only the example's schema."""
    layout = Layout.from_env(own["project"], {})
    with pytest.raises(StackError, match=f"example credit-risk schema.*{SOURCE_URL_ENV}"):
        bootstrap.check_source(layout, own["params"])


def test_the_stack_plans_and_runs_the_backfill_from_the_tables_own_days(own):
    layout, params, url = own["layout"], own["params"], own["url"]
    source = bootstrap.check_source(layout, params)
    assert source is not None and source.rows == DAYS * ROWS
    assert (source.first_day, source.last_day) == (
        START,
        START + dt.timedelta(days=DAYS - 1),
    )
    planned = backfill.nights(layout, params)
    assert planned == [START + dt.timedelta(days=DELAY + i) for i in range(DAYS)]
    assert bootstrap.seed(layout, params, dt.date.today(), source)[0].startswith(
        f"    table '{second_table.TABLE}': {DAYS * ROWS} rows over {DAYS} days"
    )
    assert _count(url) == DAYS * ROWS, "the user's table is never written"
    env = layout.stack_env()
    assert json.loads(env["AIRFLOW_CONN_SOURCE_DB"])["host"] == str(own["project"].parent / "warehouse.db")

    # The stack's own step: `airflow backfill create` in the project's metadata DB, from the table's days. The
    # DB is a copy of the session's, migrated with the dvc_repo pool (what commands.prepare_airflow_db does, in
    # this process: two more interpreters importing Airflow would double the test's time on a busy machine).
    layout.airflow_home.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(
        str(conf.get("database", "sql_alchemy_conn")).removeprefix("sqlite:///")
    ) as session_db:
        with sqlite3.connect(layout.airflow_db) as copy:
            session_db.backup(copy)
    backfill.create_offline(layout, params)
    # The runs it created, read from that DB here: `airflow dags list-runs` (create_offline's own look) would be
    # a fourth Airflow interpreter after its three, 5 CPU s, for the same rows.
    with sqlite3.connect(layout.airflow_db) as db:
        runs = db.execute(
            "SELECT run_id, logical_date FROM dag_run WHERE dag_id = ?", (INGEST_DAG_ID,)
        ).fetchall()
    ours = sorted(str(logical)[:10] for run_id, logical in runs if run_id.startswith("backfill__"))
    assert ours == [n.isoformat() for n in planned]

    # The planned nights through the real ingestion DAG, reading the table through the stack's connection.
    own["env"].set(AIRFLOW_CONN_SOURCE_DB=env["AIRFLOW_CONN_SOURCE_DB"])
    for night in planned:
        run = run_dag(INGEST_DAG_ID, logical_date=night)
        assert str(run.state) == "success", night
        day = night - dt.timedelta(days=DELAY)
        snapshot = pd.read_parquet(own["project"] / "data" / snapshot_name(day))
        assert len(snapshot) == ROWS and list(snapshot.columns) == params.schema.columns
