"""Reading params.yaml: `load_params` and the project root.

`$MLOPS_PARAMS_OVERRIDE` may name a YAML file of keys laid over params.yaml (nested mappings merged, any other
value replaced), so a run can differ from the committed file without editing it (the deploy rehearsal's shorter
label delay: docs/deployment.md). Keys that a DVC stage of dvc.yaml reads, and `paths`, are refused there: DVC
reads params.yaml itself, so an override of them would change a stage's work without DVC seeing it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    ValidationError,
)

from tabular_mlops.core.config.fields import (
    ConfigError,
)
from tabular_mlops.core.config.messages import (
    _problems,
    _UniqueKeyLoader,
)
from tabular_mlops.core.config.params import _PARAMS, _SECTIONS, Params
from tabular_mlops.core.contracts import PARAMS_OVERRIDE_ENV


def _read_mapping(path: str | os.PathLike[str], what: str) -> dict[str, Any]:
    source = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read {what} ({exc.strerror})") from exc
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: top level must be a mapping of sections ({', '.join(_SECTIONS)})")
    unknown = [k for k in raw if k not in _SECTIONS]
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {unknown} (allowed: {', '.join(_SECTIONS)})")
    return raw


def override_path(environ: Any = os.environ) -> Path | None:
    """The override file named by $MLOPS_PARAMS_OVERRIDE, or None when it is unset or empty."""
    value = str(environ.get(PARAMS_OVERRIDE_ENV, "")).strip()
    return Path(value) if value else None


def _leaves(raw: dict[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        out += _leaves(value, f"{dotted}.") if isinstance(value, dict) and value else [dotted]
    return out


def _dvc_params(params_path: Path) -> set[str]:
    """The params.yaml keys the DVC stages beside it declare (they are read by DVC from params.yaml)."""
    dvc_file = params_path.parent / "dvc.yaml"
    if not dvc_file.is_file():
        return set()
    stages = (yaml.safe_load(dvc_file.read_text()) or {}).get("stages") or {}
    keys: set[str] = set()
    for stage in stages.values():
        for entry in stage.get("params") or []:
            keys.update([entry] if isinstance(entry, str) else [k for v in entry.values() for k in v or []])
    return keys


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merge(out[key], value) if both else value
    return out


def _overlaid(path: Path, raw: dict[str, Any], override: Path) -> dict[str, Any]:
    """params.yaml's mapping with the override's keys laid over it; refuses what DVC would not see."""
    over = _read_mapping(override, f"params override (${PARAMS_OVERRIDE_ENV})")
    dvc_keys = _dvc_params(path)
    refused = [
        k
        for k in _leaves(over)
        if k.split(".")[0] == "paths"
        or any(k == d or k.startswith(f"{d}.") or d.startswith(f"{k}.") for d in dvc_keys)
    ]
    if refused:
        raise ConfigError(
            f"{override}: {refused} cannot be overridden: dvc.yaml's stages read them (or `paths`) from "
            f"{path.name} itself; change them in {path.name}"
        )
    return _merge(raw, over)


def load_params(path: str | os.PathLike[str]) -> Params:
    """Read and validate params.yaml (with $MLOPS_PARAMS_OVERRIDE laid over it when set); a ConfigError lists
    every problem with the file and the key path."""
    raw = _read_mapping(path, "params file")
    source = str(path)
    override = override_path()
    if override is not None:
        raw = _overlaid(Path(path), raw, override)
        source = f"{path} (+ {override})"
    try:
        return _PARAMS.validate_python({**raw, "source_file": source, "raw": raw})
    except ValidationError as exc:
        lines = [f"{source}: {key}: {msg}" for key, msg in _problems(exc, raw)]
        raise ConfigError("\n".join(lines)) from None


def project_dir() -> Path:
    """The project root: $MLOPS_PROJECT_DIR, else the current directory (how `dvc repro` runs stages)."""
    return Path(os.environ.get("MLOPS_PROJECT_DIR") or Path.cwd()).resolve()
