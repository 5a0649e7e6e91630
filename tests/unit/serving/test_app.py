"""The routes on a real fitted pipeline, through FastAPI's test client: answers, the shared scoring function,
422 without echo, body limit, fallback on a model error, admin token, metrics, the prediction log."""

import json
import re

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from tabular_mlops.core.contracts import ONLINE_SOURCE
from tabular_mlops.model.scoring import score_frame
from tabular_mlops.serving.app import create_app
from tabular_mlops.serving.host_check import HOST_RULE

from tests.support.scoring_service import example, make_service, served


@pytest.fixture()
def service(repo_params, tmp_path, fitted):
    return make_service(repo_params, tmp_path, fitted)


@pytest.fixture()
def client(service):
    with TestClient(create_app(service)) as c:
        yield c


def test_predict_answers_with_the_shared_scoring_function(client, repo_params, applications, fitted):
    schema = repo_params.schema
    resp = client.post("/predict", json=example(applications, schema, 3))
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    expected = float(score_frame(fitted, applications.iloc[[3]], schema)[0])
    assert answer["score"] == expected  # bit-identical: same function, same preprocessing inside the model
    high = expected >= repo_params.evaluate.decision_threshold.value
    assert answer["decision"] == (
        repo_params.serving.high_risk_decision if high else repo_params.serving.low_risk_decision
    )
    assert answer["model_version"] == "1" and answer["fallback"] is False
    assert answer["entity_id"] == str(applications.iloc[3][schema.id_column])
    assert (
        'serving_requests_total{route="/predict",status="200",version="1"} 1.0' in client.get("/metrics").text
    )


def test_batch_keeps_order_and_matches_batch_scoring(client, repo_params, applications, fitted):
    schema = repo_params.schema
    bodies = [example(applications, schema, i) for i in range(25)]
    resp = client.post("/predict/batch", json={"rows": bodies})
    assert resp.status_code == 200, resp.text
    scores = [p["score"] for p in resp.json()["predictions"]]
    assert scores == score_frame(fitted, applications.head(25), schema).tolist()


def test_invalid_input_is_422_per_field_and_never_echoed(client, repo_params, applications):
    secret_id, secret_region = "SSN-123-45-6789", "my-home-address-42"
    body = {**example(applications, repo_params.schema), "region": secret_region, "age": 12, "ssn": secret_id}
    resp = client.post("/predict", json=body)
    assert resp.status_code == 422
    detail = {e["field"]: e for e in resp.json()["detail"]}
    # an unknown key is named by its place, not by its text (issue 22 item 10: "ssn" was echoed)
    assert set(detail) == {"region", "age", "(unknown field)"} and "ssn" not in resp.text
    assert detail["age"] == {"field": "age", "value_type": "integer", "rule": "must be >= 18"}
    assert (
        secret_region not in resp.text
        and secret_id not in resp.text
        and "12" not in json.dumps(detail["age"])
    )
    broken = client.post(
        "/predict", content=b'{"age": 30, "region": "my-home', headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422 and "my-home" not in broken.text
    metrics = client.get("/metrics").text
    assert 'serving_validation_errors_total{route="/predict"} 2.0' in metrics


def test_bodies_above_the_limit_are_413_before_parsing(repo_params, tmp_path, fitted):
    service = make_service(repo_params, tmp_path, fitted, max_body_bytes=2048)
    with TestClient(create_app(service)) as client:
        big = json.dumps({"rows": ["x" * 4000]}).encode()
        assert (
            client.post(
                "/predict/batch", content=big, headers={"content-type": "application/json"}
            ).status_code
            == 413
        )

        def chunks():  # no Content-Length: the limit is counted while reading
            yield big[:1000]
            yield big[1000:]

        resp = client.post("/predict/batch", content=chunks(), headers={"content-type": "application/json"})
        assert resp.status_code == 413 and "2048 bytes" in resp.text


def test_batch_above_max_batch_is_422(repo_params, tmp_path, fitted, applications):
    service = make_service(repo_params, tmp_path, fitted, max_batch=3)
    with TestClient(create_app(service)) as client:
        body = {"rows": [example(applications, repo_params.schema, i) for i in range(4)]}
        resp = client.post("/predict/batch", json=body)
        assert resp.status_code == 422 and resp.json()["detail"][0]["rule"] == "must hold at most 3 item(s)"


def _explodes_on_old_applicants(frame: pd.DataFrame) -> pd.DataFrame:
    if (frame["age"] > 90).any():
        raise ValueError("this model cannot score applicants over 90")
    return frame


def test_a_model_error_answers_the_safe_decision_and_the_service_goes_on(
    repo_params, tmp_path, fitted, applications
):
    fragile = make_pipeline(FunctionTransformer(_explodes_on_old_applicants), fitted)
    service = make_service(repo_params, tmp_path, fragile)
    with TestClient(create_app(service)) as client:
        body = example(applications, repo_params.schema)
        resp = client.post("/predict", json={**body, "age": 95})
        assert resp.status_code == 200
        answer = resp.json()
        assert answer["fallback"] is True and answer["score"] is None
        assert answer["decision"] == repo_params.serving.fallback_decision
        ok = client.post("/predict", json=body).json()
        assert ok["fallback"] is False and ok["score"] is not None
        assert 'serving_fallbacks_total{reason="ValueError"} 1.0' in client.get("/metrics").text
    # Both answers are logged (the service flushed its writer on exit), the fallback one without a score.
    logged = pd.read_sql(
        "select * from prediction_log", sa.create_engine(f"sqlite:///{tmp_path / 'monitoring.db'}")
    ).set_index("prediction_id")
    assert len(logged) == 2
    fell_back = logged.loc[answer["prediction_id"]]
    assert fell_back["fallback"] == 1 and pd.isna(fell_back["score"]) and fell_back["latency_ms"] > 0
    assert fell_back["decision"] == 0 and fell_back["age"] == 95
    scored = logged.loc[ok["prediction_id"]]
    assert scored["fallback"] == 0 and scored["score"] == ok["score"] and scored["latency_ms"] > 0


def test_admin_routes_need_the_token(repo_params, tmp_path, fitted):
    service = make_service(repo_params, tmp_path, fitted)
    service.holder.swap(served(fitted, "2"))
    with TestClient(create_app(service)) as client:
        assert client.post("/admin/rollback").status_code == 401
        wrong = client.post("/admin/rollback", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        resp = client.post("/admin/rollback", headers={"Authorization": "Bearer s3cret"})
        assert resp.json() == {"outcome": "rollback", "serving": "1", "rolled_back_from": "2"}
        assert client.get("/model").json()["version"] == "1"
        ready = client.get("/health/ready").json()
        assert ready["status"] == "degraded" and "rolled back in-process from v2" in ready["reasons"][0]


def test_without_a_configured_token_admin_is_disabled(repo_params, tmp_path, fitted):
    service = make_service(repo_params, tmp_path, fitted, token=None)
    with TestClient(create_app(service)) as client:
        resp = client.post("/admin/reload", headers={"Authorization": "Bearer anything"})
        assert resp.status_code == 401 and "MLOPS_SERVING_ADMIN_TOKEN is not set" in resp.text


def test_health_model_and_metrics(client):
    assert client.get("/health/live").json() == {"status": "alive"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    model = client.get("/model").json()
    assert model["version"] == "1" and model["data_hash"] == "abc123" and model["origin"] == "registry"
    metrics = client.get("/metrics").text
    assert 'serving_model{name="credit_default",origin="registry",version="1"} 1.0' in metrics
    assert 'serving_requests_total{route="/model",status="200",version="none"} 1.0' in metrics
    assert "serving_request_seconds_bucket" in metrics


def test_every_answer_reaches_the_prediction_log(repo_params, tmp_path, fitted, applications, service):
    schema = repo_params.schema
    with TestClient(create_app(service)) as client:
        answers = [client.post("/predict", json=example(applications, schema, i)).json() for i in range(5)]
    # Leaving the client stops the service, which flushes the writer.
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'monitoring.db'}")
    logged = pd.read_sql("select * from prediction_log order by prediction_id", engine)
    assert len(logged) == 5 and set(logged["source"]) == {ONLINE_SOURCE}
    by_id = logged.set_index("prediction_id")
    for a in answers:
        row = by_id.loc[a["prediction_id"]]
        assert row["score"] == a["score"] and row["model_version"] == "1"
        assert 0 < row["latency_ms"] < 60_000 and row["fallback"] == 0
        assert row["decision"] == int(a["score"] >= repo_params.evaluate.decision_threshold.value)
    first = applications.iloc[0]
    assert by_id.loc[answers[0]["prediction_id"]]["age"] == first["age"]


def test_answers_use_the_served_versions_recorded_threshold(repo_params, tmp_path, fitted, applications):
    """With a data rule the threshold is the one chosen on the version's validation split (its tag), not a number
    in params.yaml; a version without one gets the fallback decision, never a guessed threshold."""
    import dataclasses

    from tabular_mlops.core.config import ThresholdRule
    from tabular_mlops.core.contracts import Tag

    rule = ThresholdRule(rule="target_flag_rate", rate=0.2)
    params = dataclasses.replace(
        repo_params, evaluate=dataclasses.replace(repo_params.evaluate, decision_threshold=rule)
    )
    service = make_service(params, tmp_path, fitted)
    schema = repo_params.schema
    scores = score_frame(fitted, applications.head(40), schema)
    recorded = float(sorted(scores)[20])  # half the rows at or above it
    tagged = served(fitted)
    tagged = dataclasses.replace(
        tagged, loaded=dataclasses.replace(tagged.loaded, tags={Tag.DECISION_THRESHOLD: f"{recorded}"})
    )
    with TestClient(create_app(service)) as client:
        untagged = client.post("/predict", json=example(applications, schema, 0)).json()
        assert untagged["fallback"] is True and untagged["decision"] == params.serving.fallback_decision
        service.holder.swap(tagged)
        answers = [client.post("/predict", json=example(applications, schema, i)).json() for i in range(40)]
        assert client.get("/model").json()["decision_threshold"] == recorded
    high = [a["decision"] == params.serving.high_risk_decision for a in answers]
    assert high == [bool(s >= recorded) for s in scores]
    assert sum(high) == 20


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_load_every_asset_from_the_service_itself(client, page):
    """Offline docs: every src/href/url in the page is a path on this service (no scheme, no host), and each
    answers 200; the Swagger UI bundle and stylesheet are among them."""
    html = client.get(page)
    assert html.status_code == 200
    refs = set(re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""", html.text))
    urls = {a or b for a, b in refs}
    assert urls, html.text
    remote = sorted(u for u in urls if not u.startswith("/") or u.startswith("//"))
    assert not remote, remote
    assert not re.search(r"https?://", html.text), "the page names an outside host"
    for url in urls:
        assert client.get(url).status_code == 200, url
    if page == "/docs":
        assert any(u.endswith("swagger-ui-bundle.js") for u in urls) and any(u.endswith(".css") for u in urls)
        assert "/openapi.json" in urls


@pytest.mark.parametrize("host", ["evil.example", "attacker.test:8090", "127.0.0.1.nip.io"])
def test_a_foreign_host_header_is_refused_with_a_field_level_400(client, repo_params, applications, host):
    """Issue 22 item 10: no Host check, so a DNS-rebinding page could post rows into the prediction log."""
    body = example(applications, repo_params.schema)
    before = client.get("/metrics").text.count("serving_predictions_total")
    resp = client.post("/predict", json=body, headers={"host": host})
    assert resp.status_code == 400 and resp.headers["content-type"] == "application/json"
    assert (
        resp.json()["detail"] == [{"field": "(header) host", "value_type": "string", "rule": HOST_RULE}]
        and host not in resp.text
    )
    assert client.get("/metrics").text.count("serving_predictions_total") == before
    for allowed in ("127.0.0.1:8090", "localhost"):
        assert client.post("/predict", json=body, headers={"host": allowed}).status_code == 200


def test_the_openapi_documents_the_400_and_the_422_per_route(client):
    spec = client.get("/openapi.json").json()
    for path in ("/predict", "/predict/batch", "/health/ready", "/admin/reload"):
        (operation,) = spec["paths"][path].values()
        assert operation["responses"]["400"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ValidationErrors"
        }, path


def test_dropped_log_rows_stay_a_readiness_reason_after_the_database_is_back(
    repo_params, tmp_path, fitted, applications
):
    """Issue 22 item 9: /health/ready forgot the dropped rows once the database was back."""
    import time

    folder = tmp_path / "log-db"  # missing: SQLite cannot open the file, the database is down
    service = make_service(repo_params, folder, fitted, log_batch_rows=2, log_buffer_rows=3)
    body = example(applications, repo_params.schema)
    with TestClient(create_app(service)) as client:
        for _ in range(12):
            assert client.post("/predict", json=body).status_code == 200
        deadline = time.monotonic() + 10
        while service.writer.dropped == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        dropped = service.writer.dropped
        assert dropped > 0 and client.get("/health/ready").json()["status"] == "degraded"
        folder.mkdir()  # the database is back: the buffer drains
        deadline = time.monotonic() + 30
        while service.writer.down_since is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert service.writer.down_since is None
        ready = client.get("/health/ready").json()
        assert ready["status"] == "degraded"
        assert ready["reasons"] == [
            f"{dropped} prediction log row(s) dropped since start while the database was unreachable (it is "
            "back; those answers are missing from the night's monitoring)"
        ]
