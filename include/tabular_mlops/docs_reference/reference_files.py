"""Every generated file at once: what the code gives now, which committed copies are stale, and writing them."""

from __future__ import annotations

import json
from pathlib import Path

from tabular_mlops.docs_reference import API_DIR, CLI_PAGE, MKDOCS_FILE, PACKAGE, PARAMS_PAGE, SCHEMA_FILE
from tabular_mlops.docs_reference.api_reference import api_pages, mkdocs_with_api_nav
from tabular_mlops.docs_reference.cli_reference import cli_page
from tabular_mlops.docs_reference.params_reference import params_page, params_schema


def generated_files(root: Path) -> dict[str, str]:
    """Repository-relative path -> the content the code gives now, for every generated file."""
    schema = params_schema()
    files = {
        SCHEMA_FILE: json.dumps(schema, indent=2) + "\n",
        PARAMS_PAGE: params_page(schema),
        CLI_PAGE: cli_page(),
    }
    pages = api_pages(root / "include" / PACKAGE)
    files.update({f"{API_DIR}/{name}": text for name, text in pages.items()})
    mkdocs = root / MKDOCS_FILE
    if mkdocs.is_file():
        files[MKDOCS_FILE] = mkdocs_with_api_nav(mkdocs.read_text(), pages)
    return files


def stale_files(root: Path) -> list[str]:
    """Generated files whose committed copy is missing or differs, plus API pages of modules that are gone."""
    files = generated_files(root)
    stale = [
        path
        for path, text in files.items()
        if not (root / path).is_file() or (root / path).read_text() != text
    ]
    api_dir = root / API_DIR
    leftovers = [
        str(p.relative_to(root))
        for p in sorted(api_dir.glob("*.md"))
        if str(p.relative_to(root)) not in files
    ]
    return stale + leftovers


def write_files(root: Path) -> list[str]:
    """Write every generated file that changed, remove API pages of modules that are gone; the paths touched."""
    touched = stale_files(root)
    files = generated_files(root)
    for path in touched:
        target = root / path
        if path in files:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(files[path])
        else:
            target.unlink()
    return touched
