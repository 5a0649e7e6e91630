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

    train(params, project)

    from mlflow import MlflowClient

    client = MlflowClient()
    for run_id in killed:
        run = client.get_run(run_id)
        assert run.info.status == "FAILED"
        assert "process had died" in run.data.tags["ended_by"]
    assert _running(experiment) == []
