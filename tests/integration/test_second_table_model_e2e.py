"""Bring your own data, the model half: the survey table (string yes/no target, integer state codes, an int feature
without gaps, a nullable text category, extra columns, 2019 dates) goes from `tabular-mlops init` to a gated champion
and monitored nights through the real DAGs (dag.test), with configuration alone: init's schema, plus the window
sizes a user picks for a short history. No code, no credit words."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from tabular_mlops.cli import main
from tabular_mlops.core.config import load_params

from tests import second_table
from tests.support.airflow_runs import project_env, run_dag, task_states
from tests.support.project import make_project

pytestmark = pytest.mark.e2e

DAYS = 22
HISTORY_END = second_table.START + dt.timedelta(days=17)  # application days START..HISTORY_END - 1
NIGHTS = [HISTORY_END + dt.timedelta(days=i) for i in range(2)]


@pytest.fixture(scope="module")
def survey(tmp_path_factory, airflow_db):
    project = make_project(tmp_path_factory.mktemp("survey-model") / "project")
    env, db, _ = project_env(project)
    second_table.write(f"sqlite:///{db}", days=DAYS, rows=400)
    params_file = project / "params.yaml"
    assert (
        main(
            [
                "--params",
                str(params_file),
                "init",
                "--source-url",
                f"sqlite:///{db}",
                "--table",
                second_table.TABLE,
                "--target",
                "moved_out",
                "--exclude",
                "interviewer",
                "--exclude",
                "survey_weight",
                "--write",
                str(params_file),
            ]
        )
        == 0
    )
    # The review step: windows that fit a three-week history (the example's are 45 and 10 days).
    raw = yaml.safe_load(params_file.read_text())
    raw["preprocess"].update({"window_days": 17, "holdout_days": 4})
    raw["monitor"].update({"window_days": 3, "min_rows": 200})
    params_file.write_text(yaml.safe_dump(raw, sort_keys=False))
    second_table.write_suite(params_file)
    out = {"project": project, "params": load_params(params_file), "monitor": {}}
    try:
        out["history"] = run_dag(
            "ingest",
            conf={"window_start": second_table.START.isoformat(), "window_end": HISTORY_END.isoformat()},
        )
        out["train"] = run_dag("train_model", logical_date=HISTORY_END, conf={"reason": "first survey model"})
        for night in NIGHTS:
            out["monitor"][night] = run_dag("monitor_nightly", logical_date=night)
        yield out
    finally:
        env.restore()


def _version(params):
    from mlflow import MlflowClient
    from tabular_mlops.core.contracts import CHAMPION

    client = MlflowClient()
    return client.get_model_version_by_alias(params.registry.model_name, CHAMPION)


def test_init_config_trains_a_gated_champion(survey):
    from tabular_mlops.core.contracts import Tag

    params = survey["params"]
    assert str(survey["history"].state) == "success"
    assert str(survey["train"].state) == "success", task_states(survey["train"])
    champion = _version(params)
    tags = champion.tags
    assert tags[Tag.GATE_DECISION] == "promoted", tags
    assert tags[f"{Tag.GATE_PREFIX}model_tests"].startswith("passed"), "nullable category and int codes pass"
    assert float(tags[f"{Tag.HOLDOUT_PREFIX}roc_auc"]) > 0.7
    # The description speaks of the survey's target, never of loans or defaults.
    assert "moved_out" in champion.description
    assert "loan" not in champion.description.lower() and "default" not in champion.description.lower()


def test_monitoring_covers_the_survey_nights(survey):
    from tabular_mlops.monitoring.night_record import read_result

    project, params = survey["project"], survey["params"]
    for night, run in survey["monitor"].items():
        assert str(run.state) == "success", (night, task_states(run))
        result = read_result(project, params.paths, night)
        assert result.summary.rows > 0 and result.summary.window is not None
        # Every column type is compared: int codes, an int without gaps, floats, a nullable text category.
        assert {c.column for c in result.summary.window.columns} == set(params.schema.feature_names)
        assert result.reports, "Evidently's reports are made for int, float and category columns alike"
        assert not [a for a in result.alerts if "loan" in a.message.lower()]
