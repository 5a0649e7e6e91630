"""One promotion at a time: two gates and a rollback started at the same moment in separate processes never lose
a promotion or report the same previous champion twice; every alias move is in the ledger, as a chain."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os

import pytest
import yaml
from tabular_mlops.core.config import load_params
from tabular_mlops.core.contracts import CHAMPION, PREVIOUS_CHAMPION
from tabular_mlops.model.tracking import configure_tracking
from tabular_mlops.store.promotion_ledger import history
from tabular_mlops.training import registry
from tabular_mlops.training.evaluate import evaluate
from tabular_mlops.training.preprocess import split_window
from tabular_mlops.training.train import train

from tests.support.project import REPO, ledger_engine, make_project, publish_history, register, tracking_store

START = dt.date(2026, 1, 1)


def _act(args: tuple) -> dict:
    """One contender, in its own process: wait for the others, then promote or roll back."""
    kind, project, version, barrier = args
    from pathlib import Path

    # A fresh process: point it at the contenders' store (the forkserver's environment does not say it).
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(project) / 'mlflow.db'}"

    from tabular_mlops.core.config import load_params
    from tabular_mlops.model.tracking import configure_tracking
    from tabular_mlops.training import registry

    project = Path(project)
    params = load_params(project / "params.yaml")
    configure_tracking(params, project)
    engine = ledger_engine(project)
    barrier.wait(timeout=120)
    if kind == "rollback":
        return {
            "kind": kind,
            **registry.rollback(params.registry.model_name, engine, f"proc-{kind}", "test").to_dict(),
        }
    return {
        "kind": kind,
        **registry.promote_if_better(params, project, version, engine, f"proc-{version}").to_dict(),
    }


@pytest.fixture(scope="module")
def contested(tmp_path_factory):
    """v1 promoted, then v2 (previous v1); v3 and v4 are challengers as good as v2."""
    project = make_project(tmp_path_factory.mktemp("lock") / "project")
    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw["train"]["search_space"] = [
        {"model": "hist_gradient_boosting", "learning_rate": 0.1, "max_iter": 60, "max_depth": 3}
    ]
    # This tests concurrency, not latency: three gates at once on two cores must not fail the latency budget, and
    # 20 timed single-row predictions a gate do for a budget no model here comes near (200 cost about a CPU s a gate).
    raw["gate"]["latency_p95_ms"] = 5000
    raw["gate"]["latency_samples"] = 20
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    with tracking_store(f"sqlite:///{project / 'mlflow.db'}"):
        params = load_params(project / "params.yaml")
        publish_history(project, params, rows=1200)
        split_window(params, project)
        configure_tracking(params, project)
        versions = []
        for i in range(4):
            train(params, project)
            evaluate(params, project)
            versions.append(register(params, project).version)
            if i < 2:
                result = registry.promote_if_better(
                    params, project, versions[-1], ledger_engine(project), "setup"
                )
                assert result.promoted, result
        yield project, params, versions


def test_concurrent_promotions_and_a_rollback_form_one_chain(contested):
    project, params, (v1, v2, v3, v4) = contested
    name = params.registry.model_name
    # Fresh single-threaded processes, as separate task processes are, forked from a server that has imported this
    # module (the package, MLflow) once: three spawned interpreters each imported it all again before the barrier.
    # (One forkserver per pytest process: when another module started it first, its own preload stands, and
    # each contender imports what it lacks after the fork, still before the barrier.)
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    barrier = ctx.Manager().Barrier(3)
    jobs = [("promote", str(project), v3, barrier), ("promote", str(project), v4, barrier)]
    jobs.append(("rollback", str(project), None, barrier))
    with ctx.Pool(3) as pool:
        results = pool.map(_act, jobs)

    entries = history(ledger_engine(project), name)
    setup, contest = entries[:2], entries[2:]
    assert [(e.from_version, e.to_version) for e in setup] == [(None, v1), (v1, v2)]
    # Every move starts where the previous one ended: nothing was lost, nothing moved twice from one state.
    for before, after in zip(entries, entries[1:], strict=False):
        assert after.from_version == before.to_version, [
            (e.action, e.from_version, e.to_version) for e in entries
        ]
    assert registry.alias_version(name, CHAMPION) == entries[-1].to_version
    assert registry.alias_version(name, PREVIOUS_CHAMPION) == entries[-1].from_version
    rollbacks = [r for r in results if r["kind"] == "rollback"]
    assert len(rollbacks) == 1 and any(e.action == "rollback" for e in contest)

    promotions = [r for r in results if r["kind"] == "promote"]
    promoted = [r for r in promotions if r["promoted"]]
    # A contender that was not promoted says why: the champion moved while its gate ran.
    for r in promotions:
        if not r["promoted"]:
            assert "the champion moved" in r["decision"], r
    # Each promotion reports the champion it really replaced, as the ledger has it.
    by_target = {e.to_version: e for e in contest if e.action == "promote"}
    assert {r["version"] for r in promoted} == set(by_target)
    for r in promoted:
        assert r["previous_champion"] == by_target[r["version"]].from_version


def test_the_cli_prints_the_ledger_and_rolls_back_under_the_lock(contested, monkeypatch, capsys):
    """`tabular-mlops rollback` and `promotions` as `cli.main`, the function the commands call (exit code and
    printed JSON), in this process: two interpreters importing the package and MLflow bought nothing asserted."""
    from tabular_mlops.cli import main

    project, params, _ = contested
    monkeypatch.setenv("MLOPS_PROJECT_DIR", str(project))
    monkeypatch.chdir(REPO)
    url = f"sqlite:///{project / 'monitoring.db'}"
    before = len(history(ledger_engine(project), params.registry.model_name))
    capsys.readouterr()
    assert main(["rollback", "--db-url", url, "--reason", "cli test"]) == 0, capsys.readouterr().err
    moved = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(["promotions", "--db-url", url, "--last", "1"]) == 0, capsys.readouterr().err
    last = json.loads(capsys.readouterr().out)
    assert len(history(ledger_engine(project), params.registry.model_name)) == before + 1
    assert last[0]["action"] == "rollback" and last[0]["to_version"] == moved["champion"]
    assert last[0]["reasons"] == ["cli test"] and last[0]["actor"].startswith("cli:")
