"""The command-line reference page, from the argparse parsers of `tabular-mlops` and the local stack."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
from collections.abc import Callable, Iterator
from typing import Any

from tabular_mlops.docs_reference import GENERATED

HELP_WIDTH = "100"


@contextlib.contextmanager
def _help_width() -> Iterator[None]:
    """argparse wraps help to the terminal's width; a fixed width gives the same page on every machine."""
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_WIDTH
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = before


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser, str]]:
    """(name, parser, one-line help) of every subcommand, in the order they were added."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            return [(name, sub, helps.get(name, "")) for name, sub in action.choices.items()]
    return []


def _help_of(main: Callable[[list[str]], Any]) -> str:
    """What `<command> --help` prints, for an entry point that builds its parser inside main()."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main(["--help"])
    return out.getvalue()


def cli_page() -> str:
    """docs/reference/cli.md: `tabular-mlops` and each subcommand, and `python -m tabular_mlops.stack`."""
    from tabular_mlops import cli
    from tabular_mlops.stack import stack_cli

    with _help_width():
        parser = cli.build_parser()
        lines = [
            "# Command line reference",
            "",
            GENERATED.format(source="the argparse parsers"),
            "",
            "## tabular-mlops",
            "",
            "Installed into `.venv/bin/` by `make venv`.",
            "",
            "```text",
            parser.format_help().rstrip(),
            "```",
            "",
        ]
        for name, sub, summary in _subcommands(parser):
            lines += [f"### tabular-mlops {name}", "", summary, "", "```text", sub.format_help().rstrip()]
            lines += ["```", ""]
        lines += [
            "## python -m tabular_mlops.stack",
            "",
            "The local stack: `make run`, `make stop` and `make status` call `up`, `down` and `status`.",
            "",
            "```text",
            _help_of(stack_cli.main).rstrip(),
            "```",
            "",
        ]
    return "\n".join(lines)
