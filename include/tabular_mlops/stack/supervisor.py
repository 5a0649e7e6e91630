"""supervisord as the process manager: render its config, start the daemon, drive it with `supervisorctl`, and
read its state over the same XML-RPC socket supervisorctl talks to.

Generic on purpose (no Airflow or MLflow here): `programs.py` says what runs, this module how. The control
channel is a unix socket under the run directory with mode 0700, so only the owner can drive it and no password
is needed or stored. Every program runs in its own process group, which supervisord stops and kills as a whole.
"""

from __future__ import annotations

import http.client
import shlex
import socket
import subprocess
import xmlrpc.client
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabular_mlops.stack.stack_error import StackError
from tabular_mlops.stack.waiting import NotYet, poll_until

RUNNING = "RUNNING"
# A program in one of these states has ended or could not start: waiting for it is pointless.
DEAD = frozenset({"FATAL", "EXITED", "STOPPED", "UNKNOWN"})


@dataclass(frozen=True)
class Program:
    """One long-running process under supervisord."""

    name: str
    command: Sequence[str]
    directory: Path
    port: int | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    stopsignal: str = "TERM"
    stopwaitsecs: int = 30
    startsecs: int = 2
    # stop signal to the whole process group (else to the main process only); SIGKILL always goes to the group
    stopasgroup: bool = True


@dataclass(frozen=True)
class Status:
    """A program's line of `supervisorctl status`."""

    name: str
    state: str
    pid: int | None
    detail: str


@dataclass(frozen=True)
class SupervisorFiles:
    """Where supervisord keeps its config, socket, pid file and logs (one program log per program)."""

    run_dir: Path
    log_dir: Path

    @property
    def config(self) -> Path:
        return self.run_dir / "supervisord.conf"

    @property
    def socket(self) -> Path:
        return self.run_dir / "supervisor.sock"

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "supervisord.pid"

    def log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"


def quote_value(value: str, expansions: int = 1) -> str:
    """One environment value as supervisord's KEY=value parser reads it back verbatim.

    supervisord %-expands a program's environment once and the [supervisord] one twice: `%` is doubled per pass.
    """
    # it strips every leading and trailing quote character of a value and knows no escapes
    if "'" in value or "\n" in value or value.endswith('"') or value.startswith('"'):
        raise StackError(f"cannot pass {value!r} through supervisord's environment= (quotes or newline)")
    return "'" + value.replace("%", "%" * 2**expansions) + "'"


def _environment(env: Mapping[str, str], expansions: int) -> str:
    return ",".join(f"\n    {key}={quote_value(value, expansions)}" for key, value in env.items())


def render_config(files: SupervisorFiles, programs: Sequence[Program], environment: Mapping[str, str]) -> str:
    """The supervisord.conf text: control socket, daemon settings, then one [program:x] per program.

    `environment` is set for every program; a program's own `environment` is added to it. Programs do not
    start with supervisord (autostart=false): the caller starts them one by one, in its order.
    """
    parts = [
        "; Written by tabular_mlops.stack (its programs are defined in tabular_mlops/stack/programs.py).",
        "; Drive it with: supervisorctl -c " + str(files.config) + " status|start|stop|tail NAME",
        "",
        "[unix_http_server]",
        f"file={files.socket}",
        "chmod=0700",
        "",
        "[supervisord]",
        f"logfile={files.log('supervisord')}",
        f"pidfile={files.pidfile}",
        f"directory={files.run_dir}",
        f"childlogdir={files.log_dir}",
        "logfile_maxbytes=10MB",
        "logfile_backups=2",
        "loglevel=info",
        # the stack's state is private (stack/private_state.py): programs create files 0600
        "umask=077",
    ]
    if environment:
        parts.append("environment=" + _environment(environment, expansions=2))
    parts += [
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{files.socket}",
    ]
    for program in programs:
        parts += [
            "",
            f"[program:{program.name}]",
            f"command={shlex.join(program.command).replace('%', '%%')}",
        ]
        parts += [f"directory={program.directory}"]
        if program.environment:
            parts.append("environment=" + _environment(program.environment, expansions=1))
        parts += [
            "autostart=false",
            "autorestart=unexpected",
            f"startsecs={program.startsecs}",
            "startretries=2",
            f"stopsignal={program.stopsignal}",
            f"stopwaitsecs={program.stopwaitsecs}",
            f"stopasgroup={str(program.stopasgroup).lower()}",
            # whatever is still running after stopwaitsecs: the whole group (e.g. mlflow's uvicorn workers)
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={files.log(program.name)}",
            "stdout_logfile_maxbytes=50MB",
            "stdout_logfile_backups=2",
        ]
    return "\n".join(parts) + "\n"


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over supervisord's unix socket, with a timeout on connecting and on every read (supervisor's own
    `supervisor.xmlrpc.UnixStreamHTTPConnection` has none: a hung supervisord would hang the caller)."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__()
        self.path, self.timeout = path, timeout

    def make_connection(self, host: object) -> http.client.HTTPConnection:  # the host is always supervisord's
        return _UnixHTTPConnection(self.path, self.timeout)


class Supervisor:
    """A supervisord instance described by `files`, run with the binaries in `bin_dir`."""

    def __init__(self, files: SupervisorFiles, bin_dir: Path) -> None:
        self.files = files
        self.bin_dir = bin_dir

    def ctl(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run `supervisorctl -c <config> ARGS` (its exit code is not checked here)."""
        cmd = [str(self.bin_dir / "supervisorctl"), "-c", str(self.files.config), *args]
        try:
            return subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired as exc:
            raise StackError(f"`{shlex.join(cmd)}` did not answer within {timeout:.0f}s") from exc

    def _ask(self, method: str, timeout: float) -> Any:
        """Call `supervisor.METHOD()` on supervisord's XML-RPC interface, on its unix socket (what supervisorctl
        talks to), from this process: the health waits ask for the state every few seconds, and a supervisorctl
        process per question cost 0.2 CPU s each (70 of them, 11 CPU s, while a test stack's MLflow came up on a
        busy machine)."""
        try:
            with xmlrpc.client.ServerProxy(
                "http://localhost", transport=_UnixTransport(self.files.socket, timeout)
            ) as rpc:
                return getattr(rpc.supervisor, method)()
        except TimeoutError as exc:
            # A supervisord that holds its socket but does not answer is not "not running": taking it for gone
            # would let `make stop` leave the stack up, or a second supervisord start on the same files.
            raise StackError(
                f"supervisord did not answer on {self.files.socket} within {timeout:.0f}s",
                self.files.log("supervisord"),
            ) from exc

    def is_running(self, timeout: float = 20) -> bool:
        """supervisord answers on its socket (a StackError when something holds the socket but never answers)."""
        if not self.files.config.exists() or not self.files.socket.exists():
            return False
        try:
            return int(self._ask("getPID", timeout=timeout)) > 0
        except (OSError, xmlrpc.client.Error, http.client.HTTPException):
            return False

    def write_config(self, programs: Sequence[Program], environment: Mapping[str, str]) -> bool:
        """Write the config; returns False (and leaves the file) when a running supervisord uses another one."""
        text = render_config(self.files, programs, environment)
        current = self.files.config.read_text() if self.files.config.exists() else None
        if current == text:
            return True
        if current is not None and self.is_running():
            return False
        self.files.run_dir.mkdir(parents=True, exist_ok=True)
        self.files.log_dir.mkdir(parents=True, exist_ok=True)
        self.files.config.write_text(text)
        return True

    def start_daemon(self, timeout: float = 30) -> None:
        """Start supervisord (it daemonizes) unless it runs; wait until it answers."""
        if self.is_running():
            return
        cmd = [str(self.bin_dir / "supervisord"), "-c", str(self.files.config)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise StackError(
                f"`{shlex.join(cmd)}` failed (exit {proc.returncode}): {(proc.stderr or proc.stdout).strip()}",
                self.files.log("supervisord"),
            )

        def answers() -> None:
            if not self.is_running():
                raise NotYet("no answer on " + str(self.files.socket))

        poll_until(
            answers, what="supervisord", timeout=timeout, interval=0.5, log=self.files.log("supervisord")
        )

    def statuses(self, timeout: float = 30) -> dict[str, Status]:
        """Every program's state, as `supervisorctl status` shows it (empty when supervisord is not running; a
        StackError when something holds the socket but never answers)."""
        if not self.files.config.exists() or not self.files.socket.exists():
            return {}
        try:
            infos = self._ask("getAllProcessInfo", timeout=timeout)
        except (OSError, xmlrpc.client.Error, http.client.HTTPException):
            return {}
        return {
            info["name"]: Status(info["name"], info["statename"], info["pid"] or None, info["description"])
            for info in infos
        }

    def status(self, name: str) -> Status | None:
        return self.statuses().get(name)

    def start(self, name: str, timeout: float = 120) -> Status:
        """`supervisorctl start NAME`: returns once supervisord considers it RUNNING (after startsecs)."""
        proc = self.ctl("start", name, timeout=timeout)
        status = self.status(name)
        if status is None or status.state not in (RUNNING, "STARTING"):
            out = (proc.stdout + proc.stderr).strip()
            state = status.state if status else "unknown"
            raise StackError(f"supervisorctl start {name}: {out} (state {state})", self.files.log(name))
        return status

    def stop_all(self, timeout: float = 300) -> str:
        """`supervisorctl stop all`: each program's group gets its stop signal, then SIGKILL after stopwaitsecs."""
        return (self.ctl("stop", "all", timeout=timeout).stdout or "").strip()

    def shutdown(self, timeout: float = 300) -> bool:
        """Stop every program, then supervisord itself; returns False when it was not running."""
        if not self.is_running():
            return False
        self.ctl("shutdown", timeout=timeout)

        def gone() -> None:
            if self.files.socket.exists() and self.is_running():
                raise NotYet("supervisord still answers")

        poll_until(
            gone,
            what="supervisord shutdown",
            timeout=timeout,
            interval=0.5,
            log=self.files.log("supervisord"),
        )
        return True
