"""deploy_model's nightly step for a live split, through real Airflow (dag.test), a real MLflow registry with real
(small) models, a real SQLite monitoring database and a real scoring service on uvicorn.

The service is switched to `ab_test` or `bandit` through its admin API as an operator would; the answers it gives
are written to the prediction log as it writes them (online rows of both versions, dated on simulated days after
the switch, their labels joined `label_delay_days` later as monitor_nightly joins them). Then:
(1) a truly better challenger (its scores closer to the truth on its half of the split) is declared better by the
always-valid test within the planned sample, and the run moves the champion alias to it and puts the service on
the champion alone; a challenger no different from the champion waits night after night and stops without a
winner at the planned maximum, rolled back; (2) over simulated nights of delayed rewards the bandit moves its
weight to the arm whose decisions are right more often (rewarded by their business value), the update is saved
where the service reads it, and the running service routes by the new weights.
"""

from __future__ import annotations

import datetime as dt
import math
import time

import httpx
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from tests.support.airflow_runs import project_env, run_dag
from tests.support.gate_marks import promote_as_the_gate
from tests.support.live_service import admin_client, asked_service, live_service
from tests.support.project import make_project
from tests.support.registered_models import register_small_model

pytestmark = pytest.mark.e2e

MODEL = "credit_default"
TOKEN = "split-nights-admin-token"
DELAY = 2  # label_delay_days of this project: a simulated night's labels mature two nights later
PER_NIGHT = 1000  # answers per arm and night in the A/B test
BETTER_NOISE = 0.6  # the better challenger's noise on the logit (the champion's: 1.0)
# The better challenger's effect on the per-row log loss and its spread, from a pilot of `_ab_rows` (seed 99).
PLAN_EFFECT = 0.02


def _ab_rows(rng, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Scores of one arm and the labels of its applications: the truth is a logit, the arm's score the truth with
    `noise` on the logit scale (less noise = a truly better model)."""
    logit = rng.normal(-1.5, 1.0, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return 1 / (1 + np.exp(-(logit + rng.normal(0, noise, n)))), y


def _planned_design() -> dict:
    """deploy.sequential sized for the better challenger as an analyst would: plan_max_samples from a pilot."""
    from tabular_mlops.stats.paired import per_row_loss
    from tabular_mlops.stats.sequential import plan_max_samples

    rng = np.random.default_rng(99)
    a, ya = _ab_rows(rng, 200_000, 1.0)
    b, yb = _ab_rows(rng, 200_000, BETTER_NOISE)
    la, lb = per_row_loss(ya, a, "log_loss"), per_row_loss(yb, b, "log_loss")
    effect, sd = float(la.mean() - lb.mean()), math.sqrt(float(la.var() + lb.var()))
    assert effect > PLAN_EFFECT
    planned = plan_max_samples(effect, sd, alpha=0.05, mixture_sd=effect)
    return {"alpha": 0.05, "margin": 0.0, "max_samples": planned, "mixture_sd": effect, "min_samples": 200}


@pytest.fixture(scope="module")
def project(tmp_path_factory, airflow_db):

    import mlflow
    from mlflow import MlflowClient
    from tabular_mlops.core.config import load_params

    project = make_project(tmp_path_factory.mktemp("split") / "project")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["schema"]["label_delay_days"] = DELAY
    params["deploy"]["sequential"] = _planned_design()
    params["deploy"]["ab_test"] = {"share": 0.5, "metric": "log_loss", "higher_is_better": False}
    params["deploy"]["bandit"].update({"reward": "gaussian", "seed": 5})
    params["deploy"]["canary"]["guard"]["check_seconds"] = 0.2  # the service re-reads the bandit's weights
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env, _, monitor_db = project_env(project)
    uri = f"sqlite:///{project / 'var' / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment("split", artifact_location=(project / "var" / "artifacts").as_uri())
    env.set(MLFLOW_EXPERIMENT_ID=experiment)
    loaded = load_params(project / "params.yaml")
    versions = [register_small_model(MODEL, loaded.schema, seed, 8 + seed) for seed in range(1, 5)]
    assert versions == ["1", "2", "3", "4"]
    engine = sa.create_engine(f"sqlite:///{monitor_db}")
    promote_as_the_gate(MODEL, "1", engine)
    service = asked_service(loaded, uri, monitor_db, TOKEN, project)
    with live_service(service) as url:
        env.set(MLOPS_SERVING_URL=url, MLOPS_SERVING_ADMIN_TOKEN=TOKEN)
        yield {"project": project, "engine": engine, "client": MlflowClient(), "service": service, "url": url,
               "params": loaded}  # fmt: skip
    service.stop()
    mlflow.set_tracking_uri(None)
    env.restore()


def _start_split(project, version: str, strategy: str) -> dt.datetime:
    """What an operator does: a gated challenger under the `challenger` alias, the service switched to the split.
    Returns the first simulated day of its answers: after the switch, and after every day an earlier split of this
    module logged (each split's deploy_model runs on nights of their own). The earlier splits' answers leave the
    log: dated on simulated days, they lie after this switch's real time, which real answers never do."""
    from tabular_mlops.core.contracts import CHALLENGER, GATE_HANDED_OVER, Tag
    from tabular_mlops.store import prediction_log

    client, engine, schema = project["client"], project["engine"], project["params"].schema
    client.set_model_version_tag(MODEL, version, Tag.GATE_DECISION, GATE_HANDED_OVER)
    client.set_registered_model_alias(MODEL, CHALLENGER, version)
    with admin_client(project["url"], TOKEN) as admin:
        assert admin.post("/admin/challenger/reload").json()["challenger"] == version
        body = {"strategy": strategy, "actor": "operator", "reason": "test"}
        switched = admin.put("/admin/strategy", json=body)
        assert switched.status_code == 200, switched.text
    table = prediction_log.ensure_table(engine, schema)
    with engine.begin() as conn:
        logged = conn.execute(sa.select(sa.func.max(table.c[schema.timestamp_column]))).scalar()
        conn.execute(table.delete())
    first = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    if logged is not None:
        first = max(first, pd.Timestamp(logged).date() + dt.timedelta(days=1))
    return dt.datetime.combine(first, dt.time())


def _log_answers(project, day: dt.datetime, version: str, scores, decisions, tag: str) -> list[str]:
    """The service's online answers of `version` on `day` (no label yet); returns their application ids."""
    from tabular_mlops.core.contracts import ONLINE_SOURCE
    from tabular_mlops.store import prediction_log

    schema, engine = project["params"].schema, project["engine"]
    n = len(scores)
    ids = [f"{tag}-{version}-{day.date()}-{i}" for i in range(n)]
    frame = pd.DataFrame(
        {
            "prediction_id": [f"online:{i}" for i in ids],
            schema.id_column: ids,
            schema.timestamp_column: [day + dt.timedelta(seconds=30 * i % 86_000) for i in range(n)],
            "score": scores,
            "decision": decisions,
            "model_name": MODEL,
            "model_version": version,
            "scoring_run_id": "service",
            "source": ONLINE_SOURCE,
            "latency_ms": 10.0,
            "fallback": False,
        }
    )
    table = prediction_log.ensure_table(engine, schema)
    with engine.begin() as conn:
        conn.execute(table.insert(), prediction_log.keyed(frame.to_dict("records")))
    return ids


def _join(project, ids: list[str], labels) -> None:
    """monitor_nightly's join of matured labels onto the logged answers."""
    from tabular_mlops.store import prediction_log

    schema = project["params"].schema
    frame = pd.DataFrame({schema.id_column: ids, schema.target_column: np.asarray(labels, int)})
    prediction_log.join_labels(project["engine"], schema, frame, dt.datetime.now(dt.UTC).replace(tzinfo=None))


def _deploy_night(night: dt.date) -> str:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    run = run_dag("deploy_model", logical_date=night)
    assert str(run.state) == "success"
    with create_session() as session:
        found = (
            session.query(DagRun).filter(DagRun.dag_id == "deploy_model", DagRun.run_id == run.run_id).one()
        )
        return found.note or ""


def _in_force(project) -> dict:
    with admin_client(project["url"], TOKEN) as admin:
        return admin.get("/admin/deploy").json()


def _aliases(client) -> dict[str, str]:
    return {alias: str(v) for alias, v in client.get_registered_model(MODEL).aliases.items()}


def _ab_nights(project, challenger: str, champion: str, noise: float, seed: int, nights: int):
    """Each simulated day: both arms' answers logged, labels joined once matured, deploy_model run on the night
    they matured. Yields (night, note) until the run leaves the split."""
    rng = np.random.default_rng(seed)
    first_day = _start_split(project, challenger, "ab_test")
    pending: dict[dt.date, list[tuple[list[str], np.ndarray]]] = {}
    for i in range(nights + DELAY):
        day = first_day + dt.timedelta(days=i)
        for version, arm_noise in ((champion, 1.0), (challenger, noise)):
            scores, y = _ab_rows(rng, PER_NIGHT, arm_noise)
            ids = _log_answers(project, day, version, scores, (scores >= 0.5).astype(int), f"ab{seed}")
            pending.setdefault(day.date() + dt.timedelta(days=DELAY), []).append((ids, y))
        night = day.date()
        if night not in pending:
            continue
        for ids, y in pending.pop(night):
            _join(project, ids, y)
        note = _deploy_night(night)
        yield night, note
        if _in_force(project)["strategy"] != "ab_test":
            return


def test_a_truly_better_challenger_wins_the_ab_test_within_the_planned_sample(project):
    from tabular_mlops.core.contracts import Tag
    from tabular_mlops.store.deploy_log import AB_TEST_NIGHT, DeployLog

    client, planned = project["client"], project["params"].deploy.sequential.max_samples
    planned_nights = math.ceil(planned / PER_NIGHT)
    assert planned_nights >= 5  # a test looked at night after night, not decided on its first look by design
    notes = list(_ab_nights(project, "2", "1", noise=BETTER_NOISE, seed=1, nights=planned_nights))
    assert len(notes) <= planned_nights, (planned, notes)
    *waiting, (night, last) = notes
    assert all(n.startswith("**WAIT** credit_default v2: ab_test -> ab_test") for _, n in waiting), waiting
    assert last.startswith("**PROMOTE** credit_default v2: ab_test -> full"), last
    assert "test challenger_better" in last and "log_loss per row: champion v1" in last
    # The alias moved through the guarded path; the service answers with the new champion alone.
    assert _aliases(client) == {"champion": "2", "previous_champion": "1"}
    state = _in_force(project)
    assert state["strategy"] == "champion" and state["actor"].startswith("airflow:deploy_model/"), state
    assert project["service"].holder.current.version == "2"
    tags = client.get_model_version(MODEL, "2").tags
    assert tags[Tag.AB_TEST_VERDICT] == "challenger_better" and tags[Tag.ROLLOUT_STAGE] == "full"
    assert tags[Tag.GATE_DECISION] == "promoted" and tags[f"{Tag.ROLLOUT_STEP_PREFIX}{night}"].startswith(
        "ab_test promote: test challenger_better"
    )
    events = DeployLog(project["engine"]).history(MODEL, events=(AB_TEST_NIGHT,))
    assert len(events) == len(notes) and events[0].detail["test"]["verdict"] == "challenger_better"
    decided = events[0].detail
    assert decided["challenger"]["matured"] <= planned and decided["test"]["ci_low"] > 0
    assert decided["challenger"]["mean"] < decided["champion"]["mean"]  # lower log loss


def test_identical_models_wait_and_stop_without_a_winner_at_the_planned_maximum(project):
    from tabular_mlops.core.contracts import Tag

    client, planned = project["client"], project["params"].deploy.sequential.max_samples
    planned_nights = math.ceil(planned / PER_NIGHT)
    notes = list(_ab_nights(project, "3", "2", noise=1.0, seed=3, nights=planned_nights + 1))
    *waiting, (_, last) = notes
    assert len(notes) == planned_nights, notes
    assert all(n.startswith("**WAIT** credit_default v3: ab_test -> ab_test") for _, n in waiting), waiting
    assert "holds 0: continue" in waiting[-1][1]
    assert last.startswith("**ROLLBACK** credit_default v3: ab_test -> rolled_back"), last
    assert "test stopped_no_winner" in last and f"maximum of {planned}" in last
    assert _aliases(client) == {"champion": "2", "previous_champion": "1"}  # the champion stays
    tags = client.get_model_version(MODEL, "3").tags
    assert tags[Tag.AB_TEST_VERDICT] == "stopped_no_winner" and tags[Tag.ROLLOUT_STAGE] == "rolled_back"
    assert _in_force(project)["strategy"] == "champion"


def test_the_bandit_moves_traffic_to_the_better_arm_and_the_service_routes_by_it(project):
    from tabular_mlops.core.contracts import Tag
    from tabular_mlops.stack.traffic import simulated_rows
    from tabular_mlops.stats.routing import weighted_plan
    from tabular_mlops.store.deploy_log import BANDIT_ALLOCATION, DeployLog

    client, engine, schema = project["client"], project["engine"], project["params"].schema
    log = DeployLog(engine)
    first_day = _start_split(project, "4", "bandit")
    assert _in_force(project)["bandit_weights"] == {"2": 0.5, "4": 0.5}
    salt = project["params"].deploy.routing_salt
    right = {"2": 0.85, "4": 0.92}  # v4's decisions are right more often: more business value per answer
    rng = np.random.default_rng(11)
    pending: dict[dt.date, list[tuple[list[str], np.ndarray]]] = {}
    notes = []
    for i in range(8):
        day = first_day + dt.timedelta(days=i)
        weights = _in_force(project)["bandit_weights"]  # the service's weights: it routes tonight's answers
        ids = [f"bandit-{day.date()}-{k}" for k in range(800)]
        arms = np.array(weighted_plan({v: w for v, w in weights.items()}, salt).assign(ids))
        for version in ("2", "4"):
            n = int((arms == version).sum())
            decisions = (rng.random(n) < 0.1).astype(int)
            labels = np.where(rng.random(n) < right[version], decisions, 1 - decisions)
            mine = _log_answers(project, day, version, rng.beta(2, 8, n), decisions, f"b{i}")
            pending.setdefault(day.date() + dt.timedelta(days=DELAY), []).append((mine, labels))
        for ids_, y in pending.pop(day.date(), []):
            _join(project, ids_, y)
        if i >= DELAY:
            notes.append(_deploy_night(day.date()))
            deadline = time.monotonic() + 30  # the service re-reads the state every check_seconds
            stored = log.bandit_state(MODEL)["weights"]
            while _in_force(project)["bandit_weights"] != stored and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _in_force(project)["bandit_weights"] == stored
    assert notes[0].startswith("**BANDIT MOVED** credit_default on"), notes[0]
    assert "business value per row (EUR)" in notes[0]
    weights = log.bandit_state(MODEL)["weights"]
    assert weights["4"] >= 0.8, notes
    moves = [e for e in log.history(MODEL, events=(BANDIT_ALLOCATION,)) if e.actor.startswith("airflow:")]
    assert moves and moves[0].detail["after"] == weights and moves[0].detail["rewards_through"]
    for later, earlier in zip(moves, moves[1:], strict=False):  # chained: each starts where the last ended
        assert later.detail["before"] == earlier.detail["after"]
    assert client.get_model_version(MODEL, "4").tags[Tag.BANDIT_WEIGHTS] == __import__("json").dumps(weights)
    # A re-run of the last night feeds nothing twice.
    assert _deploy_night(day.date()).startswith("**BANDIT WAIT**")
    assert log.bandit_state(MODEL)["weights"] == weights
    # The running service answers by the new weights.
    bodies = simulated_rows(
        dt.date(2026, 3, 1), 600, 17, id_column=schema.id_column, feature_columns=schema.feature_names
    )
    with httpx.Client(base_url=project["url"], timeout=60, trust_env=False) as http:
        answers = [http.post("/predict", json=b).json()["model_version"] for b in bodies]
    share = answers.count("4") / len(answers)
    assert abs(share - weights["4"]) <= 4 * math.sqrt(weights["4"] * (1 - weights["4"]) / len(answers)), share
