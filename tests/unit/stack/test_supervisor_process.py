"""A real supervisord driven by the stack's Supervisor: start a trivial program, see it, stop it all."""

from __future__ import annotations

import os
import socket
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tabular_mlops.stack.stack_error import StackError
from tabular_mlops.stack.supervisor import Program, Supervisor, SupervisorFiles
from tabular_mlops.stack.waiting import NotYet, poll_until

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def sup() -> Iterator[Supervisor]:
    # a short run directory: a unix socket path must stay under 108 bytes
    with tempfile.TemporaryDirectory(prefix="sup-") as tmp:
        run_dir = Path(tmp)
        supervisor = Supervisor(SupervisorFiles(run_dir, run_dir / "logs"), BIN)
        yield supervisor
        if supervisor.is_running():
            supervisor.shutdown(timeout=30)


def test_start_status_and_shutdown_of_a_real_program(sup: Supervisor) -> None:
    port = _free_port()
    web = Program(
        "web",
        (sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)),
        sup.files.run_dir,
        port=port,
        environment={"WEB_MARKER": "1"},
        startsecs=1,
        stopwaitsecs=5,
    )
    assert not sup.is_running() and sup.statuses() == {}
    assert sup.write_config([web], {"STACK_MARKER": '{"a": "b"}'})
    sup.start_daemon()
    assert sup.is_running()
    assert stat.S_IMODE(os.stat(sup.files.socket).st_mode) == 0o700
    assert sup.status("web").state == "STOPPED"

    status = sup.start("web")
    assert status.state == "RUNNING" and status.pid is not None
    assert status.detail.startswith(f"pid {status.pid}, uptime "), status  # supervisorctl status's words

    def answers() -> int:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/", timeout=2, trust_env=False).status_code
        except httpx.HTTPError as exc:
            raise NotYet(str(exc)) from exc

    assert poll_until(answers, what="http.server", timeout=15, interval=0.2) == 200
    environ = Path(f"/proc/{status.pid}/environ").read_bytes().split(b"\0")
    assert b'STACK_MARKER={"a": "b"}' in environ and b"WEB_MARKER=1" in environ

    sup.start_daemon()  # idempotent: a second start neither fails nor starts a second supervisord
    assert sup.status("web").pid == status.pid

    assert sup.shutdown(timeout=30)
    assert not sup.is_running()
    assert not _alive(status.pid)
    assert not sup.files.socket.exists()
    assert sup.shutdown() is False  # nothing left to stop


def test_a_program_that_cannot_start_is_reported_with_its_log(sup: Supervisor) -> None:
    # A shell exits within milliseconds even on a loaded machine; a Python interpreter could take longer than
    # startsecs to start and die, and supervisord would then count it as started (seen at load 20).
    broken = Program("broken", ("/bin/sh", "-c", "echo boom >&2; exit 1"), sup.files.run_dir, startsecs=5)
    sup.write_config([broken], {})
    sup.start_daemon()
    with pytest.raises(StackError) as err:
        sup.start("broken", timeout=30)
    assert err.value.log == sup.files.log("broken")
    assert "boom" in err.value.log.read_text()


def test_a_socket_that_never_answers_is_an_error_not_a_stopped_supervisord(sup: Supervisor) -> None:
    # Something holds supervisord's socket (a hung supervisord) and accepts, but never answers: `make stop` must not
    # read that as "nothing runs" (and leave the stack up), nor start a second supervisord on the same files.
    sup.write_config([], {})
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as hung:
        hung.bind(str(sup.files.socket))
        hung.listen(1)
        with pytest.raises(StackError, match="did not answer on .*supervisor.sock within 1s"):
            sup.is_running(timeout=1)
        with pytest.raises(StackError, match="did not answer"):
            sup.statuses(timeout=1)
    sup.files.socket.unlink()
    assert sup.is_running() is False and sup.statuses() == {}
