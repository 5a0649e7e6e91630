"""MkDocs hook: the benchmark results files become pages of the site where they live (benchmarks/*.md), so the
docs link to them instead of copying their figures, and --strict checks those links."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

RESULTS_DIR = Path(__file__).resolve().parents[1] / "benchmarks"


def on_files(files: Files, config: Any) -> Files:
    for path in sorted(RESULTS_DIR.glob("*.md")):
        files.append(File.generated(config, f"benchmarks/{path.name}", abs_src_path=str(path)))
    return files
