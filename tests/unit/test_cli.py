"""The command line as a user meets it: missing folders are created, expected failures are one clear line."""

from __future__ import annotations

import subprocess
import sys

from tests.support.project import REPO

CLI = [sys.executable, "-m", "tabular_mlops", "--params", str(REPO / "params.yaml")]


def test_simulate_creates_the_database_folder(tmp_path):
    db = tmp_path / "not" / "yet" / "source.db"
    done = subprocess.run(
        [*CLI, "simulate", "--db-url", f"sqlite:///{db}", "--days", "1", "--rows", "100"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert db.is_file()


def test_an_unreachable_database_is_one_line_not_a_traceback(tmp_path):
    done = subprocess.run(
        [*CLI, "simulate", "--db-url", "postgresql+psycopg2://nobody@127.0.0.1:1/none", "--days", "1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot reach source database") and "Traceback" not in done.stderr
