"""``xieshang demo`` through the gateway of the in-process platform: every matter of the report
ends resolved and rated, the online consultation is open, and a second run changes nothing."""

import pytest

from tests.conftest import YANLIUYUAN
from xieshang.demo import MATTERS, PASSWORD, Answer, Demo


@pytest.fixture
def env(env):
    return {**env, "XIESHANG_NOTICE_DAYS": "0", "XIESHANG_RATE_LIMIT": "100000"}


def transport(gateway):
    def send(method, path, body, headers):
        response = gateway.open(path, method=method, json=body, headers=headers)
        return Answer(response.status_code, response.json if response.is_json else {})

    return send


def test_the_demo_plays_the_reports_matters_to_their_end_once(gateway, platform_all, settings):
    accounts = platform_all.platform.gateway().accounts
    summary = Demo(transport(gateway), accounts, settings.data_dir, log=lambda *_: None).run()
    assert [m["status"] for m in summary["matters"]] == ["resolved"] * len(MATTERS)
    assert summary["live_consultation"]["status"] == "in_session"
    resident = gateway.post("/api/v1/auth/token", json={"username": "resident.004.1", "password": PASSWORD}).json
    task = summary["matters"][0]["task_id"]
    rated = gateway.get(
        f"/api/v1/tracking/tasks/{task}/ratings", headers={"Authorization": f"Bearer {resident['access_token']}"}
    )
    assert rated.json["ratings"] == 1 and rated.json["mine"] == "satisfied"
    board = gateway.get(f"/public/{YANLIUYUAN}.json")
    assert board.status_code == 200

    before = gateway.get(
        "/api/v1/intake/proposals?limit=100", headers={"Authorization": f"Bearer {resident['access_token']}"}
    ).json
    again = Demo(transport(gateway), accounts, settings.data_dir, log=lambda *_: None).run()
    after = gateway.get(
        "/api/v1/intake/proposals?limit=100", headers={"Authorization": f"Bearer {resident['access_token']}"}
    ).json
    assert again == summary and after == before
