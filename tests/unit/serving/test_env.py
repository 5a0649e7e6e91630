"""Where the service finds its registry, log database and admin token: the environment, never a default token."""

import pytest
from tabular_mlops.serving.settings import ServiceEnv, StartupError


def test_defaults_are_the_embedded_stores_and_no_token(tmp_path, monkeypatch):
    for key in (
        "MLFLOW_TRACKING_URI",
        "MLOPS_MONITORING_DB_URL",
        "MLOPS_SERVING_ADMIN_TOKEN",
        "MLOPS_SERVING_ADMIN_TOKEN_FILE",
    ):
        monkeypatch.delenv(key, raising=False)
    env = ServiceEnv.from_environ(tmp_path)
    assert env.monitoring_db_url == f"sqlite:///{tmp_path / 'var' / 'monitoring.db'}"
    assert env.tracking_uri.startswith("sqlite:///") and env.admin_token is None


def test_the_token_comes_from_the_variable_or_a_file(tmp_path, monkeypatch):
    monkeypatch.delenv("MLOPS_SERVING_ADMIN_TOKEN", raising=False)
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    monkeypatch.setenv("MLOPS_SERVING_ADMIN_TOKEN_FILE", str(token_file))
    assert ServiceEnv.from_environ(tmp_path).admin_token == "from-file"
    monkeypatch.setenv("MLOPS_SERVING_ADMIN_TOKEN", "from-env")
    assert ServiceEnv.from_environ(tmp_path).admin_token == "from-env"
    monkeypatch.delenv("MLOPS_SERVING_ADMIN_TOKEN")
    monkeypatch.setenv("MLOPS_SERVING_ADMIN_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(StartupError, match="cannot read the admin token"):
        ServiceEnv.from_environ(tmp_path)
