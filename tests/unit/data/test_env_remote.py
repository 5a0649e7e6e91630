"""The DVC remote chosen by the environment (the scale-out path's S3 remote) without touching the committed
.dvc/config: real dvc reads the local config the package writes, and loses it when the variable goes away."""

from __future__ import annotations

import subprocess

from tabular_mlops.data.versioning import ENV_DVC_REMOTE_ENDPOINT, ENV_DVC_REMOTE_URL, run_dvc


def _project(tmp_path):
    tmp_path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    run_dvc(["init", "--quiet"], tmp_path, env={})
    run_dvc(["remote", "add", "--default", "local", "../remote"], tmp_path, env={})
    return tmp_path


def test_env_remote_becomes_the_default_and_goes_away_with_the_variable(tmp_path):
    root = _project(tmp_path)
    env = {ENV_DVC_REMOTE_URL: "s3://bucket/dvc", ENV_DVC_REMOTE_ENDPOINT: "http://127.0.0.1:9"}
    assert run_dvc(["config", "core.remote"], root, env=env).strip() == "env"
    assert run_dvc(["config", "remote.env.url"], root, env=env).strip() == "s3://bucket/dvc"
    assert run_dvc(["config", "remote.env.endpointurl"], root, env=env).strip() == "http://127.0.0.1:9"
    committed = (root / ".dvc" / "config").read_text()
    assert "s3://" not in committed
    # unset: back to the committed remote, the generated file is gone
    assert run_dvc(["config", "core.remote"], root, env={}).strip() == "local"
    assert not (root / ".dvc" / "config.local").exists()


def test_a_hand_written_local_config_is_left_alone(tmp_path):
    root = _project(tmp_path)
    run_dvc(["remote", "add", "--local", "--default", "mine", "/elsewhere"], root, env={})
    assert run_dvc(["config", "core.remote"], root, env={}).strip() == "mine"
    assert (root / ".dvc" / "config.local").exists()


def test_the_in_process_publish_pushes_to_the_environments_remote(tmp_path, monkeypatch):
    """`dvc_add_and_push` runs DVC in the task's process: it must follow the environment's remote as `run_dvc`
    does (the scale-out path's S3), not the committed one (found by the CeleryExecutor end-to-end test)."""
    from tabular_mlops.data.versioning import dvc_add_and_push

    root = _project(tmp_path / "project")
    (root / "data").mkdir()
    (root / "data" / "day.csv").write_text("a,b\n1,2\n")
    env_remote = tmp_path / "env-remote"
    monkeypatch.setenv(ENV_DVC_REMOTE_URL, str(env_remote))
    dvc_add_and_push(root / "data", root)
    assert any(p.is_file() for p in env_remote.rglob("*")), "the objects went to the environment's remote"
    assert not (tmp_path / "remote").exists(), "nothing went to the committed remote"
