"""The Python API pages (mkdocstrings directives, one page per subpackage) and their lines in mkdocs.yml's nav."""

from __future__ import annotations

import re
from pathlib import Path

from tabular_mlops.docs_reference import GENERATED, MKDOCS_FILE, PACKAGE

# The Python API entries of mkdocs.yml's nav live between these lines (the rest of the file is written by hand).
_NAV_TITLES = {"package.md": "top-level modules"}
NAV_BEGIN, NAV_END = "# api-nav: begin (make docs-reference writes these lines)", "# api-nav: end"


def api_pages(package_dir: Path) -> dict[str, str]:
    """Page file name -> content: one page per subpackage of the domain package, one for its top-level modules."""
    pages: dict[str, str] = {}
    top = sorted(p.stem for p in package_dir.glob("*.py") if not p.stem.startswith("_"))
    subpackages = sorted(
        p.name for p in package_dir.iterdir() if (p / "__init__.py").is_file() and not p.name.startswith("_")
    )
    pages["index.md"] = "\n".join(
        [
            "# Python API",
            "",
            GENERATED.format(source="the package layout")
            + " Each page renders the modules' docstrings with mkdocstrings.",
            "",
            *[f"- [`{PACKAGE}.{name}`]({name}.md)" for name in subpackages],
            "- [top-level modules](package.md): " + ", ".join(f"`{m}`" for m in top),
            "",
        ]
    )
    for name in subpackages:
        modules = sorted(
            _module_of(p.relative_to(package_dir))
            for p in (package_dir / name).rglob("*.py")
            if not p.stem.startswith("_") or (p.stem == "__init__" and p.parent != package_dir / name)
        )
        body = [
            f"# {PACKAGE}.{name}",
            "",
            f"::: {PACKAGE}.{name}",
            "    options:",
            "      members: false",
            "",
        ]
        for module in modules:
            body += [f"::: {PACKAGE}.{module}", ""]
        pages[f"{name}.md"] = "\n".join(body)
    body = ["# Top-level modules", ""]
    for module in top:
        body += [f"::: {PACKAGE}.{module}", ""]
    pages["package.md"] = "\n".join(body)
    return pages


def _module_of(relative: Path) -> str:
    """`data/extract.py` -> `data.extract`; a nested package's `__init__.py` -> the package."""
    parts = relative.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def mkdocs_with_api_nav(mkdocs_text: str, pages: dict[str, str]) -> str:
    """mkdocs.yml with the Python API nav lines (between the markers) listing every generated page."""
    match = re.search(rf"^( *){re.escape(NAV_BEGIN)}\n.*?^ *{re.escape(NAV_END)}$", mkdocs_text, re.M | re.S)
    if match is None:
        raise ValueError(f"{MKDOCS_FILE}: the nav needs the lines '{NAV_BEGIN}' and '{NAV_END}'")
    indent = match.group(1)
    entries = [f"{indent}- Overview: reference/api/index.md"]
    entries += [
        f"{indent}- {_NAV_TITLES.get(name, name.removesuffix('.md'))}: reference/api/{name}"
        for name in sorted(pages)
        if name != "index.md"
    ]
    block = "\n".join([f"{indent}{NAV_BEGIN}", *entries, f"{indent}{NAV_END}"])
    return mkdocs_text[: match.start()] + block + mkdocs_text[match.end() :]
