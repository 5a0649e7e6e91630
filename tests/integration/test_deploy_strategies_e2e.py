"""Deployment strategies on real parts: two versions logged and registered the way training does in a real
MLflow store (SQLite), champion and challenger aliases, the service loading both through trusted loading and
model tests, a real uvicorn, HTTP clients, the prediction log and the deploy log in SQLite.

Faults are injected into the loaded challenger object (a scorer that throws or hangs): a model file that raises
on valid input would not pass the model tests, and a hang cannot be serialised with skops.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import mlflow
import pandas as pd
import pytest
import sqlalchemy as sa
from mlflow import MlflowClient
from tabular_mlops.core.contracts import (
    CHALLENGER,
    CHAMPION,
    GATE_HANDED_OVER,
    GATE_PENDING,
    ONLINE_SOURCE,
    SHADOW_SOURCE,
    Tag,
)
from tabular_mlops.serving.deployment import LIVE_STRATEGIES as LIVE
from tabular_mlops.serving.service import ScoringService
from tabular_mlops.serving.settings import ServiceEnv
from tabular_mlops.stack.traffic import TrafficPlan, run_traffic, simulated_rows
from tabular_mlops.stats.routing import canary_plan
from tabular_mlops.store.deploy_log import DeployLog

from tests.support.airflow_runs import Env
from tests.support.gate_marks import promote_as_the_gate
from tests.support.live_service import admin_client, live_service
from tests.support.registered_models import register_small_model

pytestmark = pytest.mark.e2e

NAME = "credit_default"
TOKEN = "deploy-admin-token"
SHARE = 0.3


@pytest.fixture(scope="module")
def registry(tmp_path_factory, repo_params):
    """v1 champion, v2 challenger in a real MLflow store."""
    root = tmp_path_factory.mktemp("deploy-registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    env = Env()
    env.set(MLFLOW_TRACKING_URI=uri, MLFLOW_HTTP_REQUEST_MAX_RETRIES="1")
    mlflow.set_tracking_uri(uri)
    exp = mlflow.create_experiment("deploy", artifact_location=(root / "artifacts").as_uri())
    env.set(MLFLOW_EXPERIMENT_ID=exp)
    champion, challenger = (
        register_small_model(NAME, repo_params.schema, 1, 20),
        register_small_model(NAME, repo_params.schema, 2, 25),
    )
    client = MlflowClient()
    client.set_registered_model_alias(NAME, CHAMPION, champion)
    client.set_registered_model_alias(NAME, CHALLENGER, challenger)
    # the gate's hand-over (deploy.require_proof): only such a challenger may take live traffic
    client.set_model_version_tag(NAME, challenger, Tag.GATE_DECISION, GATE_HANDED_OVER)
    yield {"uri": uri, "champion": champion, "challenger": challenger}
    mlflow.set_tracking_uri(None)
    env.restore()


def _service(repo_params, tmp_path, registry, **guard) -> ScoringService:
    """A service on the registry with lax guard rules unless a test sets them (latency on a shared 2-core
    machine must not roll a canary back in a test of something else)."""
    deploy = repo_params.deploy
    rules = {"max_p99_latency_ms": 60_000.0, "min_scores": 100_000, "check_seconds": 0.2, **guard}
    deploy = dataclasses.replace(
        deploy,
        canary=dataclasses.replace(
            deploy.canary, share=SHARE, guard=dataclasses.replace(deploy.canary.guard, **rules)
        ),
        shadow=dataclasses.replace(deploy.shadow, timeout_ms=500.0),
    )
    serving = dataclasses.replace(
        repo_params.serving, poll_seconds=3600.0, log_flush_seconds=0.05, latency_p95_ms=500.0
    )
    params = dataclasses.replace(repo_params, deploy=deploy, serving=serving)
    env = ServiceEnv(registry["uri"], f"sqlite:///{tmp_path / 'monitoring.db'}", TOKEN)
    # the champion with the gate's marks in this service's ledger: the service serves nothing else
    promote_as_the_gate(NAME, registry["champion"], sa.create_engine(env.monitoring_db_url))
    service = ScoringService(params, env, tmp_path)
    service.load_initial()
    assert service.deployment.challenger.served is not None, service.deployment.challenger.last_reason
    return service


def _switch(admin: httpx.Client, strategy: str) -> dict:
    resp = admin.put(
        "/admin/strategy", json={"strategy": strategy, "actor": "test", "reason": f"to {strategy}"}
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def _bodies(repo_params, n: int, seed: int = 11) -> list[dict]:
    schema = repo_params.schema
    return simulated_rows(
        dt.date(2026, 3, 1), n, seed, id_column=schema.id_column, feature_columns=schema.feature_names
    )


def _log(tmp_path) -> pd.DataFrame:
    return pd.read_sql(
        "select * from prediction_log", sa.create_engine(f"sqlite:///{tmp_path / 'monitoring.db'}")
    )


def _post_all(url: str, bodies: list[dict], workers: int = 8) -> list[httpx.Response]:
    with (
        httpx.Client(base_url=url, timeout=60, trust_env=False) as client,
        ThreadPoolExecutor(workers) as pool,
    ):
        return list(pool.map(lambda b: client.post("/predict", json=b), bodies))


def test_canary_share_is_within_a_binomial_bound_and_sticky_per_id(repo_params, tmp_path, registry):
    service = _service(repo_params, tmp_path, registry)
    schema = repo_params.schema
    with live_service(service) as url, admin_client(url, TOKEN) as admin:
        change = _switch(admin, "canary")
        assert (change["from_strategy"], change["to_strategy"], change["actor"]) == (
            "champion",
            "canary",
            "test",
        )
        plan = TrafficPlan(
            url, rate_per_second=2000, concurrency=8, requests=2700, resubmit_share=0.2, seed=3
        )
        summary = run_traffic(plan, _bodies(repo_params, 2200), id_column=schema.id_column)
        assert summary.statuses == {"200": 2700} and summary.fallbacks == 0
        assert summary.ids_answered_by_several_versions == 0 and summary.resubmitted > 300
        assert admin.get("/admin/deploy").json()["strategy"] == "canary"  # nothing rolled it back
    logged = _log(tmp_path)
    online = logged[logged["source"] == ONLINE_SOURCE]
    versions = online.groupby(schema.id_column)["model_version"].agg(set)
    assert (versions.map(len) == 1).all()  # sticky: one version per id, re-submissions included
    n = len(versions)
    to_challenger = int((versions.map(min) == registry["challenger"]).sum())
    assert n >= 2000
    bound = 4 * math.sqrt(n * SHARE * (1 - SHARE))  # 4 sigma: a false alarm about once in 16,000 runs
    assert abs(to_challenger - n * SHARE) <= bound, (to_challenger, n)
    # The assignment is the routing plan's, id by id.
    expected = canary_plan(SHARE, repo_params.deploy.routing_salt, champion=CHAMPION, challenger=CHALLENGER)
    arms = dict(zip(versions.index, expected.assign(list(versions.index)), strict=True))
    for entity, vs in versions.items():
        assert (arms[entity] == CHALLENGER) == (next(iter(vs)) == registry["challenger"])
    tags = MlflowClient().get_model_version(NAME, registry["challenger"]).tags
    assert tags[Tag.DEPLOY_STRATEGY] == "canary"
    last = json.loads(tags[Tag.DEPLOY_LAST_CHANGE])
    assert (last["by"], last["from"], last["to"]) == ("test", "champion", "canary") and last["at"]


class _Throws:
    def predict_proba(self, frame):
        raise RuntimeError("shadow model exploded")


class _Hangs:
    def __init__(self, model, seconds: float) -> None:
        self.model, self.seconds = model, seconds

    def predict_proba(self, frame):
        time.sleep(self.seconds)
        return self.model.predict_proba(frame)


def test_in_canary_each_version_scores_the_others_rows_in_the_background_so_pairs_go_on(
    repo_params, tmp_path, registry
):
    """Design point 1 of the rehearsal: in canary the paired comparison got no new pair (the canary's answers
    were not scored by the champion), so the sequential test could never decide and the rollout waited for
    ever. Now the version that did not answer a row scores it in the background (source shadow, the answer's
    key): every application has both scores, while the canary guard still sees only the callers' answers."""
    from tabular_mlops.store import shadow_pairs

    service = _service(repo_params, tmp_path, registry)
    schema, bodies = repo_params.schema, _bodies(repo_params, 300, seed=5)
    champion, challenger = registry["champion"], registry["challenger"]
    with live_service(service) as url, admin_client(url, TOKEN) as admin:
        _switch(admin, "canary")
        responses = _post_all(url, bodies)
        counts = _settled_shadow_counts(admin, len(bodies))
        window = service.deployment.window
    assert [r.status_code for r in responses] == [200] * len(bodies)
    answered = {r.json()["entity_id"]: r.json()["model_version"] for r in responses}
    assert set(answered.values()) == {champion, challenger}  # a real split
    logged = _log(tmp_path)
    online, shadow = logged[logged["source"] == ONLINE_SOURCE], logged[logged["source"] == SHADOW_SOURCE]
    assert len(online) == len(bodies) and counts["errors"] == 0 and len(shadow) == counts["scored"] > 0
    # Each shadow row is the other version's score of an answered request, under that answer's key.
    by_key = online.set_index(online["prediction_id"].str.partition(":")[2])
    for _, row in shadow.iterrows():
        primary = by_key.loc[row["prediction_id"].partition(":")[2]]
        assert primary[schema.id_column] == row[schema.id_column]
        assert {primary["model_version"], row["model_version"]} == {champion, challenger}
    reverse = shadow[shadow["model_version"] == champion]
    assert len(reverse) > 0  # the champion scored canary answers: the pairs the test lacked
    # The nightly comparison pairs every application both scored, whichever answered.
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'monitoring.db'}")
    start, end = dt.datetime(2000, 1, 1), dt.datetime(2100, 1, 1)
    assert shadow_pairs.shadowed_version(engine, schema, start, end, champion) == challenger
    pairs = shadow_pairs.read_shadow_pairs(engine, schema, start, end, champion, challenger)
    assert len(pairs) == len(shadow)
    scores = logged.set_index([schema.id_column, "model_version"])["score"]
    for _, pair in pairs.iterrows():
        ident = pair[schema.id_column]
        assert pair["champion_score"] == pytest.approx(scores.loc[(ident, champion)])
        assert pair["challenger_score"] == pytest.approx(scores.loc[(ident, challenger)])
    # The guard judges the canary's answers to callers only, not the background scores.
    assert window is not None
    checks = {c.rule: c for c in window.verdict(time.monotonic()).checks}
    assert checks["error_rate"].count == sum(v == challenger for v in answered.values())


def test_a_switch_after_the_challenger_left_the_slot_still_tags_the_version_it_ends(
    repo_params, tmp_path, registry
):
    """On the stack (2026-12-07, v3 promoted by deploy_model): the service's poll dropped the challenger slot
    (the alias gone) before deploy_model switched canary -> champion, so the switch named no version and v3 kept
    `deploy.strategy = canary`. The switch now names the version the strategy in force was switched for."""
    service = _service(repo_params, tmp_path, registry)
    challenger, client = registry["challenger"], MlflowClient()
    with live_service(service) as url, admin_client(url, TOKEN) as admin:
        _switch(admin, "canary")
        client.delete_registered_model_alias(NAME, CHALLENGER)
        try:
            service.poll()  # what the service's own poll does after the alias is removed
            assert service.deployment.challenger.served is None
            change = _switch(admin, "champion")
        finally:
            client.set_registered_model_alias(NAME, CHALLENGER, challenger)
    assert (change["from_strategy"], change["challenger_version"]) == ("canary", challenger)
    tags = client.get_model_version(NAME, challenger).tags
    last = json.loads(tags[Tag.DEPLOY_LAST_CHANGE])
    assert (tags[Tag.DEPLOY_STRATEGY], last["from"], last["to"]) == ("champion", "canary", "champion")


def _inject(service: ScoringService, scorer) -> None:
    slot = service.deployment.challenger
    slot.served = dataclasses.replace(slot.served, scorer=scorer)


@pytest.mark.parametrize("fault", ["none", "throws", "hangs_5s"])
def test_a_shadow_never_changes_the_primary_answer(repo_params, tmp_path, registry, fault):
    service = _service(repo_params, tmp_path, registry)
    schema, bodies = repo_params.schema, _bodies(repo_params, 300)
    with live_service(service) as url, admin_client(url, TOKEN) as admin:
        _switch(admin, "shadow")
        if fault == "throws":
            _inject(service, _Throws())
        elif fault == "hangs_5s":
            _inject(service, _Hangs(service.deployment.challenger.served.loaded.model, 5.0))
        responses = _post_all(url, bodies)
        counts = _settled_shadow_counts(admin, len(bodies))
        metrics = httpx.get(f"{url}/metrics", trust_env=False).text
    assert [r.status_code for r in responses] == [200] * len(bodies)
    answers = [r.json() for r in responses]
    assert {a["model_version"] for a in answers} == {registry["champion"]}
    assert not any(a["fallback"] for a in answers)
    logged = _log(tmp_path)
    online, shadow = logged[logged["source"] == ONLINE_SOURCE], logged[logged["source"] == SHADOW_SOURCE]
    assert len(online) == len(bodies)
    # /metrics says what the deploy state says, in rows by outcome (every outcome present from the start).
    for outcome in ("scored", "errors", "timeouts", "dropped"):
        assert _metric(metrics, f'serving_shadow_rows_total{{outcome="{outcome}"}}') == counts[outcome], (
            outcome
        )
    if fault == "none":
        # Scored by both models (the ones the bounded pool took), paired by application id and prediction key.
        assert counts["errors"] == 0
        assert len(shadow) == counts["scored"] > 0
        assert set(shadow["model_version"]) == {registry["challenger"]}
        assert set(shadow[schema.id_column]) <= set(online[schema.id_column])
        keys = {p.partition(":")[2] for p in online["prediction_id"]}
        assert {p.partition(":")[2] for p in shadow["prediction_id"]} <= keys
    elif fault == "throws":
        assert shadow.empty and counts["errors"] > 0 and "exploded" in counts["last_error"]
    else:
        assert (
            shadow.empty and counts["scored"] == 0 and counts["timeouts"] + counts["dropped"] == len(bodies)
        )


def _metric(exposition: str, series: str) -> float:
    for line in exposition.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{series} is not in /metrics")


def _settled_shadow_counts(admin: httpx.Client, requests: int) -> dict:
    """The shadow counts once every request's shadow job has ended one way or another (at most 30 s)."""
    deadline = time.monotonic() + 30
    while True:
        counts = admin.get("/admin/deploy").json()["shadow"]
        done = counts["scored"] + counts["errors"] + counts["timeouts"] + counts["dropped"]
        if done >= requests or time.monotonic() > deadline:
            assert done == requests, counts
            return counts
        time.sleep(0.2)


class _FailsAfter:
    """The challenger's own scorer until `broken` is set, then every call raises (an error rate that rises)."""

    def __init__(self, model) -> None:
        self.model, self.broken = model, threading.Event()

    def predict_proba(self, frame):
        if self.broken.is_set():
            raise ValueError("challenger lost its feature store")
        return self.model.predict_proba(frame)


def test_a_canary_whose_error_rate_rises_is_rolled_back_with_its_reason(repo_params, tmp_path, registry):
    service = _service(
        repo_params, tmp_path, registry, min_requests=40, max_error_rate=0.05, window_seconds=600.0
    )
    fragile = _FailsAfter(service.deployment.challenger.served.loaded.model)
    _inject(service, fragile)
    bodies = _bodies(repo_params, 1200)
    with live_service(service) as url, admin_client(url, TOKEN) as admin:
        _switch(admin, "canary")
        healthy = _post_all(url, bodies[:300])
        assert {r.json()["model_version"] for r in healthy} == {registry["champion"], registry["challenger"]}
        time.sleep(0.5)  # a check or two on a healthy window
        assert admin.get("/admin/deploy").json()["strategy"] == "canary"
        fragile.broken.set()
        failing = _post_all(url, bodies[300:900])
        assert all(r.status_code == 200 for r in failing)  # the fallback decision answers, never a 5xx
        deadline = time.monotonic() + 30
        while admin.get("/admin/deploy").json()["strategy"] != "champion" and time.monotonic() < deadline:
            time.sleep(0.2)
        state = admin.get("/admin/deploy").json()
        after = _post_all(url, bodies[900:])
        events = admin.get("/admin/deploy/log").json()
    assert (state["strategy"], state["actor"]) == ("champion", "canary-guard")
    assert "canary error rate" in state["reason"]
    assert {r.json()["model_version"] for r in after} == {registry["champion"]}
    tags = MlflowClient().get_model_version(NAME, registry["challenger"]).tags
    assert "canary error rate" in tags[Tag.DEPLOY_ROLLBACK] and tags[Tag.DEPLOY_STRATEGY] == "champion"
    assert [e["event"] for e in events[:2]] == ["canary_rollback", "strategy_change"]
    assert events[0]["detail"]["action"] == "rollback"


def test_the_bandit_routes_by_its_stored_weights(repo_params, tmp_path, registry):
    service = _service(repo_params, tmp_path, registry)
    bodies = _bodies(repo_params, 400, seed=5)
    with live_service(service) as url, admin_client(url, TOKEN) as admin:
        _switch(admin, "bandit")
        state = admin.get("/admin/deploy").json()
        answers = [r.json()["model_version"] for r in _post_all(url, bodies)]
    weights = state["bandit_weights"]
    assert weights == {registry["champion"]: 0.5, registry["challenger"]: 0.5}
    share = answers.count(registry["challenger"]) / len(answers)
    assert abs(share - 0.5) <= 4 * math.sqrt(0.25 / len(answers))
    stored = DeployLog(sa.create_engine(f"sqlite:///{tmp_path / 'monitoring.db'}")).bandit_state(NAME)
    assert stored is not None and stored["weights"] == weights


def test_a_switch_without_a_warm_challenger_is_refused_and_admin_needs_the_token(
    repo_params, tmp_path, registry
):
    service = _service(repo_params, tmp_path, registry)
    service.deployment.challenger.served = None
    with live_service(service) as url, admin_client(url, TOKEN) as admin:
        refused = admin.put("/admin/strategy", json={"strategy": "canary", "actor": "test"})
        unknown = admin.put("/admin/strategy", json={"strategy": "blue_green", "actor": "test"})
        anonymous = httpx.put(
            f"{url}/admin/strategy", json={"strategy": "champion", "actor": "x"}, trust_env=False
        )
    assert refused.status_code == 409 and "no challenger is warm" in refused.json()["reason"]
    assert unknown.status_code == 422 and anonymous.status_code == 401
    assert service.deployment.state.strategy == "champion"


def test_an_ungated_challenger_may_shadow_but_never_answer_callers(repo_params, tmp_path, registry):
    """register_challenger sets the alias before the gate runs: until the gate hands the version over, only
    shadow (answers that never reach a caller) may use it."""
    client = MlflowClient()
    client.set_model_version_tag(NAME, registry["challenger"], Tag.GATE_DECISION, GATE_PENDING)
    try:
        service = _service(repo_params, tmp_path, registry)
        with live_service(service) as url, admin_client(url, TOKEN) as admin:
            live = {s: admin.put("/admin/strategy", json={"strategy": s, "actor": "test"}) for s in LIVE}
            shadow = admin.put("/admin/strategy", json={"strategy": "shadow", "actor": "test"})
    finally:
        client.set_model_version_tag(NAME, registry["challenger"], Tag.GATE_DECISION, GATE_HANDED_OVER)
    for strategy, answer in live.items():
        assert answer.status_code == 409, (strategy, answer.text)
        assert "has not passed the gate" in answer.json()["reason"]
    assert shadow.status_code == 200 and service.deployment.state.strategy == "shadow"


def test_a_restarted_service_puts_back_the_strategy_in_force(repo_params, tmp_path, registry):
    """A restart mid-canary does not silently go back to the champion alone: the new process reads the deploy
    log and restores canary for the same challenger version, recorded as strategy_restored."""
    first = _service(repo_params, tmp_path, registry)
    with live_service(first) as url, admin_client(url, TOKEN) as admin:
        _switch(admin, "canary")
    first.stop()
    again = _service(repo_params, tmp_path, registry)
    bodies = _bodies(repo_params, 200, seed=8)
    with live_service(again) as url, admin_client(url, TOKEN) as admin:
        state = admin.get("/admin/deploy").json()
        answers = {r.json()["model_version"] for r in _post_all(url, bodies)}
        events = admin.get("/admin/deploy/log").json()
    again.stop()
    assert (state["strategy"], state["actor"]) == ("canary", "service-restart"), state
    assert "restored after a restart: canary" in state["reason"] and "by test" in state["reason"]
    assert answers == {registry["champion"], registry["challenger"]}  # the split goes on
    assert (events[0]["event"], events[0]["from_strategy"], events[0]["to_strategy"]) == (
        "strategy_restored",
        "champion",
        "canary",
    )
    # No challenger warm any more (its alias went away meanwhile): the old record puts nothing back.
    MlflowClient().delete_registered_model_alias(NAME, CHALLENGER)
    try:
        third = ScoringService(again.params, again.env, tmp_path)
        third.load_initial()
        assert third.deployment.state.strategy == "champion"
        third.stop()
    finally:
        MlflowClient().set_registered_model_alias(NAME, CHALLENGER, registry["challenger"])


def test_a_new_challenger_takes_no_callers_from_a_split_put_in_force_for_another(
    repo_params, tmp_path, registry
):
    """In canary for v2, a retraining registers v3 and moves the `challenger` alias to it before its gate runs
    (the make rehearse path: a second retraining during a rollout). The service follows the alias, but v3 was
    never switched to: the champion answers every caller until a switch names v3."""
    client = MlflowClient()
    newer = register_small_model(NAME, repo_params.schema, 3, 15)
    service = _service(repo_params, tmp_path, registry)
    bodies = _bodies(repo_params, 300, seed=12)
    try:
        with live_service(service) as url, admin_client(url, TOKEN) as admin:
            _switch(admin, "canary")
            before = {r.json()["model_version"] for r in _post_all(url, bodies)}
            client.set_registered_model_alias(NAME, CHALLENGER, newer)
            reloaded = admin.post("/admin/challenger/reload")
            after = [r.json()["model_version"] for r in _post_all(url, bodies)]
            state = admin.get("/admin/deploy").json()
    finally:
        client.set_registered_model_alias(NAME, CHALLENGER, registry["challenger"])
        service.stop()
    assert before == {registry["champion"], registry["challenger"]}
    assert reloaded.status_code == 200 and service.deployment.challenger.served.version == newer
    assert set(after) == {registry["champion"]}, after
    assert state["strategy"] == "canary"


def test_a_challenger_loaded_before_its_gate_decided_may_take_callers_once_handed_over(
    repo_params, tmp_path, registry
):
    """register_challenger sets the alias before the gate runs, so the service loads the version while its
    gate decision is pending; once the gate hands it over, deploy_model's switch to canary must be accepted (the
    make rehearse night where the switch was refused for ever on the tags the version was loaded with)."""
    client = MlflowClient()
    client.set_model_version_tag(NAME, registry["challenger"], Tag.GATE_DECISION, GATE_PENDING)
    try:
        service = _service(repo_params, tmp_path, registry)  # loads the challenger: gate pending
        with live_service(service) as url, admin_client(url, TOKEN) as admin:
            refused = admin.put("/admin/strategy", json={"strategy": "canary", "actor": "test"})
            client.set_model_version_tag(NAME, registry["challenger"], Tag.GATE_DECISION, GATE_HANDED_OVER)
            accepted = admin.put("/admin/strategy", json={"strategy": "canary", "actor": "test"})
        service.stop()
    finally:
        client.set_model_version_tag(NAME, registry["challenger"], Tag.GATE_DECISION, GATE_HANDED_OVER)
    assert refused.status_code == 409 and "has not passed the gate" in refused.json()["reason"]
    assert accepted.status_code == 200, accepted.text
    assert service.deployment.state.strategy == "canary"
