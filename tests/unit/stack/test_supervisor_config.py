"""supervisord config rendering: what supervisord itself parses back from the file we write."""

from __future__ import annotations

from pathlib import Path

import pytest
from supervisor.options import ServerOptions
from tabular_mlops.stack.stack_error import StackError
from tabular_mlops.stack.supervisor import Program, SupervisorFiles, quote_value, render_config

ENV = {
    "AIRFLOW_CONN_SOURCE_DB": '{"conn_type": "sqlite", "host": "/tmp/x y/source.db"}',
    "NO_PROXY": "127.0.0.1,localhost",
    "WITH_PERCENT": "50%",
    "PATH": "/venv/bin:/usr/bin",
}


def _parse(tmp_path: Path, text: str) -> ServerOptions:
    (tmp_path / "logs").mkdir(exist_ok=True)
    conf = tmp_path / "supervisord.conf"
    conf.write_text(text)
    options = ServerOptions()
    options.configfile = str(conf)
    options.process_config(do_usage=False)
    return options


def _render(tmp_path: Path) -> str:
    files = SupervisorFiles(run_dir=tmp_path, log_dir=tmp_path / "logs")
    web = Program(
        "web",
        ("/venv/bin/python", "-m", "http.server", "--bind", "127.0.0.1", "8001"),
        tmp_path,
        port=8001,
        environment={"DO_NOT_TRACK": "1", "PCT": "100%"},
        stopsignal="INT",
        stopwaitsecs=7,
    )
    return render_config(files, [web], ENV)


def test_supervisord_reads_back_programs_and_environment(tmp_path: Path) -> None:
    options = _parse(tmp_path, _render(tmp_path))
    (group,) = options.process_group_configs
    (web,) = group.process_configs
    assert web.name == "web"
    assert web.command == "/venv/bin/python -m http.server --bind 127.0.0.1 8001"
    # the shared environment, then the program's own, each value verbatim
    assert web.environment == {**ENV, "DO_NOT_TRACK": "1", "PCT": "100%"}
    assert (web.autostart, web.stopasgroup, web.killasgroup, web.redirect_stderr) == (False, True, True, True)
    quiet = Program("quiet", ("x",), tmp_path, stopasgroup=False)
    files = SupervisorFiles(run_dir=tmp_path, log_dir=tmp_path / "logs")
    assert "stopasgroup=false\nkillasgroup=true" in render_config(files, [quiet], {})
    assert web.stopwaitsecs == 7 and web.stopsignal.name == "SIGINT"
    assert web.stdout_logfile == str(tmp_path / "logs" / "web.log")


def test_control_is_an_owner_only_unix_socket_without_password(tmp_path: Path) -> None:
    options = _parse(tmp_path, _render(tmp_path))
    section = options.configroot.supervisord
    (server,) = section.server_configs
    assert server["family"].name == "AF_UNIX"
    assert server["file"] == str(tmp_path / "supervisor.sock")
    assert server["chmod"] == 0o700
    assert server["username"] is None and server["password"] is None
    assert section.pidfile == str(tmp_path / "supervisord.pid")


@pytest.mark.parametrize("value", ["it's", '"quoted"', "two\nlines"])
def test_values_supervisord_cannot_carry_are_refused(value: str) -> None:
    with pytest.raises(StackError):
        quote_value(value)
