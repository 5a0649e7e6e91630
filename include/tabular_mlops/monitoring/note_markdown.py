"""Run notes as Markdown that Airflow's UI renders (GitHub-flavoured): a headline (the line Airflow shows while
a note is collapsed; the caller sets its bold), a one-row table of figures, the reasons as a list, each link a paragraph of its own.

A note must fit Airflow's 1000-character note column; what does not fit is left out whole, never cut mid-word
or mid-number: the list ends with a line that counts the left-out items and says where they are in full."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Airflow stores a run note in a 1000-character column (dag_run_note.content).
MAX_NOTE = 1000


@dataclass(frozen=True)
class Note:
    """What a run note says; `render` turns it into Markdown of at most `limit` characters."""

    headline: str
    figures: tuple[tuple[str, str], ...] = ()
    items_title: str = "Reasons"
    items: tuple[str, ...] = ()
    # (label, url); a link without a url is shown as its label (no dead link without a server)
    links: tuple[tuple[str, str | None], ...] = ()
    # Where the full list is when items are left out (e.g. "the MLflow run's decision.json").
    full_list_at: str = "the task log"
    # Paragraphs between the figures and the list (a sentence the table cannot hold).
    extra: tuple[str, ...] = ()
    # The first links that outrank the extra paragraphs; the links after them go before the paragraphs do (a
    # night's Evidently reports are one click away in Evidently, a shadow comparison's line is nowhere else in the
    # note). None: every link outranks them.
    essential_links: int | None = None

    def render(self, limit: int = MAX_NOTE) -> str:
        """The note's Markdown. Too long: items are left out from the end (the list counts them) down to the
        first, then the links after the essential ones, then the extra paragraphs, then the first item, then the
        essential links from the end; each goes whole. The first item is the decision's own reason: a note that
        counts "5 more" and shows none does not say why (seen on a retrain night in a browser)."""
        items, extra, links = len(self.items), len(self.extra), len(self.links)
        essential = links if self.essential_links is None else min(self.essential_links, links)
        while True:
            text = self._markdown(items, extra, links)
            if len(text) <= limit:
                return text
            if items > 1:
                items -= 1
            elif links > essential:
                links -= 1
            elif extra:
                extra -= 1
            elif items:
                items -= 1
            elif links:
                links -= 1
            else:
                return text[:limit]  # a headline and figures longer than a note: nothing left to leave out

    def _markdown(self, items: int, extra: int, links: int) -> str:
        return _join(
            _one_line(self.headline),
            _table(self.figures),
            *self.extra[:extra],
            _list(self.items_title, self.items[:items], len(self.items) - items, self.full_list_at),
            *_links(self.links[:links]),
        )


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cell(text: str) -> str:
    return _one_line(text).replace("|", "\\|")


def _table(figures: Sequence[tuple[str, str]]) -> str:
    """One header row of names, one row of values: compact, and a table in Airflow's renderer."""
    if not figures:
        return ""
    names = " | ".join(_cell(n) for n, _ in figures)
    values = " | ".join(_cell(v) for _, v in figures)
    rule = " | ".join("---" for _ in figures)
    return f"| {names} |\n| {rule} |\n| {values} |"


def _list(title: str, items: Sequence[str], left_out: int, full_list_at: str) -> str:
    if not items and not left_out:
        return ""
    lines = [f"{title}:", ""] + [f"- {_one_line(i)}" for i in items]
    if left_out:
        lines.append(f"- … and {left_out} more, in full in {full_list_at}")
    return "\n".join(lines)


def _links(links: Sequence[tuple[str, str | None]]) -> list[str]:
    return [f"[{label}]({url})" if url else label for label, url in links]


def _join(*blocks: str) -> str:
    """Blocks separated by a blank line: Markdown joins consecutive lines into one paragraph (the headline and
    figures would run together, a link would continue the last list item)."""
    return "\n\n".join(b for b in blocks if b)
