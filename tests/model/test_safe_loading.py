"""Loading a registered model never runs foreign code: a tampered MLmodel (cloudpickle payload), a truncated or
swapped model file, or a skops file with types outside the allow-list is refused; a refused challenger is
rejected with the reason and loses its alias, and the champion keeps its place."""

from __future__ import annotations

import datetime as dt
import os
import pickle
import shutil
from pathlib import Path

import pytest
import yaml
from tabular_mlops.core.config import load_params
from tabular_mlops.core.contracts import CHALLENGER, CHAMPION, Tag
from tabular_mlops.model.scoring import load_version
from tabular_mlops.model.tracking import configure_tracking
from tabular_mlops.model.trusted_files import UntrustedModelError, sha256_of
from tabular_mlops.training import registry
from tabular_mlops.training.evaluate import evaluate
from tabular_mlops.training.preprocess import split_window
from tabular_mlops.training.train import train

from tests.support.project import ledger_engine, make_project, publish_history, register, tracking_store

START = dt.date(2026, 1, 1)


class Payload:
    """What an attacker would put in a pickle: unpickling it runs a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    """A project whose v1 is champion and whose v2 is a fresh challenger."""
    project = make_project(tmp_path_factory.mktemp("safe") / "project")
    with tracking_store(f"sqlite:///{project / 'mlflow.db'}"):
        params = load_params(project / "params.yaml")
        publish_history(project, params)
        split_window(params, project)
        configure_tracking(params, project)
        versions = []
        for _ in range(2):
            train(params, project)
            evaluate(params, project)
            versions.append(register(params, project).version)
            if len(versions) == 1:
                promoted = registry.promote_if_better(
                    params, project, versions[0], ledger_engine(project), "test"
                )
                assert promoted.promoted
        yield project, params, versions


def _artifact_dir(name: str, version: str) -> Path:
    from mlflow import MlflowClient

    uri = MlflowClient().get_model_version_download_uri(name, version)
    path = Path(uri.removeprefix("file://"))
    assert (path / "MLmodel").exists(), uri
    return path


@pytest.fixture
def pristine(registered):
    """Restore the challenger's artifact folder after a test tampers with it."""
    project, params, versions = registered
    folder = _artifact_dir(params.registry.model_name, versions[1])
    backup = folder.with_name(folder.name + ".bak")
    shutil.copytree(folder, backup)
    yield registered, folder
    shutil.rmtree(folder)
    backup.rename(folder)


def test_registration_records_the_checksum_and_the_version_loads(registered):
    _, params, versions = registered
    name = params.registry.model_name
    loaded = load_version(name, versions[1])
    folder = _artifact_dir(name, versions[1])
    assert loaded.tags[Tag.MODEL_SHA256] == sha256_of(folder / "model.skops")
    assert hasattr(loaded.model, "predict_proba")


def test_a_cloudpickle_mlmodel_is_refused_without_running_its_payload(pristine, tmp_path):
    (_, params, versions), folder = pristine
    marker = tmp_path / "payload-ran"
    (folder / "model.pkl").write_bytes(pickle.dumps(Payload(marker)))
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    mlmodel["flavors"]["sklearn"].update(
        {"serialization_format": "cloudpickle", "pickled_model": "model.pkl"}
    )
    mlmodel["flavors"]["python_function"]["model_path"] = "model.pkl"
    (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))

    with pytest.raises(UntrustedModelError, match="cloudpickle"):
        load_version(params.registry.model_name, versions[1])
    assert not marker.exists()

    # The attack is real: MLflow's own loader follows the MLmodel file and runs the payload.
    import mlflow

    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    loaded = mlflow.sklearn.load_model(str(copy))
    assert marker.exists() and not hasattr(loaded, "predict_proba")


def test_a_truncated_model_file_is_refused(pristine):
    (_, params, versions), folder = pristine
    data = (folder / "model.skops").read_bytes()
    (folder / "model.skops").write_bytes(data[: len(data) // 2])
    with pytest.raises(UntrustedModelError, match="checksum"):
        load_version(params.registry.model_name, versions[1])


def test_foreign_types_are_refused_even_with_a_matching_checksum(pristine):
    """An attacker with write access to the registry could re-tag the checksum; the type allow-list still holds."""
    import skops.io as sio
    from mlflow import MlflowClient
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    (_, params, versions), folder = pristine
    sio.dump(make_pipeline(FunctionTransformer(os.system)), folder / "model.skops")
    name = params.registry.model_name
    client = MlflowClient()
    original = client.get_model_version(name, versions[1]).tags[Tag.MODEL_SHA256]
    client.set_model_version_tag(name, versions[1], Tag.MODEL_SHA256, sha256_of(folder / "model.skops"))
    try:
        with pytest.raises(UntrustedModelError, match="allow-list"):
            load_version(name, versions[1])
    finally:
        client.set_model_version_tag(name, versions[1], Tag.MODEL_SHA256, original)


def test_a_refused_challenger_is_rejected_loses_its_alias_and_the_champion_stays(pristine):
    (project, params, versions), folder = pristine
    from mlflow import MlflowClient

    name = params.registry.model_name
    client = MlflowClient()
    (folder / "model.skops").write_bytes(b"not a model")
    assert registry.alias_version(name, CHALLENGER) == versions[1]

    result = registry.promote_if_better(params, project, versions[1], ledger_engine(project), "test")

    assert result.promoted is False and result.refused is True
    tags = client.get_model_version(name, versions[1]).tags
    assert tags[Tag.GATE_DECISION].startswith("rejected: model refused")
    assert tags[f"{Tag.GATE_PREFIX}model_tests"].startswith("failed")
    assert registry.alias_version(name, CHALLENGER) is None
    assert registry.alias_version(name, CHAMPION) == versions[0]
    assert load_version(name, versions[0]).model is not None
