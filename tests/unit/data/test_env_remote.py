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


def _published(tmp_path, monkeypatch):
    """A project whose data folder (versioned as data.dvc) went to the environment's remote, not the committed
    one, with a one-stage dvc.yaml reading it."""
    from tabular_mlops.data.versioning import dvc_add_and_push

    root = _project(tmp_path / "project")
    (root / "data").mkdir()
    (root / "data" / "day.csv").write_text("a,b\n1,2\n")
    (root / "dvc.yaml").write_text(
        "stages:\n  copy:\n    cmd: wc -l data/day.csv > out.csv\n    deps: [data]\n    outs: [out.csv]\n"
    )
    env_remote = tmp_path / "env-remote"
    monkeypatch.setenv(ENV_DVC_REMOTE_URL, str(env_remote))
    dvc_add_and_push(root / "data", root)
    return root, env_remote


def test_training_checks_and_pushes_to_the_environments_remote_in_process(tmp_path, monkeypatch):
    """`reproduce` checks the data version on the remote and pushes the stages' outputs in this process (DVC's
    Python API): both must use the environment's remote (the scale-out path's S3), as the commands did."""
    import pytest
    from tabular_mlops.data.versioning import DataNotOnRemoteError, check_on_remote, reproduce

    root, env_remote = _published(tmp_path, monkeypatch)
    objects_before = {p for p in env_remote.rglob("*") if p.is_file()}
    assert check_on_remote(root)
    reproduce(root)
    pushed = {p for p in env_remote.rglob("*") if p.is_file()} - objects_before
    assert len(pushed) == 1, "out.csv's object went to the environment's remote"
    assert not (tmp_path / "remote").exists(), "nothing went to the committed remote"
    # The check reads the environment's remote: pointed at an empty one, the same version is not there.
    monkeypatch.setenv(ENV_DVC_REMOTE_URL, str(tmp_path / "empty-remote"))
    (tmp_path / "empty-remote" / "files" / "md5").mkdir(parents=True)
    with pytest.raises(DataNotOnRemoteError, match="not whole on the DVC remote"):
        check_on_remote(root)


def test_the_champion_reference_reads_the_storage_the_commands_print(tmp_path, monkeypatch):
    """`storage_config` (DVC's Config in this process) gives the cache folder and remotes `dvc cache dir` and
    `dvc config --list` print, with the environment's remote and endpoint applied."""
    from tabular_mlops.monitoring.champion_reference import storage_config

    root, _ = _published(tmp_path, monkeypatch)
    monkeypatch.setenv(ENV_DVC_REMOTE_ENDPOINT, "http://127.0.0.1:9")
    monkeypatch.setenv(ENV_DVC_REMOTE_URL, "s3://bucket/dvc")
    config = storage_config(root)
    listed = dict(
        line.split("=", 1)
        for line in run_dvc(["config", "--list"], root, env=None).splitlines()
        if "=" in line
    )
    assert config["core"]["remote"] == listed["core.remote"] == "env"
    assert config["remote"]["env"] == {"url": "s3://bucket/dvc", "endpointurl": "http://127.0.0.1:9"}
    assert config["remote"]["env"]["url"] == listed["remote.env.url"]
    assert config["remote"]["local"]["url"] == listed["remote.local.url"]
    assert config["cache"]["dir"] == run_dvc(["cache", "dir"], root, env=None).strip()
