"""dvc.yaml against the code, statically: every stage depends on exactly the package modules its entry point
imports (so a code change re-runs exactly the stages it affects), and its outputs carry the names of contracts.py."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from tabular_mlops.core import contracts
from tabular_mlops.core.config import load_params

from tests.dvc_stages import REPO, stages
from tests.unit.test_architecture import PACKAGE, imports_of, module_name, package_modules

STAGES = stages()
PARAMS = load_params(REPO / "params.yaml")


def _inert(path: Path) -> bool:
    """A package __init__ holding only a docstring and constants: importing it cannot change a stage's result."""
    body = ast.parse(path.read_text()).body
    return all(
        isinstance(node, ast.Expr | ast.Assign) and isinstance(node.value, ast.Constant) for node in body
    )


def import_closure(module: str) -> set[str]:
    """Repo-relative files of `module` and of every package module it imports, at any depth (lazy imports too)."""
    modules = package_modules()
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += [mod for mod, _, _ in imports_of(modules[name], modules) if mod in modules]
    files = {modules[name] for name in seen}
    # Importing a.b.c runs the __init__ of a and a.b: a dependency unless it is inert.
    for name in seen:
        parts = name.split(".")
        files |= {modules[p] for i in range(1, len(parts)) if (p := ".".join(parts[:i])) in modules}
    explicit = {modules[name] for name in seen}
    return {
        str(f.relative_to(REPO))
        for f in files
        if f in explicit or not (f.name == "__init__.py" and _inert(f))
    }


def test_the_stages_are_the_training_stages():
    assert list(STAGES) == ["preprocess", "train", "evaluate"]
    for stage in STAGES.values():
        assert module_name(PACKAGE.parent / (stage.module.replace(".", "/") + ".py")) == stage.module
        assert "def main(" in (PACKAGE.parent / (stage.module.replace(".", "/") + ".py")).read_text()


@pytest.mark.parametrize("name", list(STAGES))
def test_code_deps_are_exactly_the_modules_the_stage_imports(name):
    stage = STAGES[name]
    declared = set(stage.code_deps)
    needed = import_closure(stage.module)
    assert not needed - declared, (
        f"stage {name} imports modules it does not list as deps: {sorted(needed - declared)}"
    )
    assert not declared - needed, (
        f"stage {name} lists deps it never imports (spurious re-runs): {sorted(declared - needed)}"
    )
    for dep in declared:
        assert (REPO / dep).is_file(), dep


def test_the_closure_sees_lazy_imports():
    """evaluate imports tracking inside a function: the check must still find it."""
    assert "include/tabular_mlops/model/tracking.py" in import_closure("tabular_mlops.training.evaluate")
    assert "include/tabular_mlops/training/gate.py" not in import_closure("tabular_mlops.training.train")


def test_outputs_and_inputs_carry_the_names_of_artifacts():
    p = PARAMS.paths
    pre, train, evaluate = STAGES["preprocess"], STAGES["train"], STAGES["evaluate"]
    processed = {
        f"{p.processed_dir}/{f}"
        for f in (contracts.TRAIN_FILE, contracts.HOLDOUT_FILE, contracts.WINDOW_FILE)
    }
    assert set(pre.paths("outs")) == processed
    assert p.raw_dir in pre.paths("deps")
    assert set(train.paths("outs")) == {f"{p.model_dir}/{contracts.RUN_FILE}"}
    assert {f"{p.processed_dir}/{contracts.TRAIN_FILE}", f"{p.processed_dir}/{contracts.WINDOW_FILE}"} <= set(
        train.paths("deps")
    )
    assert {f"{p.model_dir}/{contracts.RUN_FILE}", f"{p.processed_dir}/{contracts.HOLDOUT_FILE}"} <= set(
        evaluate.paths("deps")
    )
    assert evaluate.paths("metrics") == [f"{p.metrics_dir}/{contracts.HOLDOUT_METRICS_FILE}"]
    assert evaluate.paths("plots") == [f"{p.plots_dir}/{name}" for name in contracts.PlotFile.ALL]
    # the challenger's holdout scores, which the gate reuses
    assert evaluate.paths("outs") == [f"{p.model_dir}/{contracts.HOLDOUT_SCORES_FILE}"]


def test_output_folders_follow_params_paths():
    """Outputs are templated from params.yaml `paths`, so a moved folder moves the outputs with it."""
    for stage in STAGES.values():
        for section in ("outs", "metrics", "plots"):
            for entry in stage.raw.get(section, []):
                path = entry if isinstance(entry, str) else next(iter(entry))
                assert path.startswith("${paths."), (
                    f"stage {stage.name}: {path} is not under a params.yaml path"
                )


def test_declared_and_templated_params_exist_in_params_yaml():
    raw = PARAMS.raw
    for stage in STAGES.values():
        for key in stage.declared_params | stage.templated_params:
            node = raw
            for part in key.split("."):
                assert isinstance(node, dict) and part in node, (
                    f"stage {stage.name}: {key} is not in params.yaml"
                )
                node = node[part]
