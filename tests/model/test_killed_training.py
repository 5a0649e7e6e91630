"""A training process that dies (SIGKILL) leaves no MLflow run in RUNNING: the next training marks its runs
FAILED, and says why."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time

import pytest
from tabular_mlops.core.config import load_params
from tabular_mlops.core.contracts import RunStage, Tag
from tabular_mlops.model.tracking import configure_tracking
from tabular_mlops.training.preprocess import split_window
from tabular_mlops.training.train import train

from tests.support.project import make_project, publish_history, tracking_store

START = dt.date(2026, 1, 1)


@pytest.fixture
def project(tmp_path):
    project = make_project(tmp_path / "project")
    params = load_params(project / "params.yaml")
    publish_history(project, params, rows=1500)
    split_window(params, project)
    with tracking_store(f"sqlite:///{project / 'mlflow.db'}"):
        yield project, params


def _running(experiment_id: str) -> list:
    from mlflow import MlflowClient

    return MlflowClient().search_runs([experiment_id], "attributes.status = 'RUNNING'")


def test_a_killed_training_is_marked_failed_by_the_next_one(project):
    project, params = project
    experiment = configure_tracking(params, project)
    env = {**os.environ, "MLOPS_PROJECT_DIR": str(project)}
    proc = subprocess.Popen([sys.executable, "-m", "tabular_mlops.training.train"], cwd=project, env=env)
    try:
        deadline = time.monotonic() + 300
        while not any(r.data.tags.get(Tag.STAGE) == RunStage.CANDIDATE for r in _running(experiment)):
            assert proc.poll() is None, "training ended before it could be killed"
            assert time.monotonic() < deadline, "no candidate run appeared"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed = {r.info.run_id for r in _running(experiment)}
    assert killed, "the killed training left no RUNNING run: nothing to test"
    assert all(Tag.HEARTBEAT in r.data.tags for r in _running(experiment))  # what another host judges by

    train(params, project)

    from mlflow import MlflowClient

    client = MlflowClient()
    for run_id in killed:
        run = client.get_run(run_id)
        assert run.info.status == "FAILED"
        assert "process had died" in run.data.tags["ended_by"]
    assert _running(experiment) == []


def test_a_dead_workers_runs_are_failed_from_another_host_by_their_stale_heartbeat(tmp_path):
    """Issue 22 item 11: a killed Celery worker's runs stayed RUNNING for ever: only a training on the same host
    could see that the process was gone. A heartbeat older than the limit now says so on any host."""
    from mlflow import MlflowClient
    from tabular_mlops.model.tracking import STALE_AFTER_SECONDS, fail_orphaned_runs

    with tracking_store(f"sqlite:///{tmp_path / 'mlflow.db'}"):
        client = MlflowClient()
        experiment = client.create_experiment("killed-worker", (tmp_path / "artifacts").as_uri())
        now = dt.datetime.now(dt.UTC)

        def run(beat: dt.datetime | None) -> str:
            tags = {Tag.PROCESS: "worker-7.elsewhere:4242"}  # another host: its pid cannot be checked here
            if beat is not None:
                tags[Tag.HEARTBEAT] = beat.isoformat(timespec="seconds")
            return client.create_run(experiment, tags=tags).info.run_id

        dead = run(now - dt.timedelta(seconds=STALE_AFTER_SECONDS + 60))
        alive = run(now - dt.timedelta(seconds=30))
        legacy = run(None)  # from before heartbeats: nothing says it died
        assert fail_orphaned_runs(experiment) == [dead]
        ended = client.get_run(dead)
        assert ended.info.status == "FAILED" and "heartbeat stopped" in ended.data.tags["ended_by"]
        assert {client.get_run(r).info.status for r in (alive, legacy)} == {"RUNNING"}


def test_the_heartbeat_keeps_a_live_runs_tag_fresh(tmp_path):
    from mlflow import MlflowClient
    from tabular_mlops.model.tracking import Heartbeat

    with tracking_store(f"sqlite:///{tmp_path / 'mlflow.db'}"):
        client = MlflowClient()
        experiment = client.create_experiment("beating", (tmp_path / "artifacts").as_uri())
        run_id = client.create_run(experiment).info.run_id
        with Heartbeat(every=0.2) as beat:
            beat.add(run_id)
            first = client.get_run(run_id).data.tags[Tag.HEARTBEAT]
            deadline = time.monotonic() + 30
            while client.get_run(run_id).data.tags[Tag.HEARTBEAT] == first:
                assert time.monotonic() < deadline, "the heartbeat never beat again"
                time.sleep(0.2)
        assert dt.datetime.fromisoformat(
            client.get_run(run_id).data.tags[Tag.HEARTBEAT]
        ) > dt.datetime.fromisoformat(first)
