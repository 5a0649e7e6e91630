"""Where the service finds its registry, log database and admin token: the environment, never a default token."""

import secrets

import pytest
from tabular_mlops.serving.settings import ServiceEnv, StartupError

FROM_FILE = secrets.token_urlsafe(32)
FROM_ENV = secrets.token_urlsafe(32)


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
    token_file.write_text(f"{FROM_FILE}\n")
    monkeypatch.setenv("MLOPS_SERVING_ADMIN_TOKEN_FILE", str(token_file))
    assert ServiceEnv.from_environ(tmp_path).admin_token == FROM_FILE
    monkeypatch.setenv("MLOPS_SERVING_ADMIN_TOKEN", FROM_ENV)
    assert ServiceEnv.from_environ(tmp_path).admin_token == FROM_ENV
    monkeypatch.delenv("MLOPS_SERVING_ADMIN_TOKEN")
    monkeypatch.setenv("MLOPS_SERVING_ADMIN_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(StartupError, match="cannot read the admin token"):
        ServiceEnv.from_environ(tmp_path)


@pytest.mark.parametrize("token", ["admin", "s3cret", "x" * 40, "Password1234!Password1234!Password"])
def test_a_weak_admin_token_stops_the_service_at_start(tmp_path, monkeypatch, token):
    """Issue 22 item 7: the service started with admin token `admin`."""
    monkeypatch.delenv("MLOPS_SERVING_ADMIN_TOKEN_FILE", raising=False)
    monkeypatch.setenv("MLOPS_SERVING_ADMIN_TOKEN", token)
    with pytest.raises(StartupError, match="MLOPS_SERVING_ADMIN_TOKEN") as refused:
        ServiceEnv.from_environ(tmp_path)
    assert len(token) < 8 or token not in str(refused.value)  # the value is never printed
