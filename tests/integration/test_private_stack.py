"""The local stack's state and registry belong to its user (issue 22 items 5, 6, 10), on the stack's own parts: the
MLflow server and the Evidently UI as `make run` defines them (stack/programs.py) under the stack's supervisord,
the scoring service started by `start_serving` (a real uvicorn), over a var/ an older stack left readable.

A second local user (`nobody`) can read nothing in var/ and, without the generated login, change nothing in
MLflow; a version set champion by hand is refused by the service and the refusal is visible."""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from tabular_mlops.core.contracts import CHAMPION
from tabular_mlops.stack import commands, services
from tabular_mlops.stack.layout import Layout
from tabular_mlops.stack.private_state import make_private, mlflow_auth_config
from tabular_mlops.stack.programs import EVIDENTLY, MLFLOW, SERVING, programs
from tabular_mlops.stack.stack_cli import start_serving

from tests.support.gate_marks import promote_as_the_gate
from tests.support.project import REPO

NAME = "credit_default"
BIN = Path(sys.executable).parent


def _ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _login(layout: Layout) -> tuple[str, str]:
    """The MLflow login as a user's shell gets it: from `source var/stack.env`."""
    exports = dict(
        shlex.split(line.removeprefix("export "))[0].split("=", 1)
        for line in layout.env_file.read_text().splitlines()
        if line.startswith("export MLFLOW_TRACKING_")
    )
    return exports["MLFLOW_TRACKING_USERNAME"], exports["MLFLOW_TRACKING_PASSWORD"]


@pytest.fixture(scope="module")
def stack() -> Iterator[Layout]:
    saved_umask = os.umask(0o022)  # a user's usual umask: what an older stack's files got
    tmp = Path(tempfile.mkdtemp(prefix="ps-"))  # short: supervisord's socket path must stay under 108 bytes
    os.chmod(tmp, 0o755)  # like a checkout: only var/'s own modes may keep another user out
    ports = _ports(6)
    layout = Layout(tmp, BIN, *ports)
    shutil.copy(REPO / "params.yaml", tmp / "params.yaml")
    (tmp / "README.md").write_text("readable by anyone, as a checkout is\n")
    # what an older stack left behind, readable by every local user
    layout.passwords_file.parent.mkdir(parents=True)
    layout.passwords_file.write_text('{"admin": "generated-by-airflow"}')
    for db in (layout.source_db, layout.monitoring_db):
        db.write_bytes(b"")
    sup = services.supervisor(layout)
    try:
        make_private(layout.var)  # what `up` does first (stack_lock)
        layout.write_env_file()
        mlflow_auth_config(layout.mlflow_dir, layout.mlflow_credentials())
        commands.wal(layout.mlflow_db)
        workspace = layout.var / "evidently"
        workspace.mkdir()
        progs = {p.name: p for p in programs(layout, workspace)}
        sup = services.start_supervisord(layout, [progs[MLFLOW], progs[EVIDENTLY], progs[SERVING]])
        for name in (MLFLOW, EVIDENTLY):
            services.launch_program(sup, progs[name])
        for name in (MLFLOW, EVIDENTLY):
            services.wait_healthy(sup, layout, progs[name], 300, f"{name} of the test stack")
        yield layout
    finally:
        if sup.is_running():
            sup.shutdown(timeout=60)
        os.umask(saved_umask)
        shutil.rmtree(tmp, ignore_errors=True)


def _as_nobody(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(cmd), user="nobody", group="nogroup", capture_output=True, text=True, timeout=60
    )


def test_var_and_every_file_in_it_are_private(stack):
    """Issue 22 item 6: passwords file, monitoring.db, source.db and the MLflow store were readable by all."""
    assert stat.S_IMODE(stack.var.stat().st_mode) == 0o700
    loose = [
        f"{path.relative_to(stack.var)} {stat.S_IMODE(path.lstat().st_mode):o}"
        for path in stack.var.rglob("*")
        if not path.is_symlink() and path.lstat().st_mode & 0o077
    ]
    assert not loose, loose
    made_by_the_programs = [stack.mlflow_dir / "basic_auth.db", stack.var / "supervisord.conf"]
    assert all(path.exists() for path in made_by_the_programs)
    for path in (stack.passwords_file, stack.monitoring_db, stack.source_db, stack.mlflow_db, stack.env_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        refused = _as_nobody("cat", str(path))
        assert refused.returncode != 0 and "Permission denied" in refused.stderr, path
    # the same user reads a file outside var/: the refusals above come from var/'s modes
    assert _as_nobody("cat", str(stack.repo / "README.md")).returncode == 0


def test_mlflow_answers_only_the_generated_login(stack):
    """Issue 22 item 5: a second local user registered a model and set `champion` on the open server."""
    api = f"{stack.mlflow_url}/api/2.0/mlflow"
    with httpx.Client(timeout=60, trust_env=False) as client:
        anonymous = [
            client.post(f"{api}/registered-models/create", json={"name": "intruder"}),
            client.post(
                f"{api}/registered-models/alias", json={"name": NAME, "alias": CHAMPION, "version": "1"}
            ),
            client.get(f"{api}/registered-models/search"),
        ]
        assert [r.status_code for r in anonymous] == [401, 401, 401]
        assert client.get(f"{stack.mlflow_url}/health").status_code == 200  # the stack's health check
        login = _login(stack)
        assert client.get(f"{api}/registered-models/search", auth=login).status_code == 200
        assert client.get(f"{api}/registered-models/search", auth=(login[0], "guess")).status_code == 401
        foreign = client.get(f"{api}/registered-models/search", auth=login, headers={"Host": "evil.example"})
        assert foreign.status_code in (400, 403)


def test_the_evidently_ui_answers_only_trusted_host_names(stack):
    """Issue 22 item 10: a DNS-rebinding page could read the reports through a browser on this machine."""
    url = f"{stack.evidently_url}/api/projects"
    with httpx.Client(timeout=60, trust_env=False) as client:
        assert client.get(url).status_code == 200
        assert client.get(url, headers={"Host": f"localhost:{stack.evidently_port}"}).status_code == 200
        assert client.get(url, headers={"Host": "rebound.example"}).status_code == 400


def _register(seed: int) -> str:
    """A valid model, logged and registered with its own correct checksum (what the intruder did)."""
    from tabular_mlops.core.config import load_params

    from tests.support.registered_models import register_small_model

    return register_small_model(NAME, load_params(REPO / "params.yaml").schema, seed, 15, rows_per_day=800)


@pytest.fixture(scope="module")
def registry_login(stack):
    import mlflow

    login = _login(stack)
    env = {
        "MLFLOW_TRACKING_URI": stack.mlflow_url,
        "MLFLOW_TRACKING_USERNAME": login[0],
        "MLFLOW_TRACKING_PASSWORD": login[1],
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    mlflow.set_tracking_uri(stack.mlflow_url)
    experiment = mlflow.create_experiment("private-stack")
    os.environ["MLFLOW_EXPERIMENT_ID"] = experiment
    yield
    mlflow.set_tracking_uri(None)
    for key, value in {**saved, "MLFLOW_EXPERIMENT_ID": None}.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def test_the_service_serves_only_what_the_gate_promoted(stack, registry_login):
    """Issue 22 item 5: a version set champion by hand, with a correct checksum, was swapped in within 12 s.
    Also item 10: no download progress bars in the service log, a foreign Host refused."""
    from mlflow import MlflowClient

    ledger = sa.create_engine(f"sqlite:///{stack.monitoring_db}")
    first = _register(1)
    promote_as_the_gate(NAME, first, ledger)
    sup = services.supervisor(stack)
    start_serving(sup, stack, {p.name: p for p in programs(stack, stack.var / "evidently")}[SERVING])
    token = stack.serving_token_file.read_text().strip()
    with httpx.Client(base_url=stack.serving_url, timeout=60, trust_env=False) as client:
        ready = client.get("/health/ready").json()
        assert ready == {"status": "ready", "reasons": [], "model_version": first}, ready

        intruder = _register(2)
        MlflowClient().set_registered_model_alias(NAME, CHAMPION, intruder)  # by hand, not by the gate
        reload = client.post("/admin/reload", headers={"Authorization": f"Bearer {token}"})
        assert reload.status_code == 409 and "not promoted by the gate" in reload.json()["reason"]
        ready = client.get("/health/ready").json()
        assert ready["status"] == "degraded" and ready["model_version"] == first
        assert any(f"v{intruder}, which this service refused" in r for r in ready["reasons"]), ready
        assert f'serving_champion_refused{{version="{intruder}"}} 1.0' in client.get("/metrics").text
        assert client.get("/health/ready", headers={"Host": "rebound.example"}).status_code == 400

    log = sup.files.log(SERVING).read_text()
    assert f"serving {NAME} v{first} from the registry" in log  # the service's own log
    assert "Downloading artifacts" not in log and "%|" not in log, log[-2000:]
    assert stat.S_IMODE(stack.serving_token_file.stat().st_mode) == 0o600
