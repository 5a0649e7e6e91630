"""Evidently 0.7 reports and workspace on small simulator windows (real Evidently, no Airflow)."""

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest
from tabular_mlops.data.simulate import generate_day
from tabular_mlops.monitoring.evidently_reports import evidently_reports
from tabular_mlops.monitoring.log_window import Population
from tabular_mlops.monitoring.nights_chart import NightPoint
from tabular_mlops.monitoring.workspace import DashboardSettings, drift_share_title, publish_night


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
    assert len(workspace.get_dashboard(project.id).panels) >= 2


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


def evidently_figures(snapshot) -> dict[str, float]:
    """Drift share and per-column drift scores as a stored Evidently snapshot (SnapshotModel) holds them: the
    column's own test under its name, and every PSI result also under `psi.<column>`."""
    out = {}
    for result in snapshot.metric_results.values():
        name = result.display_name
        if name == "Count of Drifted Columns":
            out["drift_share"] = result.share.value
        elif name.startswith("Value drift for "):
            column = name.removeprefix("Value drift for ")
            method = result.metric_value_location.metric.params.get("method")
            if method == "tabular_mlops_psi":
                out[f"psi.{column}"] = result.value
            out.setdefault(column, result.value)
    return out


def test_evidently_shows_the_decisions_figures_on_the_same_rows(repo_params, tmp_path):
    """Same rows, same reference profile: Evidently's drift share, per-column scores, verdicts and score PSI are
    the decision's (window_drift), with params.yaml's thresholds; the snapshot carries night/champion/decision."""
    from evidently.ui.workspace import Workspace
    from tabular_mlops.monitoring.drift import window_drift
    from tabular_mlops.monitoring.reference_profile import build_profile

    schema, monitor = repo_params.schema, repo_params.monitor
    reference = _window(repo_params, "stable", dt.date(2026, 1, 1), 2)
    night = dt.date(2026, 4, 1)
    current = _window(repo_params, "covariate_shift", night, 1).assign(label=np.nan)
    current = current.assign(score=np.clip(current["score"] * 1.4, 0, 1))
    profile = build_profile(reference, schema, monitor)
    decision = window_drift(profile, current, schema, monitor)
    assert decision.drift_share > monitor.drift_share_threshold  # the drill's situation: drift detected
    labels = {"night": night.isoformat(), "champion": "v3", "decision": "retrain", "mark": "retrain"}
    made = evidently_reports(
        schema,
        monitor,
        reference,
        current,
        current.iloc[:0],
        tmp_path / "r",
        night,
        profile=profile,
        labels=labels,
        decision_lines=["decision's figures: drift share 0.364"],
    )
    settings = DashboardSettings(
        monitor.drift_share_threshold, 0.25, 0.25, tuple(monitor.key_features), "rate of moved_out = yes", 30
    )
    point = NightPoint(
        night.isoformat(), "v3", "retrain", decision.drift_share, decision.score_psi, len(current)
    )
    snapshots = {k: s for k, (_, s) in made.items()}
    ids = publish_night(tmp_path / "ws", "p", night, snapshots, settings, labels, point)
    workspace = Workspace.create(str(tmp_path / "ws"))
    (project,) = workspace.search_project("p")
    stored = workspace.get_run(project.id, ids["drift"])
    figures = evidently_figures(stored)
    assert figures["drift_share"] == pytest.approx(decision.drift_share)
    assert figures["score"] == pytest.approx(decision.score_psi)
    for column in decision.columns:
        expected = column.p_value if column.p_value is not None else column.psi
        assert figures[column.column] == pytest.approx(expected), column
    for feature in monitor.key_features:
        assert figures[f"psi.{feature}"] == pytest.approx(decision.psi[feature], abs=1e-6)
    # The data summary: statistics for the key features and the score, missing values for every column.
    names = {r.display_name for r in stored.metric_results.values()}
    summarized = [*monitor.key_features, "score"]
    assert {f"Mean value of '{c}'" for c in summarized} <= names
    others = [f for f in schema.feature_names if f not in monitor.key_features]
    assert others and not any(f"Mean value of '{c}'" in names for c in others)
    assert {f"Column '{c}' missing values" for c in [*schema.feature_names, "score"]} <= names
    assert "Row count in dataset" in names
    panels = workspace.get_dashboard(project.id).panels
    titles = [p.title for p in panels]
    assert drift_share_title(monitor.drift_share_threshold) in titles
    assert any("PSI of the key features" in t for t in titles) and len(panels) == 7
    # No label has matured: a sentence says when, and the matured-label charts (empty boxes) are left out.
    assert not any(t.startswith(("Matured-label", "Matured rate")) for t in titles), titles
    assert not any("default" in t.lower() for t in titles)
    # Bars (from 0, no smoothing, one night visible), one series (Evidently 0.7 draws only the first of series
    # split by tags), what each night decided written beside.
    assert {p.plot_params["plot_type"] for p in panels} == {"bar", "text"}
    share = next(p for p in panels if p.title.startswith("Share of drifted columns"))
    assert [v.tags for v in share.values] == [["kind=drift"]]
    assert share.subtitle.endswith("Decided: 2026-04-01 retrain")
    history = next(p for p in panels if p.title.startswith("Decisions and promotions"))
    assert history.subtitle == "2026-04-01: retrain decided (champion v3)"
    # No label has matured on the first night: the dashboard says when the first will.
    matured = next(p for p in panels if p.title == "Matured labels")
    assert matured.subtitle.endswith(f"come on {night + dt.timedelta(days=30)}.")
    assert stored.metadata == labels and {"mark=retrain", "kind=drift"} <= set(stored.tags)
    # The report page: named by night, champion and decision; the banner first, then the nights chart.
    assert stored.name == "2026-04-01 drift (champion v3, retrain)"
    banner, drift_chart, psi_chart = stored.widgets[:3]
    assert banner.type == "text" and banner.title == "2026-04-01 drift report: champion v3, decision retrain"
    assert "- decision's figures: drift share 0.364" in banner.params["text"]
    assert "the rows the decision used" in banner.params["text"]
    assert (drift_chart.type, psi_chart.type) == ("big_graph", "big_graph")
    (threshold,) = drift_chart.params["layout"]["shapes"]
    assert threshold["y0"] == threshold["y1"] == monitor.drift_share_threshold
    # A night with matured labels: their charts replace the sentence, in the config's wording.
    later = night + dt.timedelta(days=31)
    publish_night(
        tmp_path / "ws",
        "p",
        later,
        {},
        settings,
        {**labels, "night": later.isoformat(), "decision": "keep", "mark": "keep"},
        dataclasses.replace(point, night=later.isoformat(), mark="keep", labelled_rows=1800),
    )
    titles = [p.title for p in workspace.get_dashboard(project.id).panels]
    assert "Matured rate of moved_out = yes" in titles, "the panel speaks the config's wording"
    assert "Matured-label ROC AUC (current champion)" in titles and "Matured labels" not in titles
    (line, mark) = drift_chart.params["data"]
    assert line["line"]["shape"] == "linear" and mark["name"] == "retrain night"
    assert mark["y"] == [pytest.approx(decision.drift_share)]
    html = made["drift"][0].read_text()
    assert "the rows the decision used" in html and "drift share 0.364" in html
    assert f"threshold {monitor.drift_share_threshold}" in html or "0.3" in html


def test_a_sampled_report_says_so(repo_params, tmp_path):
    from tabular_mlops.monitoring.reference_profile import build_profile

    schema = repo_params.schema
    monitor = dataclasses.replace(repo_params.monitor, report_sample_rows=300)
    reference = _window(repo_params, "stable", dt.date(2026, 1, 1), 2)
    current = _window(repo_params, "stable", dt.date(2026, 4, 1), 1).assign(label=np.nan)
    profile = build_profile(reference, schema, repo_params.monitor)

    def drift_html(**banner) -> str:
        made = evidently_reports(
            schema,
            monitor,
            reference,
            current,
            current.iloc[:0],
            tmp_path,
            dt.date(2026, 4, 1),
            profile=profile,
            **banner,
        )
        return made["drift"][0].read_text()

    html = drift_html(decision_lines=["decision's figures (400 rows): drift share 0.000"])
    assert "a random sample of 300 of 400 rows" in html and "drift share 0.000" in html
    # The decision itself on a sample of a bigger window (predictions.read_window): both samples are named.
    html = drift_html(population=Population(rows=9_000, night_rows=400, nights=1, labelled_rows=0))
    assert "current window: 9000 rows; the decision used a reproducible sample of 400 of them" in html
    assert "a random sample of 300 of those" in html


def test_the_history_panel_lists_promotions_and_retrain_decisions():
    from tabular_mlops.monitoring.workspace import _history_text

    nights = {
        "2026-02-03": {"champion": "v1", "decision": "keep"},
        "2026-02-04": {"champion": "v1", "decision": "retrain"},
        "2026-02-05": {"champion": "v2", "decision": "keep"},
    }
    # The promotion is dated by the night whose retraining made it, as Airflow and `why` date it.
    assert _history_text(nights) == (
        "2026-02-04: promotion, v2 replaces v1 (the retraining decided on 2026-02-04) | "
        "2026-02-04: retrain decided (champion v1)"
    )
    assert _history_text({}) == "no retrain decision, promotion or alert yet"
    # A drill monitors past nights after today's: the champion changed between monitoring runs, not dates.
    drill = {
        "2026-11-28": {"champion": "v2", "decision": "keep", "monitored_at": "2026-11-28T01:29:00"},
        "2026-04-01": {"champion": "v2", "decision": "retrain", "monitored_at": "2026-11-28T01:33:00"},
        "2026-04-02": {"champion": "v3", "decision": "keep", "monitored_at": "2026-11-28T01:37:00"},
    }
    assert _history_text(drill) == (
        "2026-04-01: promotion, v3 replaces v2 (the retraining decided on 2026-04-01) | "
        "2026-04-01: retrain decided (champion v2)"
    )


def test_the_history_panel_lists_a_concept_drift_alert_on_the_night_it_was_raised():
    """The stack's concept-drift drill: the alert stood from a cooldown night on, and no dashboard panel said so."""
    from tabular_mlops.monitoring.workspace import _history_text

    alert = (
        "concept drift suspected: realized roc_auc outside the cbpe interval on {} matured nights in a row"
    )
    nights = {
        "2026-03-20": {"champion": "v1", "decision": "retrain"},
        "2026-03-21": {"champion": "v1", "decision": "keep"},
        **{
            f"2026-03-2{d}": {"champion": "v1", "decision": "keep", "self_check": alert.format(d + 1)}
            for d in (2, 3, 4)
        },
        "2026-03-25": {"champion": "v1", "decision": "keep"},
        "2026-03-26": {"champion": "v1", "decision": "keep", "self_check": alert.format(3)},
    }
    # Once per run of nights it stands on, with its figures; a new run is listed again.
    assert _history_text(nights) == (
        f"2026-03-26: {alert.format(3)} (champion v1) | 2026-03-22: {alert.format(3)} (champion v1) | "
        "2026-03-20: retrain decided (champion v1)"
    )


def test_publishing_a_night_does_not_parse_the_earlier_nights_snapshots(repo_params, tmp_path):
    """Evidently's Workspace(path) parses every stored snapshot when it opens, so a publish that opened it grew
    slower every night; publish_night writes through the file state alone. Proof: an earlier night's snapshot that
    Evidently could not parse does not stop the next night's publish (opening a Workspace would raise)."""
    from evidently.ui.workspace import Workspace

    night = dt.date(2026, 4, 1)
    reference = _window(repo_params, "stable", dt.date(2026, 1, 1), 1)
    current = _window(repo_params, "stable", night, 1).assign(label=np.nan)
    made = evidently_reports(
        repo_params.schema, repo_params.monitor, reference, current, current.iloc[:0], tmp_path / "r", night
    )
    workspace_dir = tmp_path / "ws"
    first = publish_night(workspace_dir, "m", night, {k: s for k, (_, s) in made.items()})
    (first_file,) = workspace_dir.glob(f"*/snapshots/{first['drift']}.json")
    first_file.write_text('{"not": "a snapshot"}')
    with pytest.raises(ValueError, match="malformed"):
        Workspace.create(str(workspace_dir))

    later = publish_night(
        workspace_dir, "m", night + dt.timedelta(days=1), {k: s for k, (_, s) in made.items()}
    )
    first_file.unlink()  # now the real Workspace reads what publish_night wrote
    workspace = Workspace.create(str(workspace_dir))
    (project,) = workspace.search_project("m")
    assert {str(i) for i in workspace.list_runs(project.id)} == set(later.values())
    assert [workspace.get_run(project.id, i).name for i in workspace.list_runs(project.id)] == [
        "2026-04-02 drift"
    ]
