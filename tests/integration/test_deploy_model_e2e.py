"""deploy_model through real Airflow (dag.test), a real MLflow registry with real (small) models, a real SQLite
monitoring database and a real scoring service on uvicorn that the DAG switches through its admin API.

The nightly evidence is what monitor_nightly records (paired shadow comparisons with the sequential test carried
night to night, computed here by the same stats functions) and what the service logs (online answers of both
versions with latency and fallback flags). A better challenger goes shadow -> canary -> full and ends champion,
the service switched shadow -> canary -> champion alone by the run; a canary whose answers fail rolls back by
itself and the service leaves canary; a challenger the test finds worse never leaves shadow; a version given in
the trigger form starts its shadow; a service that cannot be reached fails the run, naming its URL, and changes
nothing. Every step is on the version's tags and in the run's note; every switch in the deploy log.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from tests.support.airflow_runs import project_env, run_dag
from tests.support.gate_marks import promote_as_the_gate
from tests.support.live_service import admin_client, asked_service, free_port, live_service
from tests.support.project import make_project
from tests.support.registered_models import register_small_model

pytestmark = pytest.mark.e2e

MODEL = "credit_default"
NIGHT = dt.date(2026, 3, 1)
PAIRS = 4000
TOKEN = "deploy-model-admin-token"


def _night(i: int) -> dt.date:
    return NIGHT + dt.timedelta(days=i)


@pytest.fixture(scope="module")
def project(tmp_path_factory, airflow_db):
    import mlflow
    from mlflow import MlflowClient
    from tabular_mlops.core.config import load_params
    from tabular_mlops.core.contracts import GATE_HANDED_OVER, Tag

    project = make_project(tmp_path_factory.mktemp("deploy") / "project")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["deploy"]["require_proof"] = True
    params["deploy"]["shadow"]["nights"] = 2
    params["deploy"]["canary"]["guard"].update({"min_requests": 100, "min_latencies": 100, "min_scores": 100})
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env, _, monitor_db = project_env(project)
    uri = f"sqlite:///{project / 'var' / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment(
        "deploy", artifact_location=(project / "var" / "artifacts").as_uri()
    )
    env.set(MLFLOW_EXPERIMENT_ID=experiment)
    loaded = load_params(project / "params.yaml")
    versions = [register_small_model(MODEL, loaded.schema, seed, 8 + seed) for seed in range(1, 6)]
    assert versions == ["1", "2", "3", "4", "5"]
    client = MlflowClient()
    engine = sa.create_engine(f"sqlite:///{monitor_db}")
    promote_as_the_gate(MODEL, "1", engine)
    for version in ("2", "3", "4"):  # handed over by the gate (deploy.require_proof); v5 is started by hand
        client.set_model_version_tag(MODEL, version, Tag.GATE_DECISION, GATE_HANDED_OVER)
    # The service follows the registry only when asked (the DAG asks), so each switch is the run's doing.
    service = asked_service(loaded, uri, monitor_db, TOKEN, project)
    with live_service(service) as url:
        env.set(MLOPS_SERVING_URL=url, MLOPS_SERVING_ADMIN_TOKEN=TOKEN)
        yield {"project": project, "engine": engine, "client": client, "service": service, "url": url,
               "env": env}  # fmt: skip
    service.stop()
    mlflow.set_tracking_uri(None)
    env.restore()


def _in_force(project) -> dict:
    with admin_client(project["url"], TOKEN) as admin:
        return admin.get("/admin/deploy").json()


def _switches(project, version: str) -> list[tuple[str, str, str]]:
    """The deploy log's strategy changes for `version`, oldest first: (from, to, who)."""
    from tabular_mlops.store.deploy_log import DeployLog

    events = DeployLog(project["engine"]).history(MODEL, limit=1000)
    return [
        (e.from_strategy or "", e.to_strategy, e.actor)
        for e in reversed(events)
        if e.challenger_version == version and e.event == "strategy_change"
    ]


def _hand_over(client, version: str) -> None:
    """What the gate does with deploy.require_proof: the `challenger` alias and the first stage."""
    from tabular_mlops.core.contracts import CHALLENGER, RolloutStage, Tag

    client.set_registered_model_alias(MODEL, CHALLENGER, version)
    client.set_model_version_tag(MODEL, version, Tag.ROLLOUT_STAGE, RolloutStage.SHADOW)


def _record_shadow_night(project, night, champion, challenger, lift: float, seed: int) -> None:
    """The night's paired comparison as monitor_nightly records it: a challenger `lift` closer to the truth."""
    from tabular_mlops.core.config import load_params
    from tabular_mlops.monitoring.results import ShadowComparison
    from tabular_mlops.monitoring.shadow_analysis import (
        record_comparison,
        recorded_comparisons,
        sequential_design,
    )
    from tabular_mlops.stats.paired import compare_paired, loss_improvements
    from tabular_mlops.stats.sequential import paired_look, update

    rng = np.random.default_rng(seed)
    a = np.clip(rng.beta(2, 5, PAIRS), 0.01, 0.99)
    y = (rng.random(PAIRS) < a).astype(float)
    b = np.clip(a + lift * (y - a) + rng.normal(0, 0.02, PAIRS), 0.01, 0.99)
    kw = {"champion_threshold": 0.5, "challenger_threshold": 0.5}
    engine = project["engine"]
    earlier = [c for n, c in sorted(recorded_comparisons(engine, champion, challenger).items()) if n < night]
    deploy = load_params(project["project"] / "params.yaml").deploy
    test = update(
        sequential_design(deploy),
        earlier[-1].test if earlier else None,
        paired_look(loss_improvements(y, a, b, "log_loss")),
    )
    comparison = ShadowComparison(
        champion,
        challenger,
        "log_loss",
        compare_paired(a, b, **kw),
        compare_paired(a, b, labels=y, **kw),
        test,
    )
    record_comparison(engine, night, comparison)


def _log_online(project, night, version: str, rows: int, fallback_share: float, seed: int) -> None:
    """The service's online answers of one version on `night` (latency, fallbacks without a score)."""
    from tabular_mlops.core.config import load_params
    from tabular_mlops.core.contracts import ONLINE_SOURCE
    from tabular_mlops.store import prediction_log

    schema, engine = load_params(project["project"] / "params.yaml").schema, project["engine"]
    rng = np.random.default_rng(seed)
    fallback = rng.random(rows) < fallback_share
    start = dt.datetime.combine(night, dt.time())
    frame = pd.DataFrame(
        {
            "prediction_id": [f"online:{version}:{night}:{i}" for i in range(rows)],
            schema.id_column: [f"{version}-{night}-{i}" for i in range(rows)],
            schema.timestamp_column: [start + dt.timedelta(seconds=i) for i in range(rows)],
            "score": np.where(fallback, np.nan, rng.beta(2, 5, rows)),
            "decision": 0,
            "model_name": MODEL,
            "model_version": version,
            "scoring_run_id": "service",
            "source": ONLINE_SOURCE,
            "latency_ms": rng.uniform(5, 40, rows),
            "fallback": fallback,
        }
    )
    table = prediction_log.ensure_table(engine, schema)
    with engine.begin() as conn:
        conn.execute(table.insert(), prediction_log.keyed(frame.replace({np.nan: None}).to_dict("records")))


def _note(run_id: str) -> str:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == "deploy_model", DagRun.run_id == run_id).one()
        return run.note or ""


def _deploy(night, conf=None):
    run = run_dag("deploy_model", logical_date=night, conf=conf)
    assert str(run.state) == "success"
    return _note(run.run_id)


def _aliases(client) -> dict[str, str]:
    return {alias: str(v) for alias, v in client.get_registered_model(MODEL).aliases.items()}


def test_a_better_challenger_goes_shadow_canary_full(project):
    from tabular_mlops.core.contracts import Tag
    from tabular_mlops.store.promotion_ledger import history

    engine, client = project["engine"], project["client"]
    _hand_over(client, "2")
    _record_shadow_night(project, _night(0), "1", "2", lift=0.15, seed=0)
    note = _deploy(_night(0))
    assert note.startswith("**WAIT** credit_default v2: shadow -> shadow") and "1 of 2 nights" in note, note
    state = _in_force(project)  # the gate handed it over; the run put the service in shadow
    assert (state["strategy"], state["challenger"]) == ("shadow", "2") and state["actor"].startswith(
        "airflow:deploy_model/"
    ), state
    _record_shadow_night(project, _night(1), "1", "2", lift=0.15, seed=1)
    note = _deploy(_night(1))
    assert note.startswith("**ADVANCE** credit_default v2: shadow -> canary"), note
    assert "score_psi: passed" in note and "sequential_test: passed" in note
    assert _aliases(client) == {"champion": "1", "challenger": "2"}  # the alias has not moved yet
    assert _in_force(project)["strategy"] == "canary"
    _log_online(project, _night(2), "1", 400, 0.0, seed=2)
    _log_online(project, _night(2), "2", 400, 0.0, seed=3)
    _record_shadow_night(project, _night(2), "1", "2", lift=0.15, seed=4)
    note = _deploy(_night(2))
    assert note.startswith("**PROMOTE** credit_default v2: canary -> full"), note
    assert "canary_guard: passed" in note and "challenger_better" in note
    # The guard's pass names its figures against their thresholds (design point 3), as a rollback does.
    guard = next(line for line in note.splitlines() if "canary_guard: passed" in line)
    assert "canary error rate 0.00% (0 of 400; champion 0.00%), <= 0.02" in guard, guard
    assert "canary p99 latency " in guard and "ms over 400 requests" in guard and "<= 250" in guard, guard
    assert "score PSI " in guard and "of 400 canary vs 400 champion scores, <= 0.2" in guard, guard
    assert _aliases(client) == {"champion": "2", "previous_champion": "1"}
    tags = client.get_model_version(MODEL, "2").tags
    assert tags[Tag.ROLLOUT_STAGE] == "full" and tags[Tag.GATE_DECISION] == "promoted"
    steps = sorted(k for k in tags if k.startswith(Tag.ROLLOUT_STEP_PREFIX))
    assert steps == [f"{Tag.ROLLOUT_STEP_PREFIX}{_night(i)}" for i in range(3)]
    assert tags[steps[1]].startswith("shadow advance") and tags[steps[2]].startswith("canary promote")
    (entry,) = [e for e in history(engine, MODEL) if e.to_version == "2"]
    assert entry.action == "promote" and entry.from_version == "1" and entry.actor.startswith("airflow:")
    # The service answers with the new champion alone; each switch is the run's, in the log and on the tags.
    assert _in_force(project)["strategy"] == "champion"
    assert project["service"].holder.current.version == "2"
    switches = _switches(project, "2")
    assert [(f, t) for f, t, _ in switches] == [
        ("champion", "shadow"),
        ("shadow", "canary"),
        ("canary", "champion"),
    ]
    assert all(who.startswith("airflow:deploy_model/") for _, _, who in switches), switches
    last = json.loads(tags[Tag.DEPLOY_LAST_CHANGE])
    assert (last["from"], last["to"], tags[Tag.DEPLOY_STRATEGY]) == ("canary", "champion", "champion")
    assert last["by"].startswith("airflow:deploy_model/") and last["at"]


def test_a_failing_canary_rolls_back_by_itself(project):
    from tabular_mlops.core.contracts import RolloutStage, Tag

    client = project["client"]
    _hand_over(client, "3")
    client.set_model_version_tag(MODEL, "3", Tag.ROLLOUT_STAGE, RolloutStage.CANARY)
    client.set_model_version_tag(MODEL, "3", Tag.ROLLOUT_SINCE, _night(3).isoformat())
    with admin_client(project["url"], TOKEN) as admin:  # where an earlier run left it: v3 in canary
        assert admin.post("/admin/challenger/reload").json()["challenger"] == "3"
        switched = admin.put("/admin/strategy", json={"strategy": "canary", "actor": "test"})
        assert switched.status_code == 200, switched.text
    _log_online(project, _night(4), "2", 400, 0.0, seed=5)
    _log_online(project, _night(4), "3", 400, 0.3, seed=6)  # 30% of its answers fail
    note = _deploy(_night(4))
    assert note.startswith("**ROLLBACK** credit_default v3: canary -> rolled_back"), note
    assert "canary_guard: failed: canary error rate" in note
    assert _aliases(client) == {"champion": "2", "previous_champion": "1"}  # the champion stays
    tags = client.get_model_version(MODEL, "3").tags
    assert tags[Tag.ROLLOUT_STAGE] == "rolled_back" and "error rate" in tags[Tag.ROLLED_BACK]
    state = _in_force(project)  # the challenger is out of callers' answers
    assert state["strategy"] == "champion" and state["actor"].startswith("airflow:deploy_model/"), state
    assert "canary rollback" in state["reason"] and "error rate" in state["reason"]
    assert _switches(project, "3")[-1][:2] == ("canary", "champion")


def test_a_worse_challenger_never_leaves_shadow(project):
    from tabular_mlops.core.contracts import Tag

    client = project["client"]
    _hand_over(client, "4")
    _record_shadow_night(project, _night(6), "2", "4", lift=-0.3, seed=7)
    note = _deploy(_night(6))
    assert note.startswith("**ROLLBACK** credit_default v4: shadow -> rolled_back"), note
    assert "sequential_test: failed: test challenger_worse" in note
    assert "challenger" not in _aliases(client) and _aliases(client)["champion"] == "2"
    assert client.get_model_version(MODEL, "4").tags[Tag.ROLLOUT_STAGE] == "rolled_back"


def test_a_version_given_by_hand_starts_its_shadow_and_nothing_else_is_touched(project):
    from tabular_mlops.core.contracts import Tag

    client = project["client"]
    assert _deploy(_night(7)).startswith("**NOTHING TO DEPLOY**")
    note = _deploy(_night(7), conf={"version": "5"})
    assert note.startswith("**START** credit_default v5: new -> shadow"), note
    tags = client.get_model_version(MODEL, "5").tags
    assert tags[Tag.ROLLOUT_STAGE] == "shadow" and tags[Tag.ROLLOUT_SINCE] == _night(7).isoformat()
    # The service shadows the version holding the `challenger` alias; the champion has not moved.
    assert _aliases(client) == {"champion": "2", "previous_champion": "1", "challenger": "5"}
    state = _in_force(project)
    assert (state["strategy"], state["challenger"]) == ("shadow", "5"), state


def test_an_unreachable_service_fails_the_step_naming_its_url_and_changes_nothing(project):
    """v5 (in shadow since the test above) with the service's URL pointing where nothing listens."""
    import re

    from tabular_mlops.core.config import load_params
    from tabular_mlops.monitoring.rollout_night import rollout_step
    from tabular_mlops.serving.strategy_client import ServiceUnreachable, StrategyClient

    client, env = project["client"], project["env"]
    before = (_aliases(client), client.get_model_version(MODEL, "5").tags)
    dead = f"http://127.0.0.1:{free_port()}"
    env.set(MLOPS_SERVING_URL=dead)
    try:
        run = run_dag("deploy_model", logical_date=_night(8))
    finally:
        env.set(MLOPS_SERVING_URL=project["url"])
    assert str(run.state) == "failed"
    assert (_aliases(client), client.get_model_version(MODEL, "5").tags) == before
    params = load_params(project["project"] / "params.yaml")
    with pytest.raises(
        ServiceUnreachable, match=re.escape(f"the scoring service at {dead} cannot be reached")
    ):
        rollout_step(
            MODEL, params.schema, params.deploy, project["engine"], _night(8), StrategyClient(dead, TOKEN)
        )
    assert (_aliases(client), client.get_model_version(MODEL, "5").tags) == before


def test_a_version_handed_over_mid_rollout_closes_the_earlier_ones_stage(project):
    """Design point 2: v5 is in shadow (started by hand above) when a retraining's gate hands v6 over. v6 takes
    the `challenger` alias, so v5's rollout can never step again: deploy_model closes it (rollout.stage
    superseded, a step naming v6) and says so in v6's note, instead of leaving v5 in shadow for ever."""
    from tabular_mlops.core.config import load_params
    from tabular_mlops.core.contracts import GATE_HANDED_OVER, Tag

    client = project["client"]
    schema = load_params(project["project"] / "params.yaml").schema
    assert register_small_model(MODEL, schema, 6, 14) == "6"
    client.set_model_version_tag(MODEL, "6", Tag.GATE_DECISION, GATE_HANDED_OVER)
    assert client.get_model_version(MODEL, "5").tags[Tag.ROLLOUT_STAGE] == "shadow"
    _hand_over(client, "6")
    night = _night(9)
    note = _deploy(night)
    assert note.startswith("**WAIT** credit_default v6: shadow -> shadow"), note
    assert (
        f"superseded: passed: v5's rollout closed: shadow superseded: by v6 (handed over) on {night}" in note
    )
    old = client.get_model_version(MODEL, "5").tags
    assert old[Tag.ROLLOUT_STAGE] == "superseded" and old[Tag.ROLLOUT_SINCE] == night.isoformat()
    assert old[f"{Tag.ROLLOUT_STEP_PREFIX}{night}"] == (
        f"shadow superseded: by v6 (handed over) on {night}; in shadow since {_night(7)}"
    )
    # Only rollouts still in shadow or canary are closed: the ended ones keep their stage.
    stages = {v: client.get_model_version(MODEL, v).tags.get(Tag.ROLLOUT_STAGE) for v in ("2", "3", "4")}
    assert stages == {"2": "full", "3": "rolled_back", "4": "rolled_back"}
    assert _aliases(client)["challenger"] == "6"
    # A second night finds nothing more to close.
    assert "superseded" not in _deploy(_night(10))


def test_a_retraining_rejected_mid_rollout_gives_the_alias_back_and_the_rollout_goes_on(project):
    """Design point 4: v6 is in shadow (handed over above) when a retraining registers v7, which takes the
    `challenger` alias before its gate runs (the service, following the alias, loads it), and the gate rejects
    it. The alias goes back to v6 (promote_if_better's path, proven on a real gate in tests/model); the service
    follows it back and deploy_model steps v6's rollout instead of leaving it orphaned ("v7 was not handed
    over: left alone" every night)."""
    from tabular_mlops.core.config import load_params
    from tabular_mlops.core.contracts import CHALLENGER, GATE_PENDING, Tag, gate_rejection
    from tabular_mlops.model.challenger_alias import give_back_challenger

    client = project["client"]
    schema = load_params(project["project"] / "params.yaml").schema
    assert register_small_model(MODEL, schema, 7, 15) == "7"
    client.set_registered_model_alias(MODEL, CHALLENGER, "7")  # what register_challenger does
    client.set_model_version_tag(MODEL, "7", Tag.GATE_DECISION, GATE_PENDING)
    with admin_client(project["url"], TOKEN) as admin:
        assert admin.post("/admin/challenger/reload").json()["challenger"] == "7"
        decision = gate_rejection("thresholds: roc_auc 0.61 < 0.7")
        said = give_back_challenger(client, MODEL, "7", decision, "airflow:train_model/test")
        client.set_model_version_tag(MODEL, "7", Tag.GATE_DECISION, decision)
        assert (
            said
            == f"the 'challenger' alias back on v6 from v7: v6's rollout (shadow since {_night(9)}) goes on"
        )
        assert admin.post("/admin/challenger/reload").json()["challenger"] == "6"  # the service's next poll
    note = _deploy(_night(11))
    assert note.startswith("**WAIT** credit_default v6: shadow -> shadow"), note
    assert _aliases(client)["challenger"] == "6"
    assert _in_force(project)["strategy"] == "shadow"
    tags = client.get_model_version(MODEL, "6").tags
    assert tags[Tag.ROLLOUT_STAGE] == "shadow" and f"{Tag.ROLLOUT_STEP_PREFIX}{_night(11)}" in tags
    assert "back from v7 by airflow:train_model/test" in tags[Tag.ROLLOUT_ALIAS_BACK]
