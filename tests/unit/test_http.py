"""The behaviour every API shares: authentication, problem+json, request ids, health."""

import pytest

from shared.keys import KeyStore
from shared.principal import Principal
from shared.problems import PROBLEM_JSON
from tests.support import forged_tokens


@pytest.fixture
def intake_client(platform):
    return platform.runtime("intake").create_api().test_client()


def test_health_and_metrics_are_public(intake_client):
    assert intake_client.get("/healthz").json == {"status": "ok", "service": "intake"}
    ready = intake_client.get("/readyz")
    assert ready.status_code == 200, ready.json
    assert ready.json["checks"] == ["broker", "database"]
    metrics = intake_client.get("/metrics")
    assert metrics.status_code == 200
    assert b"xieshang_http_requests_total" in metrics.data


def test_openapi_document_is_served(intake_client):
    spec = intake_client.get("/api/v1/intake/openapi.json").json
    assert "/api/v1/intake/proposals" in spec["paths"]
    assert "bearer" in spec["components"]["securitySchemes"]


def test_routes_need_a_token(intake_client):
    response = intake_client.post("/api/v1/intake/proposals", json={})
    assert response.status_code == 401
    assert response.mimetype == PROBLEM_JSON
    body = response.json
    assert body["status"] == 401 and body["title"] and body["type"].endswith("/unauthorized")


@pytest.mark.parametrize(
    "forgery", ["expired", "other_key", "alg_none", "hs256_with_public_key", "tampered_claims", "garbage"]
)
def test_bad_tokens_are_refused(intake_client, keys, tmp_path, forgery):
    principal = Principal("u1", "resident", "341702001001")
    token = forged_tokens(keys, principal, KeyStore(tmp_path / "other-keys"))[forgery]
    response = intake_client.get("/api/v1/intake/proposals/x", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, forgery
    assert response.mimetype == PROBLEM_JSON


def test_unknown_route_and_method_are_problems(intake_client, auth):
    missing = intake_client.get("/api/v1/intake/nowhere", headers=auth())
    assert missing.status_code == 404 and missing.mimetype == PROBLEM_JSON
    wrong = intake_client.delete("/api/v1/intake/proposals", headers=auth())
    assert wrong.status_code == 405 and wrong.mimetype == PROBLEM_JSON
    assert "Allow" in wrong.headers


def test_schema_errors_list_each_field(intake_client, auth):
    response = intake_client.post("/api/v1/intake/proposals", json={"title": ""}, headers=auth())
    assert response.status_code == 422
    assert response.mimetype == PROBLEM_JSON
    errors = response.json["errors"]["json"]
    assert {"community_code", "description", "category", "title"} <= set(errors)


def test_non_json_body_is_a_4xx(intake_client, auth):
    response = intake_client.post(
        "/api/v1/intake/proposals", data="{oops", headers={**auth(), "Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500
    assert response.mimetype == PROBLEM_JSON


def test_request_id_is_kept_or_generated(intake_client):
    assert intake_client.get("/healthz", headers={"X-Request-Id": "abc-123"}).headers["X-Request-Id"] == "abc-123"
    assert len(intake_client.get("/healthz").headers["X-Request-Id"]) == 32


def test_an_unexpected_error_is_a_500_problem_without_details(platform, auth):
    app = platform.runtime("intake").create_api()

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom", headers=auth())
    assert response.status_code == 500
    assert response.mimetype == PROBLEM_JSON
    assert "secret" not in response.get_data(as_text=True)


def test_a_database_connection_lost_mid_request_is_a_503_to_retry(platform, auth):
    """What psycopg raises when PostgreSQL's pg_terminate_backend cuts the connection under a request
    (found by the fault suite: it was a 500); another database error stays a 500."""
    from sqlalchemy.exc import OperationalError

    app = platform.runtime("intake").create_api()
    terminated = Exception("terminating connection due to administrator command")

    @app.get("/cut")
    def cut():
        raise OperationalError("SELECT 1", {}, terminated, connection_invalidated=True)

    @app.get("/broken")
    def broken():
        raise OperationalError("SELECT nonsense", {}, Exception("syntax error"))

    client = app.test_client()
    response = client.get("/cut", headers=auth())
    assert response.status_code == 503 and response.mimetype == PROBLEM_JSON
    assert response.headers["Retry-After"] == "1"
    assert "terminating" not in response.get_data(as_text=True)
    assert client.get("/broken", headers=auth()).status_code == 500


def test_a_transaction_that_loses_a_wait_for_a_lock_is_a_503_to_retry(platform, auth, tmp_path):
    """SQLite's busy timeout run out and a PostgreSQL deadlock victim: the transaction was rolled back
    whole, so the client is told to come back (503, Retry-After), not that the server broke."""
    import sqlite3

    import psycopg.errors
    from sqlalchemy.exc import OperationalError

    app = platform.runtime("intake").create_api()
    holder, waiter = (sqlite3.connect(tmp_path / "locked.db", timeout=0) for _ in range(2))
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError) as busy:
        waiter.execute("BEGIN IMMEDIATE")
    holder.rollback()
    for connection in (holder, waiter):
        connection.close()

    @app.get("/busy")
    def busy_database():
        raise OperationalError("BEGIN IMMEDIATE", {}, busy.value)

    @app.get("/deadlock")
    def deadlock():
        raise OperationalError("UPDATE proposal", {}, psycopg.errors.DeadlockDetected("deadlock detected"))

    client = app.test_client()
    for path in ("/busy", "/deadlock"):
        response = client.get(path, headers=auth())
        assert response.status_code == 503 and response.mimetype == PROBLEM_JSON
        assert response.headers["Retry-After"] == "1"
        assert response.get_json()["detail"] == "系统繁忙,请稍后重试"


def test_oversized_body_is_413(intake_client, auth):
    response = intake_client.post(
        "/api/v1/intake/proposals",
        data=b"x" * (1024 * 1024 + 10),
        headers={**auth(), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.mimetype == PROBLEM_JSON


def test_an_argument_schema_given_as_a_class_is_made_once_not_per_request():
    from flask import Flask
    from flask_smorest import Api
    from marshmallow import Schema, fields

    from shared.http import Blueprint

    made = []

    class Query(Schema):
        n = fields.Integer(required=True)

        def __init__(self, *args, **kwargs):
            made.append(self)
            super().__init__(*args, **kwargs)

    blp = Blueprint("counted", __name__)

    @blp.route("/counted")
    @blp.arguments(Query, location="query")
    @blp.response(200)
    def counted(query):
        return {"n": query["n"]}

    app = Flask(__name__)
    app.config.update(API_TITLE="t", API_VERSION="1", OPENAPI_VERSION="3.0.3")
    Api(app).register_blueprint(blp)
    client = app.test_client()
    assert client.get("/counted?n=0").json == {"n": 0}
    made_by_then = len(made)
    assert [client.get(f"/counted?n={n}").json["n"] for n in range(1, 4)] == [1, 2, 3]
    assert client.get("/counted?n=x").status_code == 422  # still validated
    assert len(made) == made_by_then == 1
