"""The online service end to end: a model trained, registered and promoted by the pipeline's own functions in a
temporary MLflow store, served by a REAL `tabular-mlops serve` process (uvicorn on 127.0.0.1, a free port).

Checked on that process: answers carry score, decision and version; online scores equal nightly batch scores of
the same rows bit for bit; a promotion followed by POST /admin/reload answers with the new version, with threads
hammering /predict during the swap and no failed request; a corrupt new version is not swapped in; admin needs
the token; bad input is 422 per field without echo; a schemathesis fuzz of the OpenAPI schema finds no 5xx.
Restarts: registry down -> the cached model, degraded; log database down -> answers go on and the rows are
flushed once it is back; registry down with nothing cached -> the process refuses to start and says why.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from tabular_mlops.core.config import load_params
from tabular_mlops.core.contracts import CHAMPION, ONLINE_SOURCE, SERVING_URL_ENV, LogSource
from tabular_mlops.data.ingest import extract_interval, publish_validated, validate_extracted
from tabular_mlops.data.simulate import generate_day
from tabular_mlops.monitoring.batch_scoring import score_night
from tabular_mlops.serving.reload_client import request_reload
from tabular_mlops.store import source_db
from tabular_mlops.training import registry
from tabular_mlops.training.evaluate import evaluate
from tabular_mlops.training.preprocess import split_window
from tabular_mlops.training.train import train

from tests.support.gate_marks import promote_as_the_gate
from tests.support.project import make_project, register

pytestmark = pytest.mark.e2e

START = dt.date(2026, 1, 1)
TOKEN = "e2e-Xq7vR2mK9pLs4TnW8yBc3HdF6gJz5"  # strong enough for the start-up check
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WEAK = {"model": "hist_gradient_boosting", "max_iter": 15, "max_depth": 2, "learning_rate": 0.1}
# The next champion must pass the gate against v1 on two days of training data: a near neighbour, not a bigger model.
NEXT = WEAK | {"max_iter": 16}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """A `tabular-mlops serve` subprocess; `stop()` ends it (SIGTERM, then SIGKILL) and returns its output."""

    def __init__(self, project: Path, env: dict[str, str], params_file: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "tabular_mlops", "--params", str(params_file or project / "params.yaml")]
        # Output to a file, not a pipe: a pipe nobody reads until the end blocks the server once it is full.
        self.log = Path(tempfile.mkdtemp(prefix="serving-e2e-")) / "serve.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [*cmd, "serve", "--port", str(self.port)],
                env={**os.environ, "MLOPS_PROJECT_DIR": str(project), **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.client = httpx.Client(base_url=self.url, timeout=30, trust_env=False)

    def wait_live(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"service exited {self.proc.returncode}: {self.log.read_text()}")
            try:
                if self.client.get("/health/live").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError("service did not come up")

    def stop(self) -> str:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.log.read_text()


def until(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return bool(predicate())


def train_version(params, project: Path, candidate: dict) -> dict:
    """One training run through the pipeline's functions, registered and put through the real gate."""
    params = dataclasses.replace(params, train=dataclasses.replace(params.train, search_space=(candidate,)))
    train(params, project)
    evaluate(params, project)
    version = register(params, project).version
    # the ledger in the service's monitoring database: the service serves only versions the gate promoted there
    ledger = sa.create_engine(f"sqlite:///{project / 'var' / 'monitoring.db'}")
    return registry.promote_if_better(params, project, version, ledger, "serving-e2e").to_dict()


def body_of(row: pd.Series, schema) -> dict:
    """A source row as the JSON a client would send."""
    body = {schema.id_column: str(row[schema.id_column])}
    for f in schema.features:
        value = row[f.name]
        if pd.isna(value):
            body[f.name] = None
        else:
            body[f.name] = (
                int(value) if f.type == "int" else float(value) if f.type == "float" else str(value)
            )
    return body


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A project with v1 champion (trained, gated, promoted) and a running service on it."""
    project = make_project(tmp_path_factory.mktemp("serving") / "project")
    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw["serving"].update({"poll_seconds": 3600, "latency_p95_ms": 200})  # reloads are explicit in this test
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    (project / "var").mkdir(exist_ok=True)
    env = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'var' / 'mlflow.db'}",
        "MLOPS_MONITORING_DB_URL": f"sqlite:///{project / 'var' / 'monitoring.db'}",
        "MLOPS_SERVING_ADMIN_TOKEN": TOKEN,
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update({k: env[k] for k in ("MLFLOW_TRACKING_URI",)})
    params = load_params(project / "params.yaml")
    url = f"sqlite:///{project / 'var' / 'source_db.db'}"
    engine = source_db.connect(url)
    for i in range(12):
        day = START + dt.timedelta(days=i)
        source_db.write_day(engine, params.schema, day, generate_day(day, 800, 3))
    night = START + dt.timedelta(days=params.schema.label_delay_days)
    extracted = extract_interval(
        params.schema, params.ingest, params.paths, project, url, night, night + dt.timedelta(days=12)
    )
    # Published with DVC (add + push to the project's local remote): the monitor reads the reference from it.
    validated = validate_extracted(params.schema, params.validate, params.paths, project, extracted)
    publish_validated(params.paths, project, validated)
    split_window(params, project)
    first = train_version(params, project, WEAK)
    assert first["promoted"], first["decision"]
    service = Service(project, env)
    service.wait_live()
    yield {"project": project, "params": params, "env": env, "service": service, "source": url, "v1": first}
    output = service.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    assert "Traceback" not in output, output[-3000:]


def test_predict_answers_with_score_decision_and_version(stack):
    params, client = stack["params"], stack["service"].client
    rows = source_db.read_window(source_db.connect(stack["source"]), params.schema, *_day(START))
    resp = client.post("/predict", json=body_of(rows.iloc[0], params.schema))
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert 0 <= answer["score"] <= 1 and answer["model_version"] == stack["v1"]["version"]
    assert answer["decision"] in (params.serving.low_risk_decision, params.serving.high_risk_decision)
    ready = client.get("/health/ready").json()
    assert ready == {"status": "ready", "reasons": [], "model_version": stack["v1"]["version"]}
    model = client.get("/model").json()
    assert model["alias"] == CHAMPION and model["origin"] == "registry" and model["data_hash"]


def _day(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time())
    return start, start + dt.timedelta(days=1)


def test_online_scores_equal_nightly_batch_scores_bit_for_bit(stack):
    """The same night scored by batch scoring (into the log) and by the service, row by row and in a batch."""
    params, client = stack["params"], stack["service"].client
    night = START + dt.timedelta(days=11)
    log = sa.create_engine(stack["env"]["MLOPS_MONITORING_DB_URL"])
    score_night(params, source_db.connect(stack["source"]), log, night, "e2e-batch")
    batch = pd.read_sql(
        sa.text("select application_id, score from prediction_log where source = 'batch'"), log
    ).set_index("application_id")["score"]
    rows = source_db.read_window(source_db.connect(stack["source"]), params.schema, *_day(night)).head(200)
    bodies = [body_of(r, params.schema) for _, r in rows.iterrows()]
    singles = [client.post("/predict", json=b).json() for b in bodies[:50]]
    batched = client.post("/predict/batch", json={"rows": bodies}).json()["predictions"]
    for answer in singles + batched:
        assert answer["score"] == batch[answer["entity_id"]], answer  # exact float equality
    assert len(batched) == 200


def test_bad_input_is_422_per_field_without_echo(stack):
    params, client = stack["params"], stack["service"].client
    rows = source_db.read_window(source_db.connect(stack["source"]), params.schema, *_day(START))
    body = {
        **body_of(rows.iloc[0], params.schema),
        "age": "forty",
        "region": "Secret Street 7",
        "iban": "DE00",
    }
    resp = client.post("/predict", json=body)
    assert resp.status_code == 422
    fields = {e["field"]: (e["value_type"], e["rule"]) for e in resp.json()["detail"]}
    # an unknown field is refused without echoing its name (a key can carry data too)
    assert fields.keys() == {"age", "region", "(unknown field)"}
    assert "iban" not in resp.text
    assert fields["age"] == ("string", "must be a whole number (JSON integer)")
    assert "Secret Street" not in resp.text and "DE00" not in resp.text and "forty" not in resp.text
    nan = client.post("/predict", content=b'{"income": NaN}', headers={"content-type": "application/json"})
    assert nan.status_code == 422 and (
        "number",
        "must be a finite number (NaN and Infinity are refused)",
    ) in {(e["value_type"], e["rule"]) for e in nan.json()["detail"] if e["field"] == "income"}
    big = client.post("/predict", content=b" " * (params.serving.max_body_bytes + 1))
    assert big.status_code == 413


def test_admin_without_the_token_is_401(stack):
    client = stack["service"].client
    assert client.post("/admin/reload").status_code == 401
    assert client.post("/admin/rollback", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_a_promotion_is_served_after_reload_with_no_failed_request_under_load(stack, monkeypatch):
    """The reload is asked the way train_model asks it after a promotion (`request_reload`, token and URL from
    the environment)."""
    params, client = stack["params"], stack["service"].client
    monkeypatch.setenv(SERVING_URL_ENV, stack["service"].url)
    monkeypatch.setenv("MLOPS_SERVING_ADMIN_TOKEN", TOKEN)
    rows = source_db.read_window(source_db.connect(stack["source"]), params.schema, *_day(START))
    bodies = [body_of(r, params.schema) for _, r in rows.head(50).iterrows()]
    second = train_version(params, stack["project"], NEXT)
    assert second["promoted"], second["decision"]
    statuses: Counter = Counter()
    versions: Counter = Counter()
    stop = threading.Event()

    def hammer(k: int) -> None:
        with httpx.Client(base_url=stack["service"].url, timeout=30, trust_env=False) as c:
            i = k
            while not stop.is_set():
                resp = c.post("/predict", json=bodies[i % len(bodies)])
                statuses[resp.status_code] += 1
                if resp.status_code == 200:
                    versions[resp.json()["model_version"]] += 1
                i += 1

    threads = [threading.Thread(target=hammer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    reload = request_reload(params.serving)
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join()
    print(
        f"swap under load: {sum(statuses.values())} requests, statuses {dict(statuses)}, versions {dict(versions)}"
    )
    assert reload["outcome"] == "reloaded" and reload["service"]["outcome"] == "swapped", reload
    assert set(statuses) == {200}, statuses  # zero non-2xx during the swap
    assert versions[stack["v1"]["version"]] > 0 and versions[second["version"]] > 0, versions
    assert client.post("/predict", json=bodies[0]).json()["model_version"] == second["version"]
    model = client.get("/model").json()
    assert model["version"] == second["version"] and model["previous_version"] == stack["v1"]["version"]
    stack["v2"] = second


def test_a_corrupt_new_version_is_not_swapped_in(stack):
    from mlflow import MlflowClient

    params, client = stack["params"], stack["service"].client
    name, mlflow_client = params.registry.model_name, MlflowClient()
    third = train_version(params, stack["project"], WEAK | {"max_iter": 17})
    folder = Path(
        mlflow_client.get_model_version_download_uri(name, third["version"]).removeprefix("file://")
    )
    model_file = next(folder.glob("*.skops"))
    model_file.write_bytes(model_file.read_bytes()[:-64])  # storage corruption after registration
    # promoted with the gate's marks (whatever the gate said of this weak model): the checksum must refuse it
    ledger = sa.create_engine(f"sqlite:///{stack['project'] / 'var' / 'monitoring.db'}")
    promote_as_the_gate(name, third["version"], ledger)
    resp = client.post("/admin/reload", headers=AUTH)
    assert (
        resp.status_code == 409
        and resp.json()["outcome"] == "refused"
        and "checksum" in resp.json()["reason"]
    )
    rows = source_db.read_window(source_db.connect(stack["source"]), params.schema, *_day(START))
    answer = client.post("/predict", json=body_of(rows.iloc[0], params.schema)).json()
    assert answer["model_version"] == stack["v2"]["version"] and not answer["fallback"]
    mlflow_client.set_registered_model_alias(name, CHAMPION, stack["v2"]["version"])


def test_rollback_is_instant_and_reported(stack):
    client = stack["service"].client
    resp = client.post("/admin/rollback", headers=AUTH)
    assert resp.json() == {
        "outcome": "rollback",
        "serving": stack["v1"]["version"],
        "rolled_back_from": stack["v2"]["version"],
    }
    ready = client.get("/health/ready").json()
    assert ready["status"] == "degraded" and any("rolled back in-process" in r for r in ready["reasons"])
    assert (
        client.post("/admin/reload", headers=AUTH).json()["outcome"] == "swapped"
    )  # follow the registry again
    assert client.get("/health/ready").json()["status"] == "ready"


def test_the_fuzzed_openapi_schema_never_gets_a_5xx(stack):
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.generation import GenerationMode

    base = stack["service"].url
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def fuzz(case) -> None:
                response = case.call(base_url=base)
                assert response.status_code < 500, (case.method, case.path, response.status_code)

            try:
                fuzz()
            except Unsatisfiable:
                # No invalid request exists for an operation without parameters or body (GET /health/live).
                assert mode == GenerationMode.NEGATIVE
                continue
            checked.append(f"{mode.value} {operation.method.upper()} {operation.path}")
    for mode in ("positive", "negative"):
        assert f"{mode} POST /predict" in checked and f"{mode} POST /predict/batch" in checked, checked
    metrics = stack["service"].client.get("/metrics").text
    assert 'status="5' not in metrics


def test_every_answer_is_in_the_prediction_log(stack):
    log = sa.create_engine(stack["env"]["MLOPS_MONITORING_DB_URL"])
    metrics = stack["service"].client.get("/metrics").text
    answered = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("serving_predictions_total{")
    )

    def logged() -> int:
        query = sa.text("select count(*) from prediction_log where source = :s")
        with log.connect() as conn:
            return conn.execute(query, {"s": ONLINE_SOURCE}).scalar()

    assert until(lambda: logged() >= answered, timeout=30), (logged(), answered)
    assert "serving_log_dropped_rows_total 0.0" in metrics


def test_online_answers_are_in_the_next_nightly_report(stack):
    """monitor_nightly's own function on tonight's window sees the online rows (they are the only rows there),
    and logs the night's online answers, latency percentiles and fallback rate to MLflow next to drift."""
    from mlflow import MlflowClient
    from tabular_mlops.monitoring.night_record import ONLINE_ANSWERS, ONLINE_FALLBACK_RATE, ONLINE_LATENCY_MS
    from tabular_mlops.monitoring.nightly import monitor_night

    params, log = stack["params"], sa.create_engine(stack["env"]["MLOPS_MONITORING_DB_URL"])
    night = dt.datetime.now(dt.UTC).date()
    start = dt.datetime.combine(night - dt.timedelta(days=params.monitor.window_days - 1), dt.time())
    query = sa.text("select count(*) from prediction_log where source = :s and applied_at >= :start")
    # The window counts an application once: an online answer for an application the batch job scored (on its
    # own day: the tests replay the source's applications) is that batch row's, not a second row of tonight's.
    unbatched = sa.text(
        "select count(*) from prediction_log o where o.source = :s and o.applied_at >= :start and not exists "
        f"(select 1 from prediction_log b where b.source = :batch and b.{params.schema.id_column} = "
        f"o.{params.schema.id_column})"
    )
    with log.connect() as conn:
        online = conn.execute(query, {"s": ONLINE_SOURCE, "start": start}).scalar()
        first_seen = conn.execute(
            unbatched, {"s": ONLINE_SOURCE, "start": start, "batch": LogSource.BATCH}
        ).scalar()
    assert online > 0 and 0 < first_seen <= online
    result = monitor_night(params, stack["project"], log, night, retrain_in_flight=False)
    assert result.summary.rows == first_seen and result.summary.night > night - dt.timedelta(days=1)
    assert result.reports and all(Path(r).exists() for r in result.reports)
    served = result.summary.online
    assert served is not None and served.answers == online and served.fallbacks == 0
    assert 0 < served.latency_p50_ms <= served.latency_p95_ms <= served.latency_p99_ms
    metrics = MlflowClient().get_run(result.monitoring_run_id).data.metrics
    assert metrics[ONLINE_ANSWERS] == online and metrics[ONLINE_FALLBACK_RATE] == 0.0
    assert metrics[ONLINE_LATENCY_MS[99]] == served.latency_p99_ms and "drift/share" in metrics


def test_restart_with_registry_and_log_database_down(stack, tmp_path):
    """Registry unreachable -> the cached champion, degraded; log DB down -> answers continue, rows flushed later."""
    params = stack["params"]
    log_folder = tmp_path / "log-db-not-yet"
    env = {
        **stack["env"],
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}",  # nothing listens there
        "MLOPS_MONITORING_DB_URL": f"sqlite:///{log_folder / 'monitoring.db'}",
    }
    service = Service(stack["project"], env)
    try:
        service.wait_live()
        ready = service.client.get("/health/ready").json()
        assert ready["status"] == "degraded" and ready["model_version"] == stack["v2"]["version"]
        assert any("from the local cache" in r for r in ready["reasons"])
        rows = source_db.read_window(source_db.connect(stack["source"]), params.schema, *_day(START))
        answers = [
            service.client.post("/predict", json=body_of(r, params.schema))
            for _, r in rows.head(20).iterrows()
        ]
        assert {a.status_code for a in answers} == {200}
        assert until(
            lambda: any("prediction log" in r for r in service.client.get("/health/ready").json()["reasons"])
        )
        log_folder.mkdir()  # the log database is back
        engine = sa.create_engine(env["MLOPS_MONITORING_DB_URL"])

        def flushed() -> bool:
            if not sa.inspect(engine).has_table("prediction_log"):
                return False
            with engine.connect() as conn:
                return conn.execute(sa.text("select count(*) from prediction_log")).scalar() == 20

        assert until(flushed, timeout=60)
        reasons = service.client.get("/health/ready").json()["reasons"]
        assert not any("prediction log" in r for r in reasons) and any("cache" in r for r in reasons)
    finally:
        output = service.stop()
    assert "Traceback" not in output, output[-3000:]


def test_registry_down_and_nothing_cached_refuses_to_start(stack, tmp_path):
    raw = yaml.safe_load((stack["project"] / "params.yaml").read_text())
    raw["serving"]["cache_dir"] = str(tmp_path / "empty-cache")
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(raw, sort_keys=False))
    env = {**stack["env"], "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"}
    service = Service(stack["project"], env, params_file)
    assert service.proc.wait(120) == 1
    output = service.stop()
    assert "error: cannot start: no champion" in output and "no champion is cached in" in output, output[
        -2000:
    ]
    assert "Traceback" not in output
