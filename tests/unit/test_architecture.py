"""The house rules, checked on the source: no import cycles, no Airflow in the domain package, stages talk to
each other only through public names, and every naming contract is spelled once (in contracts.py)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from tabular_mlops.core import contracts

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "include" / "tabular_mlops"
GROUND_FLOOR = ("core", "model", "store", "stats")
STAGES = ("data", "training", "monitoring", "serving")
# The local stack and the CLI stand on everything: they start, seed and report on every stage.
TOP_FLOOR = ("stack", "cli", "__main__")
# The one arrow between stages: monitoring reads the champion's reference data through data's versioning.
ALLOWED_STAGE_ARROWS = {("monitoring", "tabular_mlops.data.versioning")}
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path, modules: dict[str, Path]) -> Iterator[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every import in the file, functions included."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base])
            for alias in node.names:
                # `from pkg import module` imports a module, not a name.
                if f"{base}.{alias.name}" in modules:
                    yield f"{base}.{alias.name}", None, node.lineno
                else:
                    yield base, alias.name, node.lineno


def stage_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in (*STAGES, "stack") else None


def floor_of(module: str) -> str | None:
    """'ground', 'stage' or 'top' for a package module (None for anything outside the package)."""
    parts = module.split(".")
    if parts[0] != "tabular_mlops" or len(parts) < 2:
        return None
    if parts[1] in GROUND_FLOOR:
        return "ground"
    if parts[1] in STAGES:
        return "stage"
    return "top"


def floor_violations(modules: dict[str, Path]) -> list[str]:
    """Every import that breaks the floor rules, as `file:line: rule`."""
    out = []
    for name, path in modules.items():
        here = floor_of(name)
        for mod, _, line in imports_of(path, modules):
            there = floor_of(mod)
            if there is None or mod == "tabular_mlops":
                continue
            where = f"{path.relative_to(REPO)}:{line} imports {mod}"
            if here == "ground" and there != "ground":
                out.append(f"{where}: the ground floor (core, model, store, stats) imports no stage")
            elif here == "stage" and there == "top":
                out.append(f"{where}: a stage never imports the stack or the CLI")
            elif here == "stage" and there == "stage" and mod.split(".")[1] != name.split(".")[1]:
                if (name.split(".")[1], mod) not in ALLOWED_STAGE_ARROWS:
                    out.append(f"{where}: stages stand side by side and import only the ground floor")
    return out


def test_the_domain_package_never_imports_airflow():
    offenders = [
        f"{path.relative_to(REPO)}:{line} imports {mod}"
        for path in package_modules().values()
        for mod, _, line in imports_of(path, package_modules())
        if mod == "airflow" or mod.startswith("airflow.")
    ]
    assert not offenders, offenders


def test_no_import_cycles_between_modules():
    modules = package_modules()
    graph = {
        name: {mod for mod, _, _ in imports_of(path, modules) if mod in modules and mod != name}
        for name, path in modules.items()
    }
    # A package's __init__ is imported by its children implicitly; only explicit edges count.
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles


def test_stages_use_only_public_names_of_other_stages():
    modules = package_modules()
    offenders = []
    for name, path in modules.items():
        here = stage_of(name)
        for mod, imported, line in imports_of(path, modules):
            there = stage_of(mod)
            if there is None or there == here:
                continue
            private_module = any(part.startswith("_") for part in mod.split(".") if part != "__init__")
            if private_module or (imported or "").startswith("_"):
                offenders.append(f"{path.relative_to(REPO)}:{line} uses {mod}.{imported or ''}")
    assert not offenders, offenders


def test_stages_stand_side_by_side_on_the_ground_floor():
    offenders = floor_violations(package_modules())
    assert not offenders, "\n".join(offenders)


def test_the_floor_check_catches_an_arrow_between_stages():
    """The check above must be able to fail: a serving module importing training, a ground-floor module
    importing monitoring."""
    probes = {
        "tabular_mlops.serving._arrow_probe": PACKAGE / "serving" / "_arrow_probe.py",
        "tabular_mlops.model._arrow_probe": PACKAGE / "model" / "_arrow_probe.py",
    }
    probes["tabular_mlops.serving._arrow_probe"].write_text("from tabular_mlops.training import gate\n")
    probes["tabular_mlops.model._arrow_probe"].write_text("from tabular_mlops.monitoring import decision\n")
    try:
        hits = floor_violations({**package_modules(), **probes})
    finally:
        for path in probes.values():
            path.unlink()
    assert any("serving/_arrow_probe.py" in h and "side by side" in h for h in hits), hits
    assert any("model/_arrow_probe.py" in h and "ground floor" in h for h in hits), hits


def test_only_entry_points_sit_at_the_package_root():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py", "cli.py")]
    assert not loose, f"modules belong in a subpackage (ground floor or stage), not at the root: {loose}"


def test_files_stay_small():
    big = {
        str(p.relative_to(REPO)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not big, f"split these files (over {MAX_LINES} lines): {big}"


def test_module_names_are_unique_in_the_package():
    seen: dict[str, list[str]] = {}
    for p in PACKAGE.rglob("*.py"):
        if p.name not in ("__init__.py", "__main__.py"):
            seen.setdefault(p.stem, []).append(str(p.relative_to(PACKAGE)))
    twice = {k: v for k, v in seen.items() if len(v) > 1}
    assert not twice, f"one name, one meaning: rename one of each {twice}"


# ------------------------------------------------------------------------------------ naming contracts

# Contract values that are also ordinary words (JSON keys, CLI names, summary fields): only their use as the
# argument of an alias or tag call counts as spelling the contract.
WORD_VALUES = {
    contracts.CHAMPION,
    contracts.CHALLENGER,
    contracts.PREVIOUS_CHAMPION,
    contracts.Tag.STAGE,
    contracts.Tag.LAST_NIGHT,
    contracts.Tag.BEST_CANDIDATE,
}
CONTRACT_VALUES = {
    contracts.DATA_DVC_FILE,
    contracts.DVC_LOCK_FILE,
    contracts.TRAIN_FILE,
    contracts.HOLDOUT_FILE,
    contracts.WINDOW_FILE,
    contracts.RUN_FILE,
    contracts.HOLDOUT_METRICS_FILE,
    contracts.GX_SIDECAR_SUFFIX,
    contracts.SERVING_CACHE_POINTER,
    contracts.SERVING_CACHE_META,
    *contracts.PlotFile.ALL,
    *(v for k, v in vars(contracts.Tag).items() if k.isupper()),
    # Connection ids, the prediction log's own columns and the training trigger's environment: names no
    # ordinary word shares (the log's `score` or `label` are also API fields and frame columns: not checked).
    contracts.SOURCE_CONN_ID,
    contracts.MONITORING_CONN_ID,
    contracts.LogColumn.SCORING_RUN_ID,
    contracts.LogColumn.LABEL_JOINED_AT,
    contracts.LogColumn.SAMPLE_KEY,
    *(v for k, v in vars(contracts.TriggerEnv).items() if k.isupper()),
} - WORD_VALUES
CONTRACT_FRAGMENTS = ("day=", "@champion", "@challenger")
CODE_DIRS = ("include/tabular_mlops", "dags", "plugins", "scripts")


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def contract_spellings(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(), str(path))
    skip = _docstrings(tree)
    # Arguments of calls that take an alias or a tag key (get_model_version_by_alias, set_tag, ...).
    call_args = {
        id(arg)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and any(w in _call_name(node).lower() for w in ("alias", "tag"))
        for arg in [*node.args, *(k.value for k in node.keywords)]
    }
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str) or id(node) in skip:
            continue
        value = node.value
        if (
            value in CONTRACT_VALUES
            or (value in WORD_VALUES and id(node) in call_args)
            or any(f in value for f in CONTRACT_FRAGMENTS)
        ):
            yield f"{path.relative_to(REPO)}:{node.lineno} spells {value!r}"


@pytest.mark.parametrize("folder", CODE_DIRS)
def test_naming_contracts_are_spelled_only_in_contracts(folder):
    offenders = [
        hit
        for path in sorted((REPO / folder).rglob("*.py"))
        if path != PACKAGE / "core" / "contracts.py"
        for hit in contract_spellings(path)
    ]
    assert not offenders, "\n".join(offenders)


def test_the_contract_check_catches_a_spelled_contract(tmp_path):
    """The check above must be able to fail: a module that spells a file name and an alias is caught."""
    bad = REPO / "include" / "tabular_mlops" / "_contract_probe.py"
    bad.write_text(
        'X = "run.json"\nclient.get_model_version_by_alias("m", "champion")\nY = f"models:/m@champion"\n'
        'def connect(url, conn_id="source_db"): ...\n'
    )
    try:
        hits = list(contract_spellings(bad))
    finally:
        bad.unlink()
    assert len(hits) == 4, hits
