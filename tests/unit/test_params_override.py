"""$MLOPS_PARAMS_OVERRIDE: a YAML file laid over params.yaml by every reader (the deploy rehearsal's label delay
without editing the committed file), refusing what DVC reads from params.yaml itself; `make run` hands it to every
process, and unpauses deploy_model when the merged config asks for proof."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tabular_mlops.core.config import ConfigError, load_params
from tabular_mlops.core.contracts import DEPLOY_DAG_ID, PARAMS_OVERRIDE_ENV
from tabular_mlops.stack import bootstrap
from tabular_mlops.stack.layout import Layout
from tabular_mlops.stack.stack_error import StackError

REPO = Path(__file__).resolve().parents[2]
REHEARSAL = REPO / "deploy" / "rehearsal" / "params.override.yaml"


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy2(REPO / name, tmp_path / name)
    return tmp_path


def _override(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "override.yaml"
    path.write_text(text)
    return path


def test_the_rehearsal_override_changes_only_its_keys(project, monkeypatch):
    committed = load_params(project / "params.yaml")
    monkeypatch.setenv(PARAMS_OVERRIDE_ENV, str(REHEARSAL))
    params = load_params(project / "params.yaml")
    assert params.schema.label_delay_days == 3 and committed.schema.label_delay_days == 30
    assert params.deploy.require_proof and params.deploy.canary.share == 0.3
    # a nested section is merged, not replaced: the rest of it is params.yaml's
    assert params.deploy.canary.guard == committed.deploy.canary.guard
    assert params.deploy.shadow == committed.deploy.shadow
    assert params.schema.features == committed.schema.features and params.train == committed.train
    assert str(REHEARSAL) in params.source_file
    monkeypatch.setenv(PARAMS_OVERRIDE_ENV, "")
    assert load_params(project / "params.yaml") == committed


@pytest.mark.parametrize(
    "text, refused",
    [
        ("train:\n  seed: 7\n", "train.seed"),  # a DVC stage's param: DVC would not rerun the stage
        ("schema:\n  features: {}\n", "schema.features"),
        ("paths:\n  model_dir: elsewhere\n", "paths.model_dir"),  # dvc.yaml's ${paths.*}
    ],
)
def test_keys_dvc_reads_from_params_yaml_are_refused(project, tmp_path, monkeypatch, text, refused):
    monkeypatch.setenv(PARAMS_OVERRIDE_ENV, str(_override(tmp_path, text)))
    with pytest.raises(ConfigError, match=rf"override.yaml: \['{refused}'\] cannot be overridden"):
        load_params(project / "params.yaml")


def test_a_bad_override_names_its_file_and_key(project, tmp_path, monkeypatch):
    monkeypatch.setenv(PARAMS_OVERRIDE_ENV, str(_override(tmp_path, "deploy:\n  canary:\n    share: 2\n")))
    with pytest.raises(ConfigError, match=r"override.yaml\): deploy.canary.share"):
        load_params(project / "params.yaml")
    monkeypatch.setenv(PARAMS_OVERRIDE_ENV, str(_override(tmp_path, "deploi:\n  require_proof: true\n")))
    with pytest.raises(ConfigError, match=r"override.yaml: unknown section\(s\) \['deploi'\]"):
        load_params(project / "params.yaml")
    monkeypatch.setenv(PARAMS_OVERRIDE_ENV, str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="missing.yaml: cannot read params override"):
        load_params(project / "params.yaml")


def test_the_dags_reread_params_when_the_override_changes(project, tmp_path, monkeypatch):
    from tabular_mlops_airflow.settings import load_project_params

    override = _override(tmp_path, "deploy:\n  require_proof: true\n")
    monkeypatch.setenv(PARAMS_OVERRIDE_ENV, str(override))
    assert load_project_params(str(project)).deploy.require_proof
    override.write_text("deploy:\n  require_proof: false\n  strategy: shadow\n")
    assert not load_project_params(str(project)).deploy.require_proof


def test_the_stack_hands_the_override_to_every_process(tmp_path):
    layout = Layout.from_env(REPO, {PARAMS_OVERRIDE_ENV: str(REHEARSAL)})
    assert layout.stack_env()[PARAMS_OVERRIDE_ENV] == str(REHEARSAL.resolve())
    assert PARAMS_OVERRIDE_ENV not in Layout.from_env(REPO, {}).stack_env()
    with pytest.raises(StackError, match="no such file"):
        Layout.from_env(REPO, {PARAMS_OVERRIDE_ENV: str(tmp_path / "nope.yaml")})


class _Api:
    def __init__(self, paused: bool) -> None:
        self.paused = paused

    def dag(self, dag_id: str) -> dict:
        assert dag_id == DEPLOY_DAG_ID
        return {"dag_id": dag_id, "is_paused": self.paused}

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.paused = paused


def test_make_run_unpauses_deploy_model_only_when_proof_is_required(project, monkeypatch, capsys):
    api = _Api(paused=True)
    bootstrap.ensure_deploy(api, load_params(project / "params.yaml"))  # type: ignore[arg-type]
    assert api.paused and "stays paused: deploy.require_proof is false" in capsys.readouterr().out
    monkeypatch.setenv(PARAMS_OVERRIDE_ENV, str(REHEARSAL))
    bootstrap.ensure_deploy(api, load_params(project / "params.yaml"))  # type: ignore[arg-type]
    assert not api.paused and f"unpaused {DEPLOY_DAG_ID}" in capsys.readouterr().out
