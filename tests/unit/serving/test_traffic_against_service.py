"""The load generator against a real uvicorn serving the real app (a fitted pipeline, no registry): every
simulated application answered, re-submissions counted, the rate held; and a service that is down is counted
as transport errors, not raised."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time

import pytest
import uvicorn
from tabular_mlops.serving.app import create_app
from tabular_mlops.stack.traffic import (
    TRANSPORT_ERROR,
    TrafficPlan,
    TrafficSummary,
    run_traffic,
    simulated_rows,
)

from tests.support.scoring_service import make_service


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def service_url(repo_params, tmp_path, fitted):
    port = _free_port()
    app = create_app(make_service(repo_params, tmp_path, fitted))
    server = uvicorn.Server(uvicorn.Config(app, "127.0.0.1", port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def bodies(repo_params):
    schema = repo_params.schema
    return simulated_rows(
        dt.date(2026, 2, 1), 150, 9, id_column=schema.id_column, feature_columns=schema.feature_names
    )


def test_simulated_rows_replayed_against_the_real_service(service_url, bodies, repo_params):
    plan = TrafficPlan(url=service_url, rate_per_second=100, concurrency=4, requests=200, resubmit_share=0.2)
    summary = run_traffic(plan, bodies, id_column=repo_params.schema.id_column)
    assert summary.statuses == {"200": 200}, summary.errors
    assert summary.by_model_version == {"1": 200} and summary.fallbacks == 0
    assert 20 <= summary.resubmitted <= 60 and summary.ids_answered_by_several_versions == 0
    assert 0 < summary.latency_ms["p50"] <= summary.latency_ms["p99"] <= summary.latency_ms["max"]
    # Open loop at 100/s: the 200th request is not sent before 1.99 s.
    assert summary.seconds >= 1.99 and summary.achieved_rate <= 100.5
    assert TrafficSummary.from_dict(summary.to_dict()) == summary


def test_more_requests_than_applications_reuse_them_under_fresh_ids(service_url, bodies, repo_params):
    plan = TrafficPlan(url=service_url, rate_per_second=500, concurrency=8, requests=400, resubmit_share=0.0)
    summary = run_traffic(plan, bodies, id_column=repo_params.schema.id_column)
    # 400 fresh requests from 150 applications: ids `x`, `x~2`, `x~3` are all valid and answered.
    assert summary.statuses == {"200": 400} and summary.resubmitted == 0


def test_a_service_that_is_down_is_counted_not_raised(bodies, repo_params):
    plan = TrafficPlan(
        url=f"http://127.0.0.1:{_free_port()}", rate_per_second=200, concurrency=2, requests=20
    )
    summary = run_traffic(plan, bodies, id_column=repo_params.schema.id_column)
    assert summary.statuses == {TRANSPORT_ERROR: 20} and summary.latency_ms == {}
    assert summary.errors == ("ConnectError",)


def test_a_bad_plan_is_refused_by_name():
    with pytest.raises(ValueError, match="rate_per_second=0"):
        TrafficPlan(url="http://127.0.0.1:1", rate_per_second=0, concurrency=1, requests=1)
    with pytest.raises(ValueError, match="url='localhost:8000'"):
        TrafficPlan(url="localhost:8000", rate_per_second=1, concurrency=1, requests=1)
    with pytest.raises(ValueError, match="lack columns \\['nope'\\]"):
        simulated_rows(dt.date(2026, 2, 1), 5, 1, id_column="application_id", feature_columns=["nope"])


def test_the_traffic_command_replays_against_the_service(service_url, tmp_path, monkeypatch, capsys):
    """`tabular-mlops traffic` as `cli.main`, the function the command calls (its exit code and printed summary),
    in this process: two interpreters importing the package cost 7 CPU s for nothing this test checks."""
    import json

    from tabular_mlops.cli import main

    from tests.support.project import REPO

    monkeypatch.chdir(tmp_path)
    cli = ["--params", str(REPO / "params.yaml"), "traffic"]
    args = ["--url", service_url, "--rate", "200", "--requests", "60", "--concurrency", "2", "--seed", "4"]
    assert main([*cli, *args]) == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert summary["statuses"] == {"200": 60} and summary["by_model_version"] == {"1": 60}
    assert main([*cli, "--url", f"http://127.0.0.1:{_free_port()}", "--requests", "3"]) == 1
    assert json.loads(capsys.readouterr().out)["statuses"] == {TRANSPORT_ERROR: 3}
