"""The CI workflow and the pre-commit hooks: the workflow passes the GitHub workflow schema (check-jsonschema's
copy, offline) and runs .ci/run with the services the scale-out tests need; the hooks use the pinned versions."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
SCALEOUT_CONFTEST = REPO / "tests" / "support" / "scaleout_stack.py"


def pins() -> dict[str, str]:
    lines = (REPO / "requirements.txt").read_text().splitlines()
    return dict(line.lower().split("==", 1) for line in lines if "==" in line and not line.startswith("#"))


def check_workflow(*paths: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema against its vendored GitHub workflow schema (no download)."""
    command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"]
    command += [str(p) for p in paths]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def workflow() -> dict:
    # YAML 1.1 reads the key `on` as True; the workflow's trigger block is under that key.
    return yaml.safe_load(WORKFLOW.read_text())


def test_the_workflow_passes_the_github_workflow_schema():
    result = check_workflow(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


# Each a mistake the forge would refuse the workflow for: the schema check must name every one of these files.
BROKEN = {
    "no_runs_on.yml": ("    runs-on: ubuntu-latest\n", ""),
    "timeout_text.yml": ("timeout-minutes: 90", "timeout-minutes: ninety"),
    "uses_with_shell.yml": (
        "      - uses: actions/checkout@v4\n",
        "      - uses: actions/checkout@v4\n        shell: bash\n",
    ),
}


def test_the_schema_check_rejects_each_broken_workflow(tmp_path):
    text = WORKFLOW.read_text()
    paths = []
    for name, (old, new) in BROKEN.items():
        assert old in text, name
        paths.append(tmp_path / name)
        paths[-1].write_text(text.replace(old, new, 1))
    result = check_workflow(*paths)
    assert result.returncode != 0
    accepted = [p.name for p in paths if str(p) not in result.stdout + result.stderr]
    assert not accepted, f"the schema check accepted {accepted}:\n{result.stdout}"


def test_the_workflow_runs_ci_run_on_push_and_pull_request_with_its_services():
    ports = re.search(r"^PG_PORT, REDIS_PORT = (\d+), (\d+)$", SCALEOUT_CONFTEST.read_text(), re.M)
    assert ports is not None, f"{SCALEOUT_CONFTEST}: where do the scale-out tests find PostgreSQL and Redis?"
    PG_PORT, REDIS_PORT = ports.groups()
    flow = workflow()
    assert set(flow[True]) == {"push", "pull_request"}
    job = flow["jobs"]["ci"]
    assert any(step.get("run") == "bash .ci/run" for step in job["steps"])
    services = job["services"]
    assert f"{PG_PORT}:5432" in services["postgres"]["ports"]
    assert (
        services["postgres"]["env"]["POSTGRES_HOST_AUTH_METHOD"] == "trust"
    )  # the tests connect as postgres
    assert f"{REDIS_PORT}:6379" in services["redis"]["ports"]
    assert job["timeout-minutes"] <= 90


def test_the_workflow_caches_uv_and_uploads_the_report_make_test_writes():
    job = workflow()["jobs"]["ci"]
    steps = {step.get("uses", "").split("@")[0]: step for step in job["steps"]}
    assert "uv" in steps["actions/cache"]["with"]["path"]
    assert "requirements.txt" in steps["actions/cache"]["with"]["key"]
    upload = steps["actions/upload-artifact"]
    assert upload["if"] == "always()" and upload["with"]["path"] == job["env"]["TEST_REPORT"]
    makefile = (REPO / "Makefile").read_text()
    assert "$(if $(TEST_REPORT),--junitxml=$(TEST_REPORT))" in makefile


def test_the_browser_checks_run_after_ci_on_a_stack_after_a_drill_and_upload_their_screenshots():
    job = workflow()["jobs"]["browser"]
    assert job["needs"] == "ci"
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert runs[:3] == ["make run", "make drill SCENARIO=covariate_harmful NIGHTS=3", "make test-browser"]
    assert runs[-1] == "make stop"
    (upload,) = [step for step in job["steps"] if step.get("uses", "").startswith("actions/upload-artifact")]
    shots = re.search(
        r'^SHOTS = .*"var" / "browser"', (REPO / "tests" / "browser" / "test_ui.py").read_text(), re.M
    )
    assert upload["if"] == "always()" and upload["with"]["path"] == "var/browser/" and shots


def test_ci_run_builds_the_docs_strictly_after_the_tests():
    steps = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if line.startswith("make ")]
    assert steps.index("make docs") > steps.index("make test")
    docs_target = re.search(r"^docs: .*\n\t(.*)$", (REPO / "Makefile").read_text(), re.M)
    assert docs_target is not None and "mkdocs build --strict" in docs_target.group(1)


def test_pre_commit_runs_ruff_and_mypy_at_the_pinned_versions():
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    repos = {repo["repo"]: repo for repo in config["repos"]}
    ruff = repos["https://github.com/astral-sh/ruff-pre-commit"]
    assert ruff["rev"] == f"v{pins()['ruff']}"
    assert {hook["id"] for hook in ruff["hooks"]} == {"ruff-check", "ruff-format"}
    (mypy,) = [hook for hook in repos["local"]["hooks"] if hook["id"] == "mypy"]
    # The hook runs the venv's mypy, which make venv installs from requirements.txt at this version.
    assert mypy["entry"] == ".venv/bin/mypy" and "mypy" in pins()
