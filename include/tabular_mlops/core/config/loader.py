"""Reading params.yaml: `load_params` and the project root."""

from __future__ import annotations

import os
from pathlib import Path

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


def load_params(path: str | os.PathLike[str]) -> Params:
    """Read and validate params.yaml; a ConfigError lists every problem with the file and the key path."""
    source = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read params file ({exc.strerror})") from exc
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: top level must be a mapping of sections ({', '.join(_SECTIONS)})")
    unknown = [k for k in raw if k not in _SECTIONS]
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {unknown} (allowed: {', '.join(_SECTIONS)})")
    try:
        return _PARAMS.validate_python({**raw, "source_file": source, "raw": raw})
    except ValidationError as exc:
        lines = [f"{source}: {key}: {msg}" for key, msg in _problems(exc, raw)]
        raise ConfigError("\n".join(lines)) from None


def project_dir() -> Path:
    """The project root: $MLOPS_PROJECT_DIR, else the current directory (how `dvc repro` runs stages)."""
    return Path(os.environ.get("MLOPS_PROJECT_DIR") or Path.cwd()).resolve()
