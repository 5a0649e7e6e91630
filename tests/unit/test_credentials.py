"""Start-up refusal of empty, default and weak secrets (`tabular-mlops check-secrets`, run by airflow-init)."""

import base64
import os

import yaml
from tabular_mlops.cli import main
from tabular_mlops.core.secret_rules import ALL_ADMINS, problems

from tests.support.project import REPO

NAMES = ["AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW_ADMIN_PASSWORD"]
GOOD = {
    "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
    "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(24).hex(),
    "AIRFLOW_ADMIN_PASSWORD": os.urandom(12).hex(),
}


def test_strong_secrets_pass():
    assert problems(NAMES, GOOD) == []


def test_each_bad_secret_is_named_without_its_value():
    bad = {
        "AIRFLOW__CORE__FERNET_KEY": "",  # the empty Fernet key
        "AIRFLOW__API_AUTH__JWT_SECRET": "short-secret",
        "AIRFLOW_ADMIN_PASSWORD": "password1234",
        ALL_ADMINS: "True",
    }
    found = problems(NAMES, bad)
    assert len(found) == 4
    assert found[0].startswith("AIRFLOW__CORE__FERNET_KEY is empty")
    assert found[1].startswith("AIRFLOW__API_AUTH__JWT_SECRET is shorter than 32")
    assert found[2].startswith("AIRFLOW_ADMIN_PASSWORD is a well-known default")
    assert found[3].startswith(ALL_ADMINS)
    assert not any("password1234" in line or "short-secret" in line for line in found)


def test_a_fernet_key_must_be_one():
    for value in ("x" * 44, "not base64 at all!"):
        (line,) = problems(["AIRFLOW__CORE__FERNET_KEY"], {"AIRFLOW__CORE__FERNET_KEY": value})
        assert "is not a Fernet key" in line


def test_the_env_example_as_committed_is_refused(monkeypatch, capsys):
    """Every secret in .env.example is empty: a deployment that forgets to fill one in stops at airflow-init."""
    for line in (REPO / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            monkeypatch.setenv(key, value)
    assert (
        main(["check-secrets", "AIRFLOW_ADMIN_PASSWORD", "MLFLOW_ADMIN_PASSWORD", "POSTGRES_PASSWORD"]) == 2
    )
    assert capsys.readouterr().err.count("is empty or unset") == 3


def test_airflow_init_checks_every_secret_the_airflow_components_share():
    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
    init = compose["services"]["airflow-init"]
    script = "\n".join(init["command"]) if isinstance(init["command"], list) else init["command"]
    checked = script.split("tabular-mlops check-secrets", 1)[1].split("\n\n")[0]
    for name in (*GOOD, "AIRFLOW__API__SECRET_KEY", "MLFLOW_TRACKING_PASSWORD"):
        assert name in checked, name
    # It runs before the migration, so nothing starts with a weak secret.
    assert script.index("check-secrets") < script.index("db migrate")
