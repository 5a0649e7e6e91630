"""Evidently 0.7 reports and workspace on small simulator windows (real Evidently, no Airflow)."""

import datetime as dt

import numpy as np
import pandas as pd
from tabular_mlops.data.simulate import generate_day
from tabular_mlops.monitoring.summary import evidently_reports
from tabular_mlops.monitoring.workspace import publish_night


def _window(params, scenario, start, days, rows=400):
    df = pd.concat([generate_day(start + dt.timedelta(days=i), rows, 7, scenario) for i in range(days)])
    scores = np.random.default_rng(0).random(len(df))
    return df.reset_index(drop=True).assign(
        score=scores, label=df[params.schema.target_column].to_numpy(float)
    )


def test_performance_report_uses_the_matured_window_and_workspace_replaces_a_rerun_night(
    repo_params, tmp_path
):
    from evidently.ui.workspace import Workspace

    reference = _window(repo_params, "stable", dt.date(2026, 1, 1), 2)
    night = dt.date(2026, 4, 1)
    # Current rows have no labels yet (they mature later); the matured window is older and labelled.
    current = _window(repo_params, "covariate_shift", night, 1).assign(label=np.nan)
    matured = _window(repo_params, "label_drift", night - dt.timedelta(days=30), 1, rows=600)
    made = evidently_reports(
        repo_params.schema, repo_params.monitor, reference, current, matured, tmp_path / "reports", night
    )
    assert set(made) == {"drift", "performance"}
    assert all(path.stat().st_size > 10_000 for path, _ in made.values())
    no_labels = evidently_reports(
        repo_params.schema, repo_params.monitor, reference, current, matured.iloc[:0], tmp_path / "r2", night
    )
    assert set(no_labels) == {"drift"}

    workspace_dir = tmp_path / "ws"
    first = publish_night(
        workspace_dir, "credit_default monitoring", night, {k: s for k, (_, s) in made.items()}
    )
    again = publish_night(
        workspace_dir, "credit_default monitoring", night, {k: s for k, (_, s) in made.items()}
    )
    workspace = Workspace.create(str(workspace_dir))
    (project,) = workspace.search_project("credit_default monitoring")
    runs = [workspace.get_run(project.id, i) for i in workspace.list_runs(project.id)]
    assert sorted(r.name for r in runs) == ["2026-04-01 drift", "2026-04-01 performance"]
    assert {str(i) for i in workspace.list_runs(project.id)} == set(again.values())
    assert set(first.values()).isdisjoint(again.values())
    assert all(r.timestamp == dt.datetime(2026, 4, 1) for r in runs)
    assert len(workspace.get_dashboard(project.id).panels) == 2


def test_a_rerun_night_that_makes_fewer_reports_drops_the_stale_ones(repo_params, tmp_path):
    from evidently.ui.workspace import Workspace

    reference = _window(repo_params, "stable", dt.date(2026, 1, 1), 2)
    night = dt.date(2026, 4, 2)
    current = _window(repo_params, "stable", night, 1).assign(label=np.nan)
    matured = _window(repo_params, "stable", night - dt.timedelta(days=30), 2)
    made = evidently_reports(
        repo_params.schema, repo_params.monitor, reference, current, matured, tmp_path / "a", night
    )
    fewer = evidently_reports(
        repo_params.schema, repo_params.monitor, reference, current, matured.iloc[:0], tmp_path / "b", night
    )
    publish_night(tmp_path / "ws", "p", night, {k: s for k, (_, s) in made.items()})
    publish_night(tmp_path / "ws", "p", night, {k: s for k, (_, s) in fewer.items()})
    workspace = Workspace.create(str(tmp_path / "ws"))
    (project,) = workspace.search_project("p")
    names = [workspace.get_run(project.id, i).name for i in workspace.list_runs(project.id)]
    assert names == ["2026-04-02 drift"]
