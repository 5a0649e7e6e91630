"""The stack's programs under supervisord: start one (unless it runs), refuse a port a foreign process holds,
wait until it is healthy, stop them all."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Sequence

from tabular_mlops.stack.console import say
from tabular_mlops.stack.layout import HOST, Layout
from tabular_mlops.stack.programs import HEALTHY
from tabular_mlops.stack.stack_error import StackError
from tabular_mlops.stack.supervisor import DEAD, RUNNING, Program, Supervisor, SupervisorFiles
from tabular_mlops.stack.waiting import NotYet, poll_until


def supervisor(layout: Layout) -> Supervisor:
    """The stack's supervisord: config, socket and pid file in var/, logs in var/logs/."""
    return Supervisor(SupervisorFiles(run_dir=layout.var, log_dir=layout.logs), layout.bin_dir)


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex((HOST, port)) == 0


def port_owner(port: int) -> str:
    """Best effort: who listens on the port (ss or lsof, if installed)."""
    for tool, args in (
        ("ss", ["-Hltnp", f"sport = :{port}"]),
        ("lsof", ["-nP", f"-iTCP:{port}", "-sTCP:LISTEN"]),
    ):
        if shutil.which(tool):
            out = subprocess.run([tool, *args], capture_output=True, text=True).stdout.strip()
            if out:
                return out.splitlines()[-1]
    return "unknown process"


def check_port_free(program: Program) -> None:
    """Raise when another process (not this stack's supervisord) listens on the program's port."""
    if program.port is not None and port_open(program.port):
        raise StackError(
            f"port {HOST}:{program.port} (wanted by {program.name}) is already taken by a process this stack "
            f"did not start: {port_owner(program.port)}\n    stop it, free the port, or move this stack's port "
            "(MLOPS_AIRFLOW_PORT, MLOPS_MLFLOW_PORT, MLOPS_EVIDENTLY_PORT), then re-run"
        )


def start_supervisord(layout: Layout, programs: Sequence[Program]) -> Supervisor:
    """Write var/supervisord.conf and start supervisord (nothing else yet) unless it runs."""
    sup = supervisor(layout)
    if not sup.write_config(programs, layout.process_env()):
        say(
            f"    note: the running supervisord uses an older {sup.files.config}; "
            "`make stop` then `make run` applies the new one"
        )
    sup.start_daemon()
    return sup


def is_running(sup: Supervisor, name: str) -> bool:
    status = sup.status(name)
    return status is not None and status.state == RUNNING


def wait_healthy(sup: Supervisor, layout: Layout, program: Program, timeout: float, what: str) -> None:
    """Poll the program's health check; stop waiting at once if supervisord says it died."""
    healthy = HEALTHY[program.name]
    log = sup.files.log(program.name)

    def ready() -> None:
        if healthy(layout):
            return
        status = sup.status(program.name)
        if status is None or status.state in DEAD:
            state = status.state if status else "supervisord gone"
            raise StackError(
                f"{what}: {program.name} is {state} {status.detail if status else ''}".rstrip(), log
            )
        raise NotYet(f"{program.name} {status.state}, not healthy yet")

    poll_until(ready, what=what, timeout=timeout, interval=2, log=log)


def launch_program(sup: Supervisor, program: Program) -> str:
    """Start the program unless supervisord already runs it, without waiting for its health check (the caller
    does other work meanwhile, then calls `wait_healthy`)."""
    status = sup.status(program.name)
    if status is not None and status.state in (RUNNING, "STARTING", "BACKOFF"):
        return f"already running (pid {status.pid})"
    check_port_free(program)
    return f"started (pid {sup.start(program.name).pid})"


def ensure_program(sup: Supervisor, layout: Layout, program: Program, timeout: float, what: str) -> str:
    """Start the program unless supervisord already runs it, then wait until it is healthy."""
    state = launch_program(sup, program)
    wait_healthy(sup, layout, program, timeout, what)
    if state.startswith("already"):
        status = sup.status(program.name)  # a STARTING program has its pid once RUNNING
        return f"already running (pid {status.pid})" if status else state
    return state


def stop_all(layout: Layout) -> bool:
    """Stop every program (each as a whole process group), then supervisord; False when nothing ran."""
    sup = supervisor(layout)
    if not sup.is_running():
        return False
    for line in sup.stop_all().splitlines():
        say(f"    {line}")
    sup.shutdown()
    return True
