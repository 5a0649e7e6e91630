"""Write the reference files generated from the code (make docs-reference), or with --check list the stale ones.

Writes params.schema.json, docs/reference/params.md, docs/reference/cli.md, docs/reference/api/*.md and the Python
API lines of mkdocs.yml's nav; tests/unit/test_docs_reference.py fails while any committed copy is stale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tabular_mlops.docs_reference.reference_files import stale_files, write_files

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a generated file is stale"
    )
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(ROOT)
        for path in stale:
            print(f"stale: {path} (run make docs-reference)")
        return 1 if stale else 0
    for path in write_files(ROOT):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
