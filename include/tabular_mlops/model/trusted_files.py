"""Loading a logged model without running foreign code.

MLflow's loader follows whatever flavour and serialisation the artifact's own `MLmodel` file names (pickle and
cloudpickle included), and takes skops' trusted-type list from that same file. Here the project decides: the
artifact must be an sklearn model serialised with skops, its file must hash to the checksum recorded when the
version was registered, and every type skops does not trust by default must be on this module's allow-list.
Only then are the bytes deserialised, from the verified local copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# Types our pipelines hold beyond skops' defaults (seen with gradient boosting, logistic regression, random
# forest). Anything else in a model file is refused.
TRUSTED_SKOPS_TYPES = frozenset(
    {
        "numpy.dtype",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.tree._tree.Tree",
    }
)
SKOPS_FORMAT = "skops"
MLMODEL_FILE = "MLmodel"


class UntrustedModelError(RuntimeError):
    """A model artifact that the project refuses to load; the message says why."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_file(model_dir: Path, where: str) -> Path:
    """The serialised model inside a downloaded MLflow model folder, after checking its flavour and format."""
    try:
        mlmodel = yaml.safe_load((model_dir / MLMODEL_FILE).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise UntrustedModelError(f"{where}: unreadable {MLMODEL_FILE} file ({exc})") from exc
    flavors = mlmodel.get("flavors") or {}
    sklearn = flavors.get("sklearn")
    if not isinstance(sklearn, dict):
        raise UntrustedModelError(f"{where}: not an sklearn model (flavours {sorted(flavors)})")
    fmt = sklearn.get("serialization_format")
    if fmt != SKOPS_FORMAT:
        raise UntrustedModelError(
            f"{where}: serialised as {fmt!r}; only {SKOPS_FORMAT!r} is loaded (pickle formats can run code)"
        )
    pyfunc = flavors.get("python_function") or {}
    if pyfunc.get("loader_module", "mlflow.sklearn") != "mlflow.sklearn":
        raise UntrustedModelError(f"{where}: python_function loader {pyfunc.get('loader_module')!r} refused")
    path = (model_dir / str(sklearn.get("pickled_model", ""))).resolve()
    if not path.is_relative_to(model_dir.resolve()) or not path.is_file() or path.suffix != ".skops":
        raise UntrustedModelError(
            f"{where}: model file {sklearn.get('pickled_model')!r} is not a .skops file"
        )
    return path


# The text of the warning an Airflow deprecated-import shim gives when one of its attributes is read.
_AIRFLOW_SHIM_WARNING = r"The `airflow\."


@contextlib.contextmanager
def quiet_module_walk() -> Iterator[None]:
    """Silence exactly the warnings of Airflow's deprecated-import shims while skops walks the modules.

    skops finds the module of an object that has none (a scipy ufunc) by reading that name on every imported
    module (`skops.io._utils.whichmodule`); inside an Airflow task that walk reads each of Airflow's deprecated
    shims, and every read warns (1,160 of 1,170 lines of one task's log). Nothing of ours uses those shims, so
    the warnings say nothing; other warnings still show.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_AIRFLOW_SHIM_WARNING, category=FutureWarning)
        yield


def skops_io() -> Any:
    """`skops.io`, imported inside `quiet_module_walk`: importing it walks the modules once already (its list
    of scipy ufuncs), and that first walk was the one that still flooded a task's log."""
    with quiet_module_walk():
        import skops.io as sio
    return sio


def check_model_file(path: Path, where: str, expected_sha256: str | None) -> list[str]:
    """Checksum and type allow-list; returns the non-default types to pass to skops as trusted."""
    sio = skops_io()
    if expected_sha256 is not None and sha256_of(path) != expected_sha256:
        raise UntrustedModelError(
            f"{where}: {path.name} does not match the checksum recorded at registration"
        )
    try:
        with quiet_module_walk():
            untrusted = sio.get_untrusted_types(file=str(path))
    except Exception as exc:
        raise UntrustedModelError(f"{where}: {path.name} is not a readable skops file ({exc})") from exc
    foreign = sorted(set(untrusted) - TRUSTED_SKOPS_TYPES)
    if foreign:
        raise UntrustedModelError(f"{where}: {path.name} holds types outside the allow-list: {foreign}")
    return list(untrusted)


@dataclass(frozen=True)
class VerifiedModel:
    """A downloaded model folder that passed the checks: its skops file, checksum and non-default types."""

    folder: Path
    file: Path
    sha256: str
    trusted_types: list[str]


@contextlib.contextmanager
def verified_copy(model_uri: str, expected_sha256: str | None = None) -> Iterator[VerifiedModel]:
    """Download the model folder to a private temporary directory, verify it, and yield it (deleted after)."""
    import mlflow

    tmp = Path(tempfile.mkdtemp(prefix="tabular-mlops-model-"))
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(tmp)))
        path = model_file(local, model_uri)
        trusted = check_model_file(path, model_uri, expected_sha256)
        yield VerifiedModel(local, path, sha256_of(path), trusted)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_sklearn(model_uri: str, expected_sha256: str | None = None) -> Any:
    """The fitted sklearn pipeline behind an MLflow model URI, loaded only after the checks above."""
    with verified_copy(model_uri, expected_sha256) as verified:
        return load_verified(verified, model_uri)


def load_verified(verified: VerifiedModel, where: str) -> Any:
    """The fitted sklearn pipeline of a folder `verified_copy` checked (`where` names it in errors)."""
    sio = skops_io()
    try:
        with quiet_module_walk():
            return sio.load(str(verified.file), trusted=verified.trusted_types)
    except Exception as exc:
        raise UntrustedModelError(f"{where}: {verified.file.name} cannot be loaded ({exc})") from exc
