"""Accounts over the API: browser sessions (cookie + CSRF), residents' registration by SMS code,
administrators managing the accounts of their scope, and who ``/auth/me`` says the caller is."""

import json

import pytest
from sqlalchemy import select

from gateway.models import accounts as accounts_table
from gateway.models import sms_verifications
from tests.conftest import QIUPU_COMMUNITY, YANLIUYUAN

PASSWORD = "杏花家园-停车场-2018"
PHONE = "13905661234"


@pytest.fixture
def accounts(platform_all):
    return platform_all.platform.gateway().accounts


@pytest.fixture
def operator(accounts):
    accounts.create_user("city.operator", PASSWORD, "city_operator", "3417", display_name="市运营")
    return "city.operator"


def sign_in(gateway, username, password=PASSWORD):
    return gateway.post("/api/v1/auth/session", json={"username": username, "password": password})


def last_code(settings, phone=PHONE) -> str:
    """The code as the file provider kept it (the number masked, the text whole: a code is no
    personal data)."""
    lines = (settings.data_dir / "sms-outbox.jsonl").read_text(encoding="utf-8").splitlines()
    sent = [json.loads(line) for line in lines if json.loads(line)["to"] == f"{phone[:3]}****{phone[-4:]}"]
    return "".join(c for c in sent[-1]["text"].split("验证码为")[1][:6])


def test_a_session_cookie_is_the_account_and_needs_the_csrf_token_to_change_anything(gateway, operator):
    opened = sign_in(gateway, operator)
    assert opened.status_code == 201
    cookie = opened.headers["Set-Cookie"]
    assert "xs_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # the loopback: a browser would not send a Secure cookie over http
    csrf = opened.json["csrf_token"]

    me = gateway.get("/api/v1/auth/me").json
    assert me["username"] == "city.operator" and me["display_name"] == "市运营" and me["scope"] == "3417"
    assert gateway.get("/api/v1/auth/session").json["csrf_token"] == csrf

    worker = {"username": "xinghua.worker", "password": PASSWORD, "role": "community_worker", "scope": YANLIUYUAN}
    refused = gateway.post("/api/v1/auth/accounts", json=worker)
    assert refused.status_code == 403 and "刷新页面" in refused.json["detail"]
    created = gateway.post("/api/v1/auth/accounts", json=worker, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201, created.json

    assert gateway.delete("/api/v1/auth/session", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert gateway.get("/api/v1/auth/me").status_code == 401


def test_a_session_outside_the_loopback_has_a_secure_cookie(gateway, operator):
    opened = gateway.post(
        "/api/v1/auth/session", json={"username": operator, "password": PASSWORD}, base_url="https://xieshang.example"
    )
    assert "Secure" in opened.headers["Set-Cookie"]


def test_a_resident_registers_with_the_code_sent_to_her_number(gateway, settings, platform_all):
    sent = gateway.post("/api/v1/auth/verification-codes", json={"phone": PHONE})
    assert sent.status_code == 202 and sent.json["expires_in"] == 600
    again = gateway.post("/api/v1/auth/verification-codes", json={"phone": PHONE})
    assert again.status_code == 429 and again.headers["Retry-After"]
    code = last_code(settings)
    wrong = "000000" if code != "000000" else "111111"
    form = {"phone": PHONE, "username": "xinghua.resident", "password": PASSWORD, "community_code": YANLIUYUAN,
            "display_name": "王阿姨"}  # fmt: skip

    refused = gateway.post("/api/v1/auth/register", json={**form, "code": wrong})
    assert refused.status_code == 422 and refused.json["field"] == "code" and refused.json["detail"] == "验证码不正确"
    registered = gateway.post("/api/v1/auth/register", json={**form, "code": code})
    assert registered.status_code == 201, registered.json
    assert registered.json["role"] == "resident" and registered.json["community"] == YANLIUYUAN
    assert gateway.post("/api/v1/auth/register", json={**form, "code": code}).status_code == 422  # spent

    sign_in(gateway, "xinghua.resident")
    mine = gateway.get("/api/v1/notify/contacts/me").json
    assert mine["phone"] == "139****1234" and mine["community_code"] == YANLIUYUAN
    with platform_all.platform.gateway().db.sessions() as session:  # no number in the gateway
        rows = [dict(r) for r in session.execute(select(sms_verifications)).mappings()]
        rows += [dict(r) for r in session.execute(select(accounts_table)).mappings()]
    assert PHONE not in repr(rows)


def test_a_refusal_by_notify_leaves_no_account(gateway, settings, accounts):
    gateway.post("/api/v1/auth/verification-codes", json={"phone": PHONE})
    form = {"phone": PHONE, "code": last_code(settings), "username": "nobody.here", "password": PASSWORD,
            "community_code": "341702999999"}  # fmt: skip
    refused = gateway.post("/api/v1/auth/register", json=form)
    assert refused.status_code == 422 and refused.json["field"] == "community_code", refused.json
    assert sign_in(gateway, "nobody.here").status_code == 401


def test_administrators_manage_the_accounts_of_their_scope_only(gateway, accounts, auth):
    street = auth("street_admin", "341702001")
    body = {"username": "yanliu.worker", "password": PASSWORD, "role": "community_worker", "scope": YANLIUYUAN}
    created = gateway.post("/api/v1/auth/accounts", json=body, headers=street)
    assert created.status_code == 201
    account_id = created.json["id"]
    outside = {**body, "username": "qiupu.worker", "scope": QIUPU_COMMUNITY}
    assert gateway.post("/api/v1/auth/accounts", json=outside, headers=street).status_code == 403
    peer = {**body, "username": "another.street", "role": "street_admin", "scope": "341702001"}
    assert gateway.post("/api/v1/auth/accounts", json=peer, headers=street).status_code == 403

    listed = gateway.get("/api/v1/auth/accounts", headers=street).json["items"]
    assert [a["username"] for a in listed] == ["yanliu.worker"]
    assert gateway.get("/api/v1/auth/accounts", headers=auth("street_admin", "341702002")).json["items"] == []

    assert sign_in(gateway, "yanliu.worker").status_code == 201
    disabled = gateway.post(f"/api/v1/auth/accounts/{account_id}/disable", headers=street)
    assert disabled.status_code == 200 and disabled.json["active"] is False
    assert gateway.get("/api/v1/auth/me").status_code == 401  # its session ended with it
    assert sign_in(gateway, "yanliu.worker").status_code == 401
    gateway.post(f"/api/v1/auth/accounts/{account_id}/enable", headers=street)
    new_password = "新密码-烟柳园-2026"
    reset = gateway.post(
        f"/api/v1/auth/accounts/{account_id}/password", json={"password": new_password}, headers=street
    )
    assert reset.status_code == 200
    assert sign_in(gateway, "yanliu.worker", new_password).status_code == 201
