"""dvc.yaml against the code, by running it: each stage reads only the params it declares (and declares only what it
reads), and real DVC re-runs exactly the stages a param or code change affects."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import inspect
import shutil
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from tabular_mlops.core.config import Params, load_params
from tabular_mlops.data.extract import write_snapshots
from tabular_mlops.data.simulate import generate_day
from tabular_mlops.training.evaluate import evaluate
from tabular_mlops.training.preprocess import split_window
from tabular_mlops.training.train import train

from tests.dvc_stages import covers, stages
from tests.support.project import REPO, make_project

# ------------------------------------------------------------------------------ which params does a stage read?


def _fields(obj: Any) -> set[str]:
    if dataclasses.is_dataclass(obj):
        return {f.name for f in dataclasses.fields(obj)}
    return set(getattr(type(obj), "model_fields", {}))  # a pydantic model


class _Section:
    """A params section that records `<section>.<field>` on every field read. Properties and methods run against
    the proxy, so what they read (`schema.feature_names` reads `schema.features`) is recorded too."""

    __slots__ = ("_obj", "_name", "_keys")

    def __init__(self, obj: Any, name: str, keys: set[str]) -> None:
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_keys", keys)

    def __getattr__(self, attr: str) -> Any:
        obj = self._obj
        if attr in _fields(obj):
            self._keys.add(f"{self._name}.{attr}")
            return getattr(obj, attr)
        static = inspect.getattr_static(type(obj), attr, None)
        if isinstance(static, property):
            return static.fget(self)
        if isinstance(static, functools.cached_property):
            return static.func(self)
        if inspect.isfunction(static):
            return types.MethodType(static, self)
        return getattr(obj, attr)


class RecordingParams:
    """Params whose sections record every key read. Top-level metadata is not a stage input: `source_file` names
    the file in error messages, and `flat()` logs the whole file on the MLflow run for the record."""

    METADATA = frozenset({"source_file", "raw", "flat"})

    def __init__(self, params: Params) -> None:
        self._params = params
        self.keys: set[str] = set()

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._params, attr)
        if attr in self.METADATA:
            return value
        if attr in _fields(self._params) and _fields(value):
            return _Section(value, attr, self.keys)
        raise AssertionError(f"a stage read params.{attr}, which the recording proxy does not know")


def test_the_recorder_sees_reads_through_properties_and_methods(repo_params):
    rec = RecordingParams(repo_params)
    assert rec.schema.feature_names == repo_params.schema.feature_names
    assert rec.schema.feature("age").type == "int"
    assert rec.preprocess.window_days == repo_params.preprocess.window_days
    assert rec.keys == {"schema.features", "preprocess.window_days"}


START = dt.date(2026, 1, 1)


@pytest.fixture(scope="module")
def small_project(tmp_path_factory):
    """A project with 8 days of snapshots in its raw folder, a short window and small candidates."""
    project = make_project(tmp_path_factory.mktemp("stages") / "project")
    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw["preprocess"].update({"window_days": 6, "holdout_days": 2})
    # One small candidate per estimator, so every estimator's code path runs under the recorder.
    raw["train"]["search_space"] = [
        {"model": "hist_gradient_boosting", "learning_rate": 0.1, "max_depth": 3, "max_iter": 30},
        {"model": "logistic_regression", "C": 1.0},
        {"model": "random_forest", "n_estimators": 20, "max_depth": 4},
    ]
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    params = load_params(project / "params.yaml")
    days = [START + dt.timedelta(days=i) for i in range(8)]
    batch = pd.concat([generate_day(d, 400, 7) for d in days], ignore_index=True)
    write_snapshots(batch, params.schema, days, project / params.paths.raw_dir)
    return project, params


STAGE_FUNCTIONS: dict[str, Callable[[Any, Path], Any]] = {
    "preprocess": split_window,
    "train": train,
    "evaluate": evaluate,
}


@pytest.fixture(scope="module")
def keys_read(small_project):
    """The params keys each stage reads, recorded while running the three stages in order."""
    project, params = small_project
    mp = pytest.MonkeyPatch()
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)  # the embedded store in paths.mlflow_dir
    read = {}
    try:
        for name, run in STAGE_FUNCTIONS.items():
            rec = RecordingParams(params)
            run(rec, project)
            read[name] = rec.keys
    finally:
        mp.undo()
    assert (project / params.paths.mlflow_dir / "mlflow.db").exists()
    return read


@pytest.mark.parametrize("name", list(STAGE_FUNCTIONS))
def test_a_stage_reads_only_params_it_declares(keys_read, name):
    stage = stages()[name]
    declared = stage.declared_params | stage.templated_params
    undeclared = sorted(k for k in keys_read[name] if not covers(declared, k))
    assert not undeclared, (
        f"stage {name} reads {undeclared} but dvc.yaml does not declare them: a change would not re-run it"
    )


@pytest.mark.parametrize("name", list(STAGE_FUNCTIONS))
def test_a_stage_declares_only_params_it_reads(keys_read, name):
    read = keys_read[name]
    unread = sorted(
        k for k in stages()[name].declared_params if not any(r == k or r.startswith(f"{k}.") for r in read)
    )
    assert not unread, (
        f"stage {name} declares {unread} but never reads them: a change would re-run it for nothing"
    )


def test_the_check_catches_an_undeclared_read(keys_read):
    """train reads evaluate.decision_threshold; without its declaration the check above fails."""
    stage = stages()["train"]
    declared = (stage.declared_params - {"evaluate.decision_threshold"}) | stage.templated_params
    assert not covers(declared, "evaluate.decision_threshold")
    assert "evaluate.decision_threshold" in keys_read["train"]


# ------------------------------------------------------------------- what does real DVC re-run after a change?

DVC = [sys.executable, "-m", "dvc"]


def _dvc(project: Path, *args: str) -> str:
    proc = subprocess.run([*DVC, *args], cwd=project, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _changed(project: Path) -> set[str]:
    """The stages `dvc status` names, as the command gets them: `Repo.status` under the repo lock, from the project
    folder (the names are relative to it), a fresh Repo reading dvc.yaml, params and files each time. In this
    process: 44 interpreters importing DVC were half of this module's CPU."""
    from dvc.repo import Repo, lock_repo

    with contextlib.chdir(project), Repo(str(project)) as repo, lock_repo(repo):
        return set(repo.status())


@pytest.fixture(scope="module")
def committed(tmp_path_factory):
    """A project whose stages are recorded in dvc.lock as up to date (placeholder outputs committed, nothing run)."""
    project = make_project(tmp_path_factory.mktemp("dvcstatus") / "project")
    shutil.copy2(REPO / ".dvcignore", project / ".dvcignore")
    repo_stages = stages(project)
    (project / "data").mkdir()
    (project / "data" / "day=2026-01-01.parquet").write_bytes(b"placeholder")
    for stage in repo_stages.values():
        for section in ("outs", "metrics", "plots"):
            for path in stage.paths(section):
                (project / path).parent.mkdir(parents=True, exist_ok=True)
                (project / path).write_text("{}")
    _dvc(project, "commit", "--force", "--quiet")
    return project


def test_a_committed_pipeline_is_up_to_date_and_does_not_flap(committed):
    assert _changed(committed) == set()
    # Bytecode next to the modules (every import writes it) must not count as a change.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(committed / "include")], check=True)
    assert _changed(committed) == set()


def _set_param(section: str, key: str, value: Any) -> Callable[[dict], None]:
    def edit(raw: dict) -> None:
        raw[section][key] = value

    return edit


def _feature_max(raw: dict) -> None:
    raw["schema"]["features"]["age"]["max"] = 99


PARAM_CHANGES = [
    ("preprocess.window_days", _set_param("preprocess", "window_days", 30), {"preprocess"}),
    # train reads the day of each row (the budget is drawn per day) and which columns to read
    ("schema.timestamp_column", _set_param("schema", "timestamp_column", "ts"), {"preprocess", "train"}),
    ("schema.target_column", _set_param("schema", "target_column", "y"), {"preprocess", "train", "evaluate"}),
    ("schema.features", _feature_max, {"train", "evaluate"}),
    ("preprocess.validation_fraction", _set_param("preprocess", "validation_fraction", 0.3), {"train"}),
    ("train.seed", _set_param("train", "seed", 7), {"train", "evaluate"}),
    ("evaluate.decision_threshold", _set_param("evaluate", "decision_threshold", 0.2), {"train", "evaluate"}),
    ("paths.mlflow_dir", _set_param("paths", "mlflow_dir", "var/mlflow2"), {"train", "evaluate"}),
    ("paths.plots_dir", _set_param("paths", "plots_dir", "figures"), {"evaluate"}),
    (
        "paths.processed_dir",
        _set_param("paths", "processed_dir", "proc"),
        {"preprocess", "train", "evaluate"},
    ),
    ("gate.min_roc_auc", _set_param("gate", "min_roc_auc", 0.8), set()),
    ("monitor.window_days", _set_param("monitor", "window_days", 3), set()),
    ("registry.model_name", _set_param("registry", "model_name", "other"), set()),
]


@pytest.mark.parametrize(("key", "edit", "expected"), PARAM_CHANGES, ids=[c[0] for c in PARAM_CHANGES])
def test_a_param_change_reruns_exactly_the_stages_that_read_it(committed, key, edit, expected):
    path = committed / "params.yaml"
    before = path.read_bytes()
    raw = yaml.safe_load(before)
    edit(raw)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    try:
        assert _changed(committed) == expected, key
    finally:
        path.write_bytes(before)
    assert _changed(committed) == set()


CODE_CHANGES = [
    ("training/preprocess.py", {"preprocess"}),
    ("training/train.py", {"train"}),
    ("training/features.py", {"train"}),
    ("model/classification_metrics.py", {"train", "evaluate"}),
    ("model/tracking.py", {"train", "evaluate"}),
    ("training/plots.py", {"evaluate"}),
    ("model/scoring.py", {"train", "evaluate"}),
    ("model/trusted_files.py", {"train", "evaluate"}),
    ("core/config/table_schema.py", {"preprocess", "train", "evaluate"}),
    ("core/atomic_files.py", {"preprocess", "train", "evaluate"}),
    ("core/contracts.py", {"preprocess", "train", "evaluate"}),
    # in training/ but run by the registry task, not by a DVC stage
    ("training/gate.py", set()),
    ("training/registry.py", set()),
    ("monitoring/drift.py", set()),
    ("monitoring/champion_reference.py", set()),
    ("data/validate.py", set()),
]


@pytest.mark.parametrize(("module", "expected"), CODE_CHANGES, ids=[c[0] for c in CODE_CHANGES])
def test_a_code_change_reruns_exactly_the_stages_that_import_it(committed, module, expected):
    path = committed / "include" / "tabular_mlops" / module
    before = path.read_bytes()
    path.write_bytes(before + b"\n# changed\n")
    try:
        assert _changed(committed) == expected, module
    finally:
        path.write_bytes(before)
