"""Submitting a proposal: the rules, and that a refused one writes nothing."""

import pytest
from sqlalchemy import func, select

from services.intake.models import bus, proposals
from shared.problems import PROBLEM_JSON
from tests.conftest import QIUPU_COMMUNITY, YANLIUYUAN

URL = "/api/v1/intake/proposals"


def proposal(**changes):
    return {
        "community_code": YANLIUYUAN,
        "title": "绣春巷开水炉扰民",
        "description": "开水炉每天清晨五点开始鼓风,噪音很大,影响周边居民休息。",
        "category": "environment",
        **changes,
    }


def stored(intake):
    with intake.db.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(proposals)),
            session.scalar(select(func.count()).select_from(bus.outbox)),
        )


def test_a_resident_submits_a_proposal_and_an_event_is_recorded(client, intake, auth):
    response = client.post(URL, json=proposal(), headers=auth("resident", YANLIUYUAN, subject="resident-1"))
    assert response.status_code == 201, response.json
    body = response.json
    assert body["status"] == "submitted" and body["origin"] == "resident" and body["channel"] == "app"
    assert "submitter_id" not in body
    assert stored(intake) == (1, 1)
    with intake.db.sessions() as session:
        row = session.execute(select(bus.outbox)).mappings().one()
    assert row["event_type"] == "intake.proposal.submitted"
    assert '"submitter_id": "resident-1"' in row["body"]


def test_the_channel_comes_from_how_the_matter_arrived_never_from_the_body(client, auth):
    system = auth("system", "341702", subject="apikey:guichi-12345")  # a district system's key at the gateway
    relayed = client.post(URL, json=proposal(submitter_id="caller-1"), headers=system)
    assert relayed.status_code == 201 and relayed.json["channel"] == "district_system"
    claimed = client.post(URL, json=proposal(channel="district_system"), headers=auth("resident", YANLIUYUAN))
    assert claimed.status_code == 422 and claimed.json["errors"]["json"] == {"channel": ["未知字段"]}


def test_a_street_admins_topic_counts_as_top_down(client, auth):
    response = client.post(URL, json=proposal(), headers=auth("street_admin", "341702001"))
    assert response.status_code == 201
    assert response.json["origin"] == "top_down"


@pytest.mark.parametrize(
    ("changes", "status", "field"),
    [
        ({"community_code": "341702009999"}, 422, "community_code"),  # not in the registry
        ({"community_code": "341702001000"}, 422, "community_code"),  # a street, not a community
        ({"community_code": "12345"}, 422, "community_code"),
        ({"community_code": QIUPU_COMMUNITY}, 403, None),  # outside the resident's scope
        ({"category": "weather"}, 422, "category"),
        ({"title": "<b>标题</b>"}, 422, "title"),
        ({"description": "点击 <script>alert(1)</script>"}, 422, "description"),
        ({"description": "javascript:alert(1)"}, 422, "description"),
        ({"description": "长" * 4001}, 422, "description"),
        ({"title": "   "}, 422, "title"),
        ({"channel": "district_system"}, 422, "channel"),  # not the caller's to say: an unknown field
        ({"channel": "app"}, 422, "channel"),
        ({"recorded_from": "offline"}, 422, "recorded_from"),  # staff only
        ({"recorded_from": "pigeon"}, 422, "recorded_from"),
    ],
)
def test_bad_proposals_get_a_chinese_problem_and_write_nothing(client, intake, auth, changes, status, field):
    response = client.post(URL, json=proposal(**changes), headers=auth("resident", YANLIUYUAN))
    assert response.status_code == status, response.json
    assert response.mimetype == PROBLEM_JSON
    body = response.json
    text = body.get("detail", "") + body["title"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in text)
    if field and "field" in body:
        assert body["field"] == field
    elif field:
        assert field in body["errors"]["json"]
    assert stored(intake) == (0, 0)


def test_a_proposal_is_visible_only_within_scope(client, auth):
    created = client.post(URL, json=proposal(), headers=auth("resident", YANLIUYUAN)).json
    assert client.get(f"{URL}/{created['id']}", headers=auth("street_admin", "341702001")).status_code == 200
    assert client.get(f"{URL}/{created['id']}", headers=auth("community_worker", QIUPU_COMMUNITY)).status_code == 404
