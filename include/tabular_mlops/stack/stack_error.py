"""The one error type of the stack, and how to show the log that explains it."""

from __future__ import annotations

import os
from pathlib import Path


class StackError(RuntimeError):
    """A step failed; `log` names the file whose tail explains it."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message)
        self.log = log


def log_tail(path: Path | None, lines: int = 40) -> str:
    """The last lines of a (possibly large) log file; empty when there is none."""
    if path is None or not path.exists():
        return ""
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - 200_000))
        text = fh.read().decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])


def error_lines(output: str, lines: int = 15) -> str:
    """A CLI's error without the traceback frames."""
    kept = [ln for ln in output.strip().splitlines() if ln.strip() and not ln.startswith((" ", "\t"))]
    return "\n".join(kept[-lines:])
