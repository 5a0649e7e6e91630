"""The references generated from the code (docs/reference/, params.schema.json, the API nav of mkdocs.yml) are
current, complete, and the JSON Schema of params.yaml accepts the real file and rejects broken copies the way
the loader does."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from tabular_mlops import docs_reference
from tabular_mlops.core.config import ConfigError, load_params
from tabular_mlops.docs_reference import cli_reference, reference_files

REPO = Path(__file__).resolve().parents[2]
PARAMS = REPO / "params.yaml"


class _EditorLoader(yaml.SafeLoader):
    """YAML as an editor's language server reads it (YAML 1.2 core): an unquoted date stays text."""


_EditorLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_params(text: str) -> dict[str, Any]:
    return yaml.load(text, Loader=_EditorLoader)


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads((REPO / docs_reference.SCHEMA_FILE).read_text())


@pytest.fixture(scope="module")
def validator(schema):
    return jsonschema.Draft202012Validator(schema)


def test_every_committed_generated_file_is_current():
    stale = reference_files.stale_files(REPO)
    assert not stale, f"stale generated files {stale}: run `make docs-reference` and commit them"


def test_a_changed_reference_page_is_reported_stale(tmp_path):
    """The staleness check can fail: a copy of the repo's generated files with one line edited is caught."""
    for path, text in reference_files.generated_files(REPO).items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    (tmp_path / "include").symlink_to(REPO / "include")
    assert reference_files.stale_files(tmp_path) == []
    page = tmp_path / docs_reference.PARAMS_PAGE
    page.write_text(page.read_text().replace("| `gate.min_roc_auc` |", "| `gate.min_auc` |"))
    (tmp_path / docs_reference.API_DIR / "gone.md").write_text("# a module that no longer exists\n")
    assert reference_files.stale_files(tmp_path) == [
        docs_reference.PARAMS_PAGE,
        f"{docs_reference.API_DIR}/gone.md",
    ]


def _reference_keys(prefix: str, value: Any) -> list[str]:
    """params.yaml's keys as the reference names them (features by `<name>`, candidates by their model)."""
    if prefix == "schema.features":
        return [prefix] + [f"{prefix}.<name>.{k}" for spec in value.values() for k in spec]
    if prefix == "train.search_space":
        return [prefix] + [f"{prefix}[model={c['model']}].{k}" for c in value for k in c]
    if isinstance(value, dict) and prefix not in ("monitor.default_test", "monitor.column_tests"):
        keys = [prefix] if "." in prefix else []
        return keys + [
            key for k, v in value.items() for key in _reference_keys(f"{prefix}.{k}".lstrip("."), v)
        ]
    return [prefix]


def test_every_params_yaml_key_is_in_the_reference_with_its_meaning():
    page = (REPO / docs_reference.PARAMS_PAGE).read_text()
    # | `key` | type | bounds | default | meaning |
    rows = {
        key: rest.rsplit(" | ", 1)[-1].rstrip(" |")
        for key, rest in re.findall(r"^\| `([^`]+)` \| (.*)$", page, re.M)
    }
    keys = set(_reference_keys("", read_params(PARAMS.read_text())))
    assert len(keys) > 100
    missing = sorted(keys - set(rows))
    assert not missing, f"params.yaml keys missing from {docs_reference.PARAMS_PAGE}: {missing}"
    unexplained = sorted(k for k in keys if not rows[k].strip())
    assert not unexplained, f"give these config fields a docstring (their meaning): {unexplained}"


def test_every_cli_command_and_option_is_in_the_reference():
    from tabular_mlops.cli import build_parser

    page = (REPO / docs_reference.CLI_PAGE).read_text()
    subcommands = cli_reference._subcommands(build_parser())
    assert len(subcommands) >= 10
    for name, parser, _ in subcommands:
        section = page.split(f"### tabular-mlops {name}\n", 1)
        assert len(section) == 2, f"tabular-mlops {name} has no section in {docs_reference.CLI_PAGE}"
        body = section[1].split("\n### ", 1)[0]
        options = [o for action in parser._actions for o in action.option_strings]
        assert all(o in body for o in options), (name, [o for o in options if o not in body])
    assert "## python -m tabular_mlops.stack" in page and "{up,down,status}" in page


def test_params_yaml_names_its_schema_on_the_first_line():
    first = PARAMS.read_text().splitlines()[0]
    assert first == f"# yaml-language-server: $schema={docs_reference.SCHEMA_FILE}"


def test_the_schema_is_a_valid_json_schema(schema):
    jsonschema.Draft202012Validator.check_schema(schema)
    assert set(schema["properties"]) >= {"schema", "train", "gate", "monitor", "serving", "dags"}
    assert "raw" not in schema["properties"] and "source_file" not in schema["properties"]


def test_the_schema_accepts_the_real_params_yaml(validator):
    errors = [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(read_params(PARAMS.read_text()))
    ]
    assert errors == []


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        doc = doc[part]
    if value is _DELETE:
        del doc[last]
    else:
        doc[last] = value


class _Deleted:
    def __repr__(self) -> str:  # a stable test id (pytest-xdist compares the ids its workers collect)
        return "<deleted>"


_DELETE = _Deleted()
# (key path, broken value): each is something a user could type; the schema and the loader both refuse it.
BROKEN = [
    ("gate.min_roc_auc", 1.5),
    ("gate.min_roc_auc", "high"),
    ("monitor.cooldown_days", -1),
    ("serving.port", 70000),
    ("schema.features.age.type", "integer"),
    ("schema.features.age.colour", "red"),
    ("train.refit_on", "everything"),
    ("dags.start_date", "31/01/2026"),
    ("evaluate.decision_threshold", 1.2),
    ("registry.model_name", _DELETE),
    ("gate.spare_key", 1),
]


@pytest.mark.parametrize(("path", "value"), BROKEN, ids=[f"{p}={v!r}" for p, v in BROKEN])
def test_the_schema_rejects_a_broken_params_file_as_the_loader_does(validator, tmp_path, path, value):
    doc = read_params(PARAMS.read_text())
    broken = copy.deepcopy(doc)
    _set(broken, path, value)
    errors = list(validator.iter_errors(broken))
    assert errors, f"the schema accepts {path} = {value!r}"
    # The editor points at the key (or the mapping that lacks or must not hold it).
    parent = path.rsplit(".", 1)[0]
    assert any(".".join(map(str, e.absolute_path)).startswith(parent) for e in errors), [
        e.message for e in errors
    ]
    target = tmp_path / "params.yaml"
    target.write_text(yaml.safe_dump(broken, sort_keys=False))
    with pytest.raises(ConfigError, match=re.escape(path.rsplit(".", 1)[-1])):
        load_params(target)


def test_the_real_params_written_back_the_same_way_still_loads(tmp_path):
    """The broken copies fail for their one change, not for the way they are written."""
    target = tmp_path / "params.yaml"
    target.write_text(yaml.safe_dump(read_params(PARAMS.read_text()), sort_keys=False))
    assert load_params(target).gate == load_params(PARAMS).gate
