"""The gateway: logins, refresh rotation, API keys, throttling, rate limits, documents, headers."""

import logging

import pytest

from shared.problems import PROBLEM_JSON
from tests.conftest import QIUPU_COMMUNITY, YANLIUYUAN

PASSWORD = "绣春巷-开水炉-2018"
PROPOSAL = {
    "community_code": YANLIUYUAN,
    "title": "红光新村业委会活动场所",
    "description": "业委会没有固定活动场所",
    "category": "management",
}


@pytest.fixture
def env(env):
    return {**env, "XIESHANG_LOGIN_MAX_FAILURES": "3"}


@pytest.fixture
def accounts(platform_all):
    return platform_all.platform.gateway().accounts


@pytest.fixture
def worker(accounts):
    accounts.create_user("yanliu.worker", PASSWORD, "community_worker", YANLIUYUAN)
    return "yanliu.worker"


def login(gateway, username, password=PASSWORD, address="10.0.0.1"):
    return gateway.post(
        "/api/v1/auth/token",
        json={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_login_gives_a_token_pair_that_works_on_every_service(gateway, worker):
    response = login(gateway, worker)
    assert response.status_code == 200
    pair = response.json
    assert pair["token_type"] == "Bearer" and pair["expires_in"] == 900 and pair["refresh_token"]
    me = gateway.get("/api/v1/auth/me", headers=bearer(pair["access_token"])).json
    assert me["role"] == "community_worker" and me["scope"] == YANLIUYUAN
    created = gateway.post("/api/v1/intake/proposals", json=PROPOSAL, headers=bearer(pair["access_token"]))
    assert created.status_code == 201


def test_refresh_rotates_and_a_reused_refresh_token_ends_the_login(gateway, worker):
    first = login(gateway, worker).json
    second = gateway.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200 and second.json["refresh_token"] != first["refresh_token"]
    replay = gateway.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    # The theft is detected: the legitimate newer token is revoked too.
    assert gateway.post("/api/v1/auth/refresh", json={"refresh_token": second.json["refresh_token"]}).status_code == 401


def test_logout_revokes_the_refresh_token(gateway, worker):
    pair = login(gateway, worker).json
    assert gateway.post("/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]}).status_code == 204
    assert gateway.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401


def test_no_endpoint_reveals_whether_a_username_exists(gateway, worker):
    wrong_password = login(gateway, worker, "not-the-password")
    unknown_user = login(gateway, "nobody.here", "not-the-password")
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert wrong_password.json == {**unknown_user.json}


def test_brute_force_locks_the_account_whether_or_not_it_exists(gateway, worker, caplog):
    with caplog.at_level(logging.WARNING, logger="xieshang.gateway.accounts"):
        for username in (worker, "nobody.here"):
            for attempt in range(3):
                assert login(gateway, username, f"guess-{attempt}", address=f"10.0.1.{attempt}").status_code == 401
            locked = login(gateway, username, PASSWORD if username == worker else "x", address="10.0.2.1")
            assert locked.status_code == 429
            assert int(locked.headers["Retry-After"]) > 0
    assert sum("login refused" in r.message for r in caplog.records) >= 8


def test_many_failures_from_one_address_are_throttled(gateway, accounts, worker):
    for i in range(12):  # four accounts' worth, spread over different usernames
        login(gateway, f"someone{i}", "wrong-password", address="10.9.9.9")
    assert login(gateway, worker, address="10.9.9.9").status_code == 429
    assert login(gateway, worker, address="10.9.9.10").status_code == 200


def test_api_keys_authenticate_district_systems(gateway, cli):
    code, out = cli("apikeys", "create", "--name", "guichi-12345", "--scope", "341702", "--rate", "600")
    assert code == 0
    key = out.strip().splitlines()[-1]
    assert key.startswith("xs_")
    by_header = gateway.post("/api/v1/intake/proposals", json=PROPOSAL, headers={"X-Api-Key": key})
    assert by_header.status_code == 201, by_header.json
    by_parameter = gateway.get(f"/api/v1/intake/proposals/{by_header.json['id']}?api_key={key}")
    assert by_parameter.status_code == 200
    outside = {**PROPOSAL, "community_code": "341721100001"}  # 东至县: outside 贵池区
    assert gateway.post("/api/v1/intake/proposals", json=outside, headers={"X-Api-Key": key}).status_code == 403
    assert cli("apikeys", "revoke", "--name", "guichi-12345")[0] == 0
    revoked = gateway.post("/api/v1/intake/proposals", json=PROPOSAL, headers={"X-Api-Key": key})
    assert revoked.status_code == 401 and revoked.mimetype == PROBLEM_JSON
    assert gateway.get("/api/v1/intake/proposals/x", headers={"X-Api-Key": "xs_fake_key"}).status_code == 401


def test_each_client_has_its_own_rate_limit(gateway, platform_all):
    key = platform_all.platform.gateway().accounts.create_api_key("slow-system", "341702", rate_per_minute=6)
    statuses = [gateway.get("/api/v1/tracking/divisions", headers={"X-Api-Key": key}).status_code for _ in range(7)]
    assert statuses[:5] == [200] * 5  # a burst of ten seconds' worth (at least 5)
    assert 429 in statuses[5:]
    limited = gateway.get("/api/v1/tracking/divisions", headers={"X-Api-Key": key})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    # Another client is not affected.
    other = platform_all.platform.gateway().accounts.create_api_key("other-system", "341702", rate_per_minute=6)
    assert gateway.get("/api/v1/tracking/divisions", headers={"X-Api-Key": other}).status_code == 200


def test_trusted_infrastructure_calls_without_a_token_are_not_rate_limited(settings, keys, with_divisions):
    from werkzeug.test import Client

    from shared.config import load_settings
    from xieshang.server import build, shutdown

    trusted = load_settings({"XIESHANG_TRUSTED_ADDRESSES": "10.0.5.0/24"}).trusted_addresses
    assembly = build(settings.replace(rate_limit=6, trusted_addresses=trusted), "all")
    try:
        client = Client(assembly.http_entry)
        path = f"/api/v1/meetings/communities/{YANLIUYUAN}/calendar.ics"
        sms_gateway = [client.get(path, environ_base={"REMOTE_ADDR": "10.0.5.7"}).status_code for _ in range(10)]
        assert sms_gateway == [200] * 10
        anyone = [client.get(path, environ_base={"REMOTE_ADDR": "10.0.6.7"}).status_code for _ in range(10)]
        assert 429 in anyone
    finally:
        shutdown(assembly)


def test_one_openapi_document_and_a_docs_page(gateway):
    spec = gateway.get("/api/v1/openapi.json").json
    for path in (
        "/api/v1/intake/proposals",
        "/api/v1/intake/proposals/{proposal_id}",
        "/api/v1/notify/inbox",
        "/api/v1/tracking/divisions/{code}",
        "/api/v1/auth/token",
    ):
        assert path in spec["paths"], path
    assert {"bearer", "apiKey"} <= set(spec["components"]["securitySchemes"])
    docs = gateway.get("/api/v1/docs")
    assert docs.status_code == 200 and "/api/v1/intake/proposals" in docs.get_data(as_text=True)


def test_jwks_publishes_every_key_in_rotation(gateway, keys, token):
    old = token("resident", YANLIUYUAN)
    keys.rotate()
    kids = {jwk["kid"] for jwk in gateway.get("/.well-known/jwks.json").json["keys"]}
    assert kids == {key.kid for key in keys.keys()} and len(kids) == 2
    # Tokens signed before the rotation still work; new ones carry the new kid.
    assert gateway.get("/api/v1/notify/inbox", headers=bearer(old)).status_code == 200
    assert gateway.get("/api/v1/notify/inbox", headers=bearer(token("resident", YANLIUYUAN))).status_code == 200


def test_request_ids_body_limit_and_cors(gateway, auth, settings):
    response = gateway.get("/api/v1/notify/inbox", headers={**auth(), "X-Request-Id": "district-req-1"})
    assert response.headers["X-Request-Id"] == "district-req-1"
    too_big = gateway.post(
        "/api/v1/intake/proposals",
        data=b"x" * (1024 * 1024 + 1),
        headers={**auth(), "Content-Type": "application/json"},
    )
    assert too_big.status_code == 413 and too_big.mimetype == PROBLEM_JSON


def test_cors_is_off_unless_configured(gateway):
    response = gateway.options("/api/v1/intake/proposals", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("env_cors", ["https://app.chizhou.example"])
def test_configured_origins_get_cors_headers(env, env_cors, settings, keys, with_divisions):
    from werkzeug.test import Client

    from shared.config import load_settings
    from xieshang.server import build, shutdown

    assembly = build(load_settings({**env, "XIESHANG_CORS_ORIGINS": env_cors}), "all")
    try:
        client = Client(assembly.http_entry)
        preflight = client.options("/api/v1/intake/proposals", headers={"Origin": env_cors})
        assert preflight.status_code == 204
        assert preflight.headers["Access-Control-Allow-Origin"] == env_cors
        assert "X-Api-Key" in preflight.headers["Access-Control-Allow-Headers"]
    finally:
        shutdown(assembly)


def test_gateway_metrics_are_labelled_by_route_template(gateway, auth):
    gateway.get("/api/v1/intake/proposals/0b0e7ef0-0000-0000-0000-000000000000", headers=auth())
    exposition = gateway.get("/metrics").get_data(as_text=True)
    assert 'route="/api/v1/intake/proposals/{proposal_id}",service="gateway"' in exposition
    assert "0b0e7ef0" not in exposition


def test_refused_tokens_are_logged(gateway, caplog):
    with caplog.at_level(logging.WARNING, logger="xieshang.gateway"):
        response = gateway.get("/api/v1/notify/inbox", headers=bearer("abc.def.ghi"))
    assert response.status_code == 401
    assert any(r.message == "refused token" for r in caplog.records)


def test_a_users_scope_must_fit_the_role(accounts):
    from shared.problems import Invalid

    with pytest.raises(Invalid):
        accounts.create_user("street.admin", PASSWORD, "street_admin", QIUPU_COMMUNITY)  # 12 digits: too narrow
    with pytest.raises(Invalid):
        accounts.create_user("x", PASSWORD, "resident", YANLIUYUAN)  # username too short
    with pytest.raises(Invalid):
        accounts.create_user("weak.user", "short", "resident", YANLIUYUAN)


def test_open311_paths_are_labelled_by_their_template(gateway):
    gateway.get("/open311/v2/requests/0b0e7ef0-1111-2222-3333-444444444444.json")
    exposition = gateway.get("/metrics").get_data(as_text=True)
    assert 'route="/open311/v2/requests/{service_request_id}.{format}",service="gateway"' in exposition
    assert "0b0e7ef0-1111" not in exposition
