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


def test_airflow_init_refuses_the_all_admins_mode_before_migrating():
    """The secrets themselves are judged by the check-secrets service (test_compose); airflow-init still refuses
    the all-admins mode, which lives in its own environment, before anything is migrated."""
    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
    init = compose["services"]["airflow-init"]
    script = "\n".join(init["command"]) if isinstance(init["command"], list) else init["command"]
    assert "tabular-mlops check-secrets" in script
    assert script.index("check-secrets") < script.index("db migrate")
    assert init["depends_on"]["check-secrets"]["condition"] == "service_completed_successfully"


def test_weak_secrets_of_issue_22_are_refused_by_strength():
    """Issue 22 item 7: these passed the length rule; each is now refused with the rule, never the value."""
    fernet = base64.urlsafe_b64encode(os.urandom(32)).decode()
    cases = {
        "AIRFLOW_ADMIN_PASSWORD": "aaaaaaaaaaaa",
        "MLFLOW_ADMIN_PASSWORD": "Password1234!",
        "AIRFLOW__API_AUTH__JWT_SECRET": "j" * 32,
        "AIRFLOW__CORE__FERNET_KEY": f"{fernet},garbage",
        "POSTGRES_PASSWORD": "abababababababab",
        "REDIS_PASSWORD": "admin_admin_2024",
        "MLOPS_SERVING_ADMIN_TOKEN": "admin",
    }
    found = problems(list(cases), cases)
    assert [line.split()[0] for line in found] == list(cases)
    assert "key 2 of 2 is not a Fernet key" in found[3]
    for line in found:
        assert not any(value in line for value in cases.values() if len(value) > 4), line


def test_generated_secrets_pass_the_strength_rules():
    """What .env.example says to generate (hex, url-safe tokens, Fernet keys, a rotated list) passes, every time."""
    import secrets

    for _ in range(300):
        env = {
            "POSTGRES_PASSWORD": secrets.token_hex(24),  # as .env.example says
            "AIRFLOW_JWT_SECRET": secrets.token_hex(16),
            "MLOPS_SERVING_ADMIN_TOKEN": secrets.token_urlsafe(32),
            "AIRFLOW_FERNET_KEY": ",".join(
                base64.urlsafe_b64encode(os.urandom(32)).decode() for _ in range(2)
            ),
        }
        assert problems(list(env), env) == []
