"""monitor_nightly and the typed night result agree: `route` branches on NightResult.action, and the retraining's
conf templates read keys that NightResult.to_dict() has at its top level."""

import datetime as dt
import re
from dataclasses import replace

import pytest
from tabular_mlops.monitoring.results import Action, Decision, NightResult, NightSummary, Status

from tests.support.project import REPO

NIGHT = dt.date(2026, 4, 4)


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags")).dags["monitor_nightly"]


def _result(action):
    summary = NightSummary(NIGHT, Status.OK, 8400, 1200, 28_000, 8400.0, 0)
    decision = Decision(NIGHT, Status.OK, action, ("why",))
    return NightResult(summary, decision, (), "1", "run", (), NIGHT - dt.timedelta(days=30))


def test_route_branches_on_the_night_results_action(dag):
    route = dag.get_task("route").python_callable
    assert route(_result(Action.RETRAIN).to_dict()) == "trigger_retraining"
    assert route(_result(Action.KEEP).to_dict()) == "keep_champion"
    no_decision = _result(None)
    no_decision = replace(no_decision, decision=replace(no_decision.decision, status=Status.TOO_FEW_ROWS))
    assert route(no_decision.to_dict()) == "keep_champion"


def test_retraining_conf_reads_top_level_keys_of_the_night_result(dag):
    conf = dag.get_task("trigger_retraining").conf
    keys = {
        k
        for value in conf.values()
        for k in re.findall(r"xcom_pull\(task_ids='report_and_decide'\)\['(\w+)'\]", value)
    }
    assert keys == {"reason", "training_window_end"}
    data = _result(Action.RETRAIN).to_dict()
    assert keys <= set(data) and data["reason"] == "why" and data["training_window_end"] == "2026-03-05"
