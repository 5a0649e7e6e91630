"""dvc.yaml read the way the stage tests need it: each stage's module, code deps, declared params, resolved outputs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
_VAR = re.compile(r"\$\{\s*([\w.]+)\s*\}")
_CMD = re.compile(r"python -m ([\w.]+)$")


def _path(entry: str | dict[str, Any]) -> str:
    return entry if isinstance(entry, str) else next(iter(entry))


@dataclass(frozen=True)
class Stage:
    name: str
    raw: dict[str, Any]
    params_yaml: dict[str, Any]

    @property
    def module(self) -> str:
        m = _CMD.fullmatch(self.raw["cmd"].strip())
        assert m, f"stage {self.name}: cmd must be `python -m <module>`, got {self.raw['cmd']!r}"
        return m.group(1)

    def resolve(self, text: str) -> str:
        """`${paths.processed_dir}/train.parquet` -> `processed/train.parquet` (DVC templating from params.yaml)."""
        return _VAR.sub(
            lambda m: str(reduce(lambda d, k: d[k], m.group(1).split("."), self.params_yaml)), text
        )

    def paths(self, section: str) -> list[str]:
        return [self.resolve(_path(e)) for e in self.raw.get(section, [])]

    @property
    def code_deps(self) -> list[str]:
        return [d for d in self.paths("deps") if d.startswith("include/")]

    @property
    def declared_params(self) -> set[str]:
        """Keys of params.yaml listed under `params:` (only the default params file is used here)."""
        keys: set[str] = set()
        for entry in self.raw.get("params", []):
            assert isinstance(entry, str), (
                f"stage {self.name}: params from other files are not expected: {entry}"
            )
            keys.add(entry)
        return keys

    @property
    def templated_params(self) -> set[str]:
        """Keys interpolated into the stage definition: a change changes the stage itself, so DVC re-runs it."""
        return set(_VAR.findall(yaml.safe_dump(self.raw)))


def stages(root: Path = REPO) -> dict[str, Stage]:
    params = yaml.safe_load((root / "params.yaml").read_text())
    spec = yaml.safe_load((root / "dvc.yaml").read_text())
    return {name: Stage(name, raw, params) for name, raw in spec["stages"].items()}


def covers(declared: set[str], key: str) -> bool:
    """`key` (e.g. `schema.features`) is declared itself or through a parent section (`schema`)."""
    parts = key.split(".")
    return any(".".join(parts[:i]) in declared for i in range(1, len(parts) + 1))
