"""Run notes render as Markdown blocks (headline, table, list, links on their own lines) and are never cut."""

from __future__ import annotations

import re

from tabular_mlops.monitoring.note_markdown import MAX_NOTE, Note

LINKS = (("MLflow monitoring run", "http://127.0.0.1:5000/#/experiments/7/runs/abc"), ("model v1", None))


def _blocks(text: str) -> list[str]:
    return text.split("\n\n")


def test_each_part_is_its_own_markdown_block():
    note = Note(
        "**RETRAIN** night 2026-03-17, champion v1",
        figures=(
            ("drift share", "0.3636 (threshold 0.3)"),
            ("score PSI", "0.0777"),
            ("rows", "6000 | window"),
        ),
        items=("last night: share of drifted columns 0.36 > 0.3", "score drift PSI 0.078 > 0.05"),
        links=LINKS,
    ).render()
    blocks = _blocks(note)
    assert blocks[0] == "**RETRAIN** night 2026-03-17, champion v1"
    assert blocks[1].splitlines() == [
        "| drift share | score PSI | rows |",
        "| --- | --- | --- |",
        "| 0.3636 (threshold 0.3) | 0.0777 | 6000 \\| window |",
    ]
    assert blocks[2] == "Reasons:"
    assert blocks[3].splitlines() == [
        "- last night: share of drifted columns 0.36 > 0.3",
        "- score drift PSI 0.078 > 0.05",
    ]
    # Links are paragraphs of their own: never glued to the last reason or to each other.
    assert blocks[4:] == [
        "[MLflow monitoring run](http://127.0.0.1:5000/#/experiments/7/runs/abc)",
        "model v1",
    ]


def test_what_does_not_fit_is_left_out_whole_and_counted():
    reasons = tuple(f"reason {i}: has_smartphone (PSI 0.519, psi 0.400) " + "x" * 150 for i in range(9))
    note = Note(
        "RETRAIN night 2026-03-17", items=reasons, links=LINKS, full_list_at="the MLflow run"
    ).render()
    assert len(note) <= MAX_NOTE
    listed = [line for line in note.splitlines() if line.startswith("- ")]
    *whole, last = listed
    assert whole and all(line[2:] in reasons for line in whole)
    assert last == f"- … and {len(reasons) - len(whole)} more, in full in the MLflow run"
    assert note.endswith("model v1") and "0.51…" not in note and not re.search(r"\d…", note)


def test_a_short_note_keeps_everything():
    note = Note("**KEEP** night 2026-03-17", items=("no drift",)).render()
    assert note == "**KEEP** night 2026-03-17\n\nReasons:\n\n- no drift"


def test_after_the_items_but_the_first_the_extra_paragraphs_then_the_first_item_then_the_links_go_whole():
    note = Note(
        "**FAILED**", items=("a" * 50,), extra=("b" * 400,), links=(("c" * 300, None), ("d" * 300, None))
    )
    counted = "Reasons:\n\n- … and 1 more, in full in the task log"
    assert note.render(2000) == "\n\n".join(
        ["**FAILED**", "b" * 400, "Reasons:", "- " + "a" * 50, "c" * 300, "d" * 300]
    )
    assert note.render(1000) == "\n\n".join(["**FAILED**", "Reasons:", "- " + "a" * 50, "c" * 300, "d" * 300])
    assert note.render(400) == "\n\n".join(["**FAILED**", counted, "c" * 300])


def test_links_after_the_essential_ones_go_before_the_extra_paragraphs():
    note = Note(
        "**KEEP**",
        items=("a" * 50, "e" * 50),
        extra=("b" * 300,),
        links=(("c" * 300, None), ("d" * 300, None)),
        essential_links=1,
    )
    first = ["Reasons:", "- " + "a" * 50 + "\n- … and 1 more, in full in the task log"]
    assert note.render(950) == "\n\n".join(["**KEEP**", "b" * 300, *first, "c" * 300])
    assert note.render(600) == "\n\n".join(["**KEEP**", *first, "c" * 300])
