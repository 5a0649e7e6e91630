"""The README is the front door (short, the two commands, links that resolve) and the docs' links resolve;
measured times live in benchmarks/, not in the pages that describe the project."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
README = REPO / "README.md"
# Markdown links and images: [text](target) / ![alt](target), targets without a scheme.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
PAGES = sorted(DOCS.rglob("*.md"))


def local_targets(text: str) -> list[str]:
    return [t.split("#", 1)[0] for t in LINK.findall(text) if not re.match(r"^[a-z]+:", t) and t[0] != "#"]


def test_the_readme_is_short_and_keeps_the_two_commands():
    text = README.read_text()
    assert len(text.encode()) < 10_000
    assert "make run    # creates .venv, installs, starts Airflow, MLflow, Evidently UI on 127.0.0.1" in text
    assert "make test   # the test suite (creates .venv first if it is missing)" in text


def test_every_link_in_the_readme_resolves():
    missing = [t for t in local_targets(README.read_text()) if not (REPO / t).exists()]
    assert local_targets(README.read_text()) and not missing, missing


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_every_link_in_a_docs_page_resolves(page):
    missing = []
    for target in local_targets(page.read_text()):
        path = (page.parent / target).resolve()
        # The site shows benchmarks/*.md as pages of its own (scripts/mkdocs_hooks.py).
        site_relative = path.relative_to(DOCS) if path.is_relative_to(DOCS) else None
        if not path.exists() and not (site_relative and (REPO / site_relative).is_file()):
            missing.append(target)
    assert not missing, f"{page.relative_to(REPO)}: {missing}"


def test_every_page_in_the_nav_exists_and_every_page_is_in_the_nav():
    nav = re.findall(r"^\s+- (?:[^:\n]+: )?(\S+\.md)$", (REPO / "mkdocs.yml").read_text(), re.M)
    missing = [p for p in nav if not (DOCS / p).is_file() and not (REPO / p).is_file()]
    assert not missing, missing
    unlisted = [str(p.relative_to(DOCS)) for p in PAGES if str(p.relative_to(DOCS)) not in nav]
    assert not unlisted, f"pages missing from mkdocs.yml's nav: {unlisted}"


# A wall time (3m21s), a throughput, a test count with its time: figures that belong to benchmarks/.
MEASURED = re.compile(r"\b\d+m\d{1,2}s\b|\d requests/s|\d+ passed in ")


@pytest.mark.parametrize(
    "page", [README, *PAGES], ids=["README.md", *[str(p.relative_to(DOCS)) for p in PAGES]]
)
def test_measured_times_live_only_in_benchmarks(page):
    found = MEASURED.findall(page.read_text())
    assert not found, f"{page.relative_to(REPO)} quotes measured figures {found}: link benchmarks/ instead"
