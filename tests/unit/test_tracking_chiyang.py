"""A scripted year of consultation in 池阳街道's four sample communities, held live and recorded
afterwards (补录), through the gateway: the coverage JSON and the public board agree with the
figures worked out by hand below.

    community   consultations (months before this one)     in the 12-month window
    烟柳园        live this month; recorded 3 months ago      2 months, 2 topics (1 from residents)
    西街          recorded 2 months ago (a resolution)         1 month, 1 topic (from residents)
    红光          recorded 14 months ago                       none: silent
    杏花          none                                         none: silent

    covered 2 of 4 = 0.5; regularity 3 / (4 × 12) = 0.0625; bottom-up 2 of 3 topics;
    first covered in the last 3 months: 西街 (烟柳园 was first 3 months ago, outside the pace period);
    projected full coverage: 2 missing at 1 per 3 months (91.3125 days) → 183 days from today.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import pytest

from services.tracking.domain import beijing_date
from tests.conftest import CHIYANG, YANLIUYUAN
from tests.support import wait_until

XIJIE, HONGGUANG, XINGHUA = "341702001002", "341702001003", "341702001004"
C = "/api/v1/meetings/consultations"


@pytest.fixture
def env(env):
    return {**env, "XIESHANG_NOTICE_DAYS": "0", "XIESHANG_RATE_LIMIT": "100000"}


def months_ago(today: date, months: int) -> datetime:
    """Noon in Beijing on the 15th of the month ``months`` before ``today``'s."""
    index = today.year * 12 + today.month - 1 - months
    return datetime(index // 12, index % 12 + 1, 15, 4, tzinfo=UTC)


def call(gateway, method, path, headers, json=None, status=(200, 201)):
    response = gateway.open(path, method=method, json=json, headers=headers)
    assert response.status_code in status, (path, response.status_code, response.json)
    return response.json


def accepted_proposal(gateway, auth, worker, community: str, title: str) -> str:
    """A resident's matter, accepted by the community as a topic (bottom-up)."""
    resident = auth("resident", community, subject=f"resident-{community[-3:]}")
    body = {"community_code": community, "title": title, "description": "居民反映", "category": "environment"}
    proposal = call(gateway, "POST", "/api/v1/intake/proposals", resident, body)
    call(gateway, "POST", f"/api/v1/intake/proposals/{proposal['id']}/accept", worker)
    return proposal["id"]


def record(gateway, worker, community, held_at, proposal_id, resolutions=()):
    """A consultation held in the community's room, recorded afterwards, once the accepted proposal
    (and the organisation its resolution names) have reached meetings by event."""
    body = {
        "division_code": community, "title": f"议事会 {community} {held_at:%Y-%m}", "form": "community_council",
        "mode": "offline", "held_at": held_at.isoformat(), "venue": "社区议事厅",
        "topics": [{"proposal_id": proposal_id}],
        "attendance": {"resident_representative": 10, "social_organisation": 1},
        "decision": "decided" if resolutions else "no_consensus", "explanation": None if resolutions else "下次再议",
        "resolutions": list(resolutions), "minutes_url": "https://docs.example/minutes.pdf",
    }  # fmt: skip
    wait_until(lambda: gateway.post(f"{C}/recorded", headers=worker, json=body).status_code == 201,
               what="the accepted proposal in meetings")  # fmt: skip


def live(gateway, auth, worker):
    starts_at = datetime.now(UTC) + timedelta(seconds=2)
    body = {
        "division_code": YANLIUYUAN, "title": "烟柳园停车议事会", "form": "residents_forum", "mode": "offline",
        "starts_at": starts_at.isoformat(), "venue": "烟柳园社区议事厅", "materials": ["https://docs.example/a.pdf"],
    }  # fmt: skip
    consultation = call(gateway, "POST", C, worker, body)
    cid = consultation["id"]
    call(gateway, "POST", f"{C}/{cid}/topics", worker, {"title": "停车位划设", "origin": "top_down"})
    topic_id = call(gateway, "GET", f"{C}/{cid}", worker)["topics"][0]["id"]
    people = {p: auth("resident", YANLIUYUAN, subject=p) for p in ("rep-a", "rep-b")}
    for number, person in enumerate(people, start=1):
        contact = {"phone": f"1390000000{number}", "community_code": YANLIUYUAN, "kind": "resident",
                   "app_user_id": person}  # fmt: skip
        call(gateway, "POST", "/api/v1/notify/contacts", worker, contact)
        invitation = {"person_id": person, "category": "resident_representative"}
        wait_until(
            lambda i=invitation: gateway.post(f"{C}/{cid}/participants", headers=worker, json=i).status_code == 201,
            what="the contact in meetings' replica of the directory",
        )
    call(gateway, "POST", f"{C}/{cid}/announce", worker)
    code = call(gateway, "GET", f"{C}/{cid}/attendance-code", worker)["attendance_code"]
    for headers in people.values():
        call(gateway, "POST", f"{C}/{cid}/sign-in", headers, {"code": code})
    time.sleep(max(0.0, (starts_at - datetime.now(UTC)).total_seconds()) + 0.1)
    call(gateway, "POST", f"{C}/{cid}/start", worker)
    for headers in people.values():
        call(gateway, "POST", f"{C}/{cid}/votes", headers, {"topic_id": topic_id, "choice": "support"})
    call(gateway, "POST", f"{C}/{cid}/decide", worker)


def test_coverage_and_the_board_agree_with_the_hand_computed_figures(gateway, auth):
    today = beijing_date(datetime.now(UTC))
    operator = auth("city_operator", "3417", subject="operator")
    call(gateway, "PUT", "/api/v1/tracking/organisations/chiyang-property", operator,
         {"kind": "property_company", "name": "池阳物业公司", "scope": CHIYANG})  # fmt: skip
    workers = {
        code: auth("community_worker", code, subject=f"worker-{code}") for code in (YANLIUYUAN, XIJIE, HONGGUANG)
    }

    topics = {
        code: accepted_proposal(gateway, auth, workers[code], code, title)
        for code, title in ((YANLIUYUAN, "楼道堆物"), (XIJIE, "下水道堵塞"), (HONGGUANG, "开水炉噪音"))
    }
    deadline = (today + timedelta(days=30)).isoformat()
    resolution = {"topic_index": 0, "organisation_id": "chiyang-property", "deadline": deadline, "agreed": "疏通下水道"}
    record(gateway, workers[XIJIE], XIJIE, months_ago(today, 2), topics[XIJIE], [resolution])
    record(gateway, workers[YANLIUYUAN], YANLIUYUAN, months_ago(today, 3), topics[YANLIUYUAN])
    record(gateway, workers[HONGGUANG], HONGGUANG, months_ago(today, 14), topics[HONGGUANG])
    live(gateway, auth, workers[YANLIUYUAN])

    def coverage():
        answer = gateway.get(f"/api/v1/tracking/coverage?scope={CHIYANG}&level=community", headers=operator)
        return answer.json if answer.json["total"]["covered"] == 2 and answer.json["total"]["topics"] == 3 else None

    figures = wait_until(coverage, what="the four consultations counted")
    total = figures["total"]
    assert (total["communities"], total["covered"], total["coverage_ratio"]) == (4, 2, 0.5)
    assert total["regularity"] == 0.0625 and total["bottom_up_ratio"] == pytest.approx(2 / 3, abs=1e-4)
    assert total["newly_covered_recently"] == 1 and total["silent"] == 2
    assert total["silent_communities"] == [HONGGUANG, XINGHUA]
    assert total["projected_full_coverage"] == (today + timedelta(days=183)).isoformat()
    by_code = {area["code"]: area for area in figures["areas"]}
    assert (by_code[YANLIUYUAN]["covered"], by_code[XIJIE]["covered"], by_code[HONGGUANG]["covered"]) == (1, 1, 0)
    assert by_code[YANLIUYUAN]["regularity"] == pytest.approx(2 / 12, abs=1e-4)

    board = gateway.get(f"/public/{YANLIUYUAN}.json").json
    assert [(c["form"], c["recorded_afterwards"]) for c in board["consultations"]] == [
        ("residents_forum", False), ("community_council", True)
    ]  # fmt: skip
    assert board["figures"]["consultations"] == 2
    xijie = wait_until(lambda: (b := gateway.get(f"/public/{XIJIE}.json").json)["tasks"] and b, what="the task")
    (task,) = xijie["tasks"]
    assert (task["title"], task["organisation"], task["status_name"]) == ("下水道堵塞", "池阳物业公司", "已交办")
    assert gateway.get(f"/public/{HONGGUANG}.json").json["figures"]["consultations"] == 0  # 14 months ago
    street = gateway.get(f"/public/area/{CHIYANG}.json").json
    assert {c["code"]: c["consultations"] for c in street["communities"]} == {
        YANLIUYUAN: 2, XIJIE: 1, HONGGUANG: 0, XINGHUA: 0
    }  # fmt: skip
    year = gateway.get(f"/api/v1/tracking/coverage/period?scope={CHIYANG}&level=community"
                       f"&since={months_ago(today, 11):%Y-%m}&until={today:%Y-%m}", headers=operator).json  # fmt: skip
    assert (year["total"]["covered"], year["total"]["consultations"]) == (2, 3)  # 红光's is 14 months ago
    page = gateway.get(f"/public/{YANLIUYUAN}")
    assert page.status_code == 200 and "烟柳园社区" in page.get_data(as_text=True)
