"""The service follows a real MLflow registry (SQLite store): a promoted version is loaded beside the serving one,
tested and swapped; a corrupt version is refused and the old one keeps serving; the alias moving back swaps the
warm model in at once; the cache serves a restart while the registry is down, and nothing cached refuses to start."""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import sqlalchemy as sa
from mlflow import MlflowClient
from tabular_mlops.core.contracts import CHAMPION, SERVING_CACHE_POINTER, Tag
from tabular_mlops.data.simulate import generate_day
from tabular_mlops.model.scoring import model_frame
from tabular_mlops.model.trusted_files import UntrustedModelError, verified_copy
from tabular_mlops.serving.server import MLFLOW_HTTP_DEFAULTS
from tabular_mlops.serving.service import ScoringService
from tabular_mlops.serving.settings import ServiceEnv, StartupError
from tabular_mlops.training.features import build_pipeline
from tabular_mlops.training.train import log_model

from tests.support.gate_marks import promote_as_the_gate
from tests.support.project import REPO

NAME = "credit_default"


def fit(schema, seed: int, max_iter: int = 20):
    df = pd.concat([generate_day(dt.date(2026, 2, 1) + dt.timedelta(days=i), 1000, seed) for i in range(2)])
    model = build_pipeline(schema, {"model": "hist_gradient_boosting", "max_iter": max_iter}, seed)
    return model.fit(model_frame(df, schema), df[schema.target_column].astype(int)), model_frame(
        df.head(50), schema
    )


def register(schema, seed: int) -> str:
    """Log and register a fitted pipeline the way training does: skops file, checksum tag."""
    model, sample = fit(schema, seed)
    with mlflow.start_run():
        info = log_model(model, sample, REPO)
    with verified_copy(info.model_uri) as verified:
        sha = verified.sha256
    return str(mlflow.register_model(info.model_uri, NAME, tags={Tag.MODEL_SHA256: sha}).version)


LEDGER: list[sa.Engine] = []


def promote(version: str) -> None:
    """The alias moved with the gate's marks, in the ledger of the service under test (its log database)."""
    promote_as_the_gate(NAME, version, LEDGER[-1])


def model_dir(version: str) -> Path:
    return Path(MlflowClient().get_model_version_download_uri(NAME, version).removeprefix("file://"))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def registry(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for key, value in MLFLOW_HTTP_DEFAULTS.items():  # as `tabular-mlops serve` sets them
        monkeypatch.setenv(key, value)
    mlflow.set_tracking_uri(uri)
    exp = mlflow.create_experiment("serving", artifact_location=(tmp_path / "artifacts").as_uri())
    # Not mlflow.set_experiment: it sets a process global that outlives the test, and a later test module on the
    # same pytest-xdist worker then fails `start_run(run_id=...)` on its own store ("active experiment ID does not
    # match"); the environment variable is restored by monkeypatch.
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", exp)
    LEDGER.append(
        sa.create_engine(f"sqlite:///{tmp_path / 'log.db'}")
    )  # service_for(..., tmp_path) logs there
    yield uri
    LEDGER.pop().dispose()
    mlflow.set_tracking_uri(None)


def service_for(params, root: Path, tracking_uri: str) -> ScoringService:
    params = dataclasses.replace(params, serving=dataclasses.replace(params.serving, poll_seconds=3600.0))
    return ScoringService(params, ServiceEnv(tracking_uri, f"sqlite:///{root / 'log.db'}", None), root)


def test_follow_promotions_refuse_a_corrupt_version_and_swap_back(repo_params, registry, tmp_path):
    schema = repo_params.schema
    v1 = register(schema, 1)
    promote(v1)
    service = service_for(repo_params, tmp_path, registry)
    assert service.load_initial().outcome == "swapped"
    assert service.holder.current.version == v1 and service.readiness() == ("ready", [])

    v2 = register(schema, 2)
    promote(v2)
    result = service.follower.refresh()
    assert result.outcome == "swapped" and service.holder.current.version == v2
    assert service.holder.previous.version == v1

    v3 = register(schema, 3)
    skops_file = next(model_dir(v3).glob("*.skops"))
    skops_file.write_bytes(skops_file.read_bytes()[:100])  # corrupt after registration
    promote(v3)
    refused = service.follower.refresh()
    assert refused.outcome == "refused" and "checksum" in refused.reason
    assert service.holder.current.version == v2  # the old one keeps serving
    again = service.follower.refresh()
    assert again.outcome == "refused"  # remembered: not downloaded again every poll

    promote(v1)  # the alias moves back: v1 is still warm
    back = service.follower.refresh()
    assert back.outcome == "swapped" and "warm" in back.reason and service.holder.current.version == v1


def test_a_restart_with_the_registry_down_serves_the_cache_degraded(repo_params, registry, tmp_path):
    v1 = register(repo_params.schema, 1)
    promote(v1)
    service_for(repo_params, tmp_path, registry).load_initial()  # caches v1
    assert (tmp_path / repo_params.serving.cache_dir / NAME / SERVING_CACHE_POINTER).exists()

    down = f"http://127.0.0.1:{closed_port()}"
    mlflow.set_tracking_uri(down)
    restarted = service_for(repo_params, tmp_path, down)
    first = restarted.load_initial()
    assert first.outcome == "registry_unavailable"
    assert restarted.holder.current.version == v1 and restarted.holder.current.origin == "cache"
    status, reasons = restarted.readiness()
    assert (
        status == "degraded" and "from the local cache" in reasons[0] and "registry unreachable" in reasons[1]
    )

    mlflow.set_tracking_uri(registry)  # the registry is back: the same version, now confirmed by it
    assert restarted.follower.refresh().outcome == "unchanged"
    assert restarted.holder.current.origin == "registry" and restarted.readiness()[0] == "ready"


def test_a_tampered_cache_is_refused_and_nothing_cached_refuses_to_start(repo_params, registry, tmp_path):
    promote(register(repo_params.schema, 1))
    service_for(repo_params, tmp_path, registry).load_initial()
    down = f"http://127.0.0.1:{closed_port()}"
    mlflow.set_tracking_uri(down)

    cached = next((tmp_path / repo_params.serving.cache_dir / NAME).glob("v*/*.skops"))
    cached.write_bytes(cached.read_bytes() + b"tampered")
    with pytest.raises(StartupError, match="cached model is refused.*checksum"):
        service_for(repo_params, tmp_path, down).load_initial()

    empty = tmp_path / "fresh"
    with pytest.raises(StartupError) as err:
        service_for(repo_params, empty, down).load_initial()
    assert "registry unreachable" in str(err.value) and "no champion is cached" in str(err.value)


def test_the_cache_loads_only_through_the_safe_checks(repo_params, registry, tmp_path):
    promote(register(repo_params.schema, 1))
    service = service_for(repo_params, tmp_path, registry)
    service.load_initial()
    mlmodel = next((tmp_path / repo_params.serving.cache_dir / NAME).glob("v*/MLmodel"))
    mlmodel.write_text(
        mlmodel.read_text().replace("serialization_format: skops", "serialization_format: cloudpickle")
    )
    with pytest.raises(UntrustedModelError, match="cloudpickle"):
        service.cache.load_last_good()


def test_a_champion_moved_by_hand_is_refused_and_the_refusal_is_visible(repo_params, registry, tmp_path):
    """Issue 22 item 5: a version registered with its own checksum and set champion by hand was swapped in. Now
    the gate's marks (its `gate.decision` tag and a ledger row) are required, whatever the alias says."""
    v1 = register(repo_params.schema, 1)
    promote(v1)
    service = service_for(repo_params, tmp_path, registry)
    service.load_initial()

    intruder = register(repo_params.schema, 2)  # a valid model with a correct model_sha256 tag
    MlflowClient().set_registered_model_alias(NAME, CHAMPION, intruder)
    refused = service.follower.refresh()
    assert refused.outcome == "refused" and "not promoted by the gate" in refused.reason
    assert "gate.decision" in refused.reason and service.holder.current.version == v1
    status, reasons = service.readiness()
    assert status == "degraded" and any(f"v{intruder}, which this service refused" in r for r in reasons)
    assert f'serving_champion_refused{{version="{intruder}"}} 1.0' in service.exposition().decode()

    # the tag forged as well: the ledger (in the monitoring database) still has no promotion of it
    MlflowClient().set_model_version_tag(NAME, intruder, Tag.GATE_DECISION, "promoted")
    forged = service.follower.refresh(force=True)
    assert (
        forged.outcome == "refused"
        and "no promotion of" in forged.reason
        and "promotion_ledger" in forged.reason
    )
    assert service.holder.current.version == v1

    promote(intruder)  # now the gate promotes it: served, and ready again
    assert service.follower.refresh(force=True).outcome == "swapped"
    assert service.holder.current.version == intruder and service.readiness() == ("ready", [])
    assert "serving_champion_refused{" not in service.exposition().decode()


def _pointer(root: Path, params) -> str:
    import json

    return json.loads((root / params.serving.cache_dir / NAME / SERVING_CACHE_POINTER).read_text())["version"]


def test_the_cache_names_the_version_served_after_a_swap_back_or_a_rollback(repo_params, registry, tmp_path):
    """Issue 22 item 8: after the alias moved back to a warm version (or /admin/rollback) the cache still named the
    newer one, so a restart during a registry outage served a version the registry had moved away from."""
    v1, v2 = register(repo_params.schema, 1), register(repo_params.schema, 2)
    promote(v1)
    service = service_for(repo_params, tmp_path, registry)
    service.load_initial()
    promote(v2)
    assert service.follower.refresh().outcome == "swapped" and _pointer(tmp_path, repo_params) == v2

    promote(v1)  # `tabular-mlops rollback` / a hand move back: v1 is warm
    back = service.follower.refresh()
    assert "warm" in back.reason and _pointer(tmp_path, repo_params) == v1

    down = f"http://127.0.0.1:{closed_port()}"
    mlflow.set_tracking_uri(down)
    restarted = service_for(repo_params, tmp_path, down)
    restarted.load_initial()
    assert restarted.holder.current.version == v1 and restarted.holder.current.origin == "cache"
    mlflow.set_tracking_uri(registry)

    promote(v2)
    assert service.follower.refresh().outcome == "swapped" and _pointer(tmp_path, repo_params) == v2
    now, left = service.rollback()  # POST /admin/rollback
    assert (now.version, left.version) == (v1, v2) and _pointer(tmp_path, repo_params) == v1
