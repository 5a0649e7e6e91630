"""The DVC remote chosen by the environment (the scale-out path's S3 remote) without touching the committed
.dvc/config: real dvc reads the local config the package writes, and loses it when the variable goes away."""

from __future__ import annotations

import subprocess

from tabular_mlops.data.versioning import ENV_DVC_REMOTE_ENDPOINT, ENV_DVC_REMOTE_URL, run_dvc


def _project(tmp_path):
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
