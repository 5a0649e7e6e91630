"""The last good champion on local disk, so the service can start while the registry is down.

Each cached version is the registered MLflow model folder, copied from a verified download, with its metadata;
a pointer file names the last good version and its checksum. Loading from the cache goes through the same
checks as loading from the registry (skops only, checksum, type allow-list): a cache file is never unpickled.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tabular_mlops.core.atomic_files import atomic_write_json
from tabular_mlops.core.contracts import SERVING_CACHE_META, SERVING_CACHE_POINTER, Tag
from tabular_mlops.model.scoring import LoadedModel
from tabular_mlops.model.trusted_files import (
    UntrustedModelError,
    check_model_file,
    model_file,
    verified_copy,
)

# Versions kept on disk: the last good one and the one before it (an instant rollback after a restart).
KEEP_VERSIONS = 2


@dataclass(frozen=True)
class CachedModel:
    loaded: LoadedModel
    sha256: str
    cached_at: str


class ModelCache:
    """`<folder>/<model name>/v<version>/` folders and the pointer to the last good one."""

    def __init__(self, folder: Path, model_name: str) -> None:
        self.model_name = model_name
        self.root = folder / re.sub(r"[^A-Za-z0-9_.-]", "_", model_name)

    def _version_dir(self, version: str) -> Path:
        return self.root / f"v{version}"

    def store(self, loaded: LoadedModel, cached_at: str) -> Path:
        """Copy the registered files of `loaded` (downloaded again, checked against its checksum) and point
        the cache at them. Called only after the version passed its model tests."""
        sha = loaded.tags.get(Tag.MODEL_SHA256)
        if not sha:
            raise UntrustedModelError(f"{loaded.name} v{loaded.version} has no '{Tag.MODEL_SHA256}' tag")
        target = self._version_dir(loaded.version)
        if self._meta(target).get("sha256") != sha:
            self.root.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".v{loaded.version}.", dir=self.root))
            try:
                with verified_copy(f"models:/{loaded.name}/{loaded.version}", sha) as verified:
                    shutil.copytree(verified.folder, staging, dirs_exist_ok=True)
                meta = {
                    "name": loaded.name,
                    "version": loaded.version,
                    "run_id": loaded.run_id,
                    "tags": loaded.tags,
                    "sha256": sha,
                    "cached_at": cached_at,
                }
                (staging / SERVING_CACHE_META).write_text(json.dumps(meta, indent=2, sort_keys=True))
                shutil.rmtree(target, ignore_errors=True)
                os.replace(staging, target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        # The pointer moves last and atomically: a crash before this line leaves the previous good version.
        atomic_write_json(self.root / SERVING_CACHE_POINTER, {"version": loaded.version, "sha256": sha})
        self._prune(keep={loaded.version, *self._previous_versions(loaded.version)})
        return target

    def load_last_good(self) -> CachedModel | None:
        """The last good champion, verified like a registry load; None when nothing is cached."""
        try:
            pointer = json.loads((self.root / SERVING_CACHE_POINTER).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise UntrustedModelError(f"serving cache {self.root}: unreadable pointer ({exc})") from exc
        folder = self._version_dir(str(pointer.get("version")))
        meta, sha = self._meta(folder), str(pointer.get("sha256"))
        where = f"serving cache {folder}"
        if meta.get("sha256") != sha or meta.get("name") != self.model_name:
            raise UntrustedModelError(f"{where}: metadata does not match the pointer's model and checksum")
        path = model_file(folder, where)
        trusted = check_model_file(path, where, sha)
        import skops.io as sio

        try:
            model = sio.load(str(path), trusted=trusted)
        except Exception as exc:
            raise UntrustedModelError(f"{where}: {path.name} cannot be loaded ({exc})") from exc
        loaded = LoadedModel(
            model, self.model_name, str(meta["version"]), meta.get("run_id"), dict(meta["tags"])
        )
        return CachedModel(loaded, sha, str(meta.get("cached_at")))

    def _meta(self, folder: Path) -> dict:
        try:
            return dict(json.loads((folder / SERVING_CACHE_META).read_text()))
        except (OSError, ValueError, TypeError):
            return {}

    def _previous_versions(self, current: str) -> list[str]:
        """Other cached versions, newest cache first, to keep beside the current one."""
        others = [p for p in self.root.glob("v*") if p.is_dir() and p.name != f"v{current}"]
        others.sort(key=lambda p: str(self._meta(p).get("cached_at", "")), reverse=True)
        return [p.name[1:] for p in others[: KEEP_VERSIONS - 1]]

    def _prune(self, keep: set[str]) -> None:
        for path in self.root.glob("v*"):
            if path.is_dir() and path.name[1:] not in keep:
                shutil.rmtree(path, ignore_errors=True)
