"""A whole consultation through the gateway, on RabbitMQ and PostgreSQL, in both run modes:
a resident's proposal accepted in intake becomes a topic; the people invited are contacts of notify's
directory, which reach meetings' replica by event; the consultation is announced, deliberated
online in two rounds, attended offline (attendance code) and online, voted on, decided, its outcome
published with a resolution naming a registered organisation, and closed; then a consultation held
in a room is recorded afterwards (补录). Intake's proposals move to scheduled and then decided from
meetings' events, and each step's event is seen on the real broker."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from werkzeug.test import Client

from tests.conftest import YANLIUYUAN
from tests.integration.processes import Http
from tests.support import wait_until

C = "/api/v1/meetings/consultations"
MEETINGS_EVENTS = [
    "meetings.consultation.announced",
    "meetings.consultation.scheduled",
    "meetings.consultation.started",
    "meetings.consultation.decided",
    "meetings.consultation.held",
    "meetings.outcome.published",
    # the consultation recorded afterwards
    "meetings.consultation.scheduled",
    "meetings.consultation.decided",
    "meetings.consultation.held",
    "meetings.outcome.published",
]
HOUSING = {
    "id": "dept-guichi-housing",
    "kind": "department",
    "name": "贵池区住房和城乡建设局",
    "scope": "341702",
    "active": True,
}


@pytest.fixture
def with_organisations(platform, with_divisions):
    """Meetings' replica of tracking's organisations filled through its handler, as
    ``tracking.organisations.changed`` would leave it."""
    from services.meetings.handlers import HANDLERS
    from shared.events import new_event

    event = new_event("tracking.organisations.changed", {"organisations": [HOUSING]}, producer="tracking",
                      division_code=None)  # fmt: skip
    with platform.runtime("meetings").unit_of_work() as uow:
        HANDLERS[event.type](uow, event)


@pytest.fixture
def env(env):
    # The notice period is the setting under test elsewhere; here the meeting starts in seconds.
    return {**env, "XIESHANG_NOTICE_DAYS": "0", "XIESHANG_RATE_LIMIT": "100000"}


def iso(moment: datetime) -> str:
    return moment.isoformat()


def ok(result, status=200):
    code, body = result
    assert code == status, body
    return body


def proposal_status(http, auth, proposal_id):
    return http.call("GET", f"/api/v1/intake/proposals/{proposal_id}", auth("community_worker", YANLIUYUAN))[1][
        "status"
    ]


def accepted_proposal(http: Http, auth, worker, title: str) -> dict:
    proposal = ok(
        http.call(
            "POST",
            "/api/v1/intake/proposals",
            auth("resident", YANLIUYUAN, subject="rep-1"),
            {"community_code": YANLIUYUAN, "title": title, "description": "居民反映", "category": "management"},
        ),
        201,
    )
    ok(http.call("POST", f"/api/v1/intake/proposals/{proposal['id']}/accept", worker))
    return proposal


def add_contacts(http: Http, worker, people) -> None:
    """Each person the account of a resident contact of 烟柳园 in notify's directory: whom meetings
    lets an invitation name, once the contact has reached its replica by event."""
    for number, person in enumerate(people, start=1):
        contact = {
            "phone": f"1380013800{number}",
            "community_code": YANLIUYUAN,
            "kind": "resident",
            "app_user_id": person,
        }
        ok(http.call("POST", "/api/v1/notify/contacts", worker, contact), 201)


def run_consultation(http: Http, auth) -> None:
    worker = auth("community_worker", YANLIUYUAN, subject="organiser")
    people = {name: auth("resident", YANLIUYUAN, subject=name) for name in ("rep-1", "member-2", "expert-3")}
    proposal = accepted_proposal(http, auth, worker, "杏花家园地块停车场建设")
    add_contacts(http, worker, people)

    starts_at = datetime.now(UTC) + timedelta(seconds=12)
    consultation = ok(
        http.call(
            "POST",
            C,
            worker,
            {
                "division_code": YANLIUYUAN,
                "title": "杏花家园停车场建设议事会",
                "form": "community_council",
                "mode": "hybrid",
                "starts_at": iso(starts_at),
                "venue": "烟柳园社区议事厅",
                "online_link": "https://meet.example/yanliuyuan",
                "materials": ["https://docs.example/parking-plan.pdf"],
                "rule": {"method": "consensus"},
            },
        ),
        201,
    )
    cid = consultation["id"]
    # The accepted proposal reaches meetings by event; then it can be put on the agenda.
    wait_until(
        lambda: http.call("POST", f"{C}/{cid}/topics", worker, {"proposal_id": proposal["id"]})[0] == 201,
        timeout=20,
        what="the accepted proposal in meetings",
    )
    topic_id = ok(http.call("GET", f"{C}/{cid}", worker))["topics"][0]["id"]
    for person, category in (
        ("rep-1", "resident_representative"),
        ("member-2", "party_member"),
        ("expert-3", "expert"),
    ):
        invitation = {"person_id": person, "category": category}
        wait_until(lambda i=invitation: http.call("POST", f"{C}/{cid}/participants", worker, i)[0] == 201,
                   timeout=20, what="the contact in meetings' replica of the directory")  # fmt: skip
    ok(http.call("POST", f"{C}/{cid}/announce", worker))
    wait_until(lambda: proposal_status(http, auth, proposal["id"]) == "scheduled", timeout=20, what="scheduled")

    # Two rounds of online deliberation, each summarised once it has closed.
    for number, (author, stance, text) in enumerate(
        [("rep-1", "support", "建议利用空地建设停车场"), ("expert-3", "proposal", "建议分时段收费,优先保障本小区居民")],
        start=1,
    ):
        now = datetime.now(UTC)
        ok(
            http.call(
                "POST",
                f"{C}/{cid}/rounds",
                worker,
                {"opens_at": iso(now), "closes_at": iso(now + timedelta(seconds=2))},
            ),
            201,
        )
        posted = ok(
            http.call(
                "POST", f"{C}/{cid}/opinions", people[author], {"topic_id": topic_id, "stance": stance, "text": text}
            ),
            201,
        )
        if number == 1:
            reply = {"topic_id": topic_id, "stance": "concern", "text": "担心施工噪音", "parent_id": posted["id"]}
            ok(http.call("POST", f"{C}/{cid}/opinions", people["member-2"], reply), 201)
        time.sleep(2.2)
        ok(http.call("POST", f"{C}/{cid}/rounds/{number}/summary", worker, {"summary": f"第{number}轮意见已汇总"}))

    code = ok(http.call("GET", f"{C}/{cid}/attendance-code", worker))["attendance_code"]
    ok(http.call("POST", f"{C}/{cid}/sign-in", people["rep-1"], {"code": code}))
    ok(http.call("POST", f"{C}/{cid}/sign-in", people["member-2"], {"code": code}))
    ok(http.call("POST", f"{C}/{cid}/join", people["expert-3"]))
    time.sleep(max(0.0, (starts_at - datetime.now(UTC)).total_seconds()) + 0.2)
    ok(http.call("POST", f"{C}/{cid}/start", worker))
    for person in people.values():
        ok(http.call("POST", f"{C}/{cid}/votes", person, {"topic_id": topic_id, "choice": "support"}), 201)
    decided = ok(http.call("POST", f"{C}/{cid}/decide", worker))
    assert decided["status"] == "decided"
    wait_until(lambda: proposal_status(http, auth, proposal["id"]) == "decided", timeout=20, what="decided")
    deadline = (datetime.now(UTC) + timedelta(days=60)).date().isoformat()
    resolution = {
        "topic_id": topic_id,
        "organisation_id": HOUSING["id"],
        "deadline": deadline,
        "agreed": "利用杏花家园空地建设停车场,分时段收费",
    }
    published = ok(
        http.call("POST", f"{C}/{cid}/publish", worker, {"minutes": "会议纪要:一致同意", "resolutions": [resolution]})
    )
    assert published["status"] == "outcome_published"
    assert published["resolutions"][0]["responsible_party"] == HOUSING["name"]
    assert ok(http.call("POST", f"{C}/{cid}/close", worker))["status"] == "closed"
    quality = ok(http.call("GET", f"{C}/{cid}/quality", worker))
    assert quality["attendees"] == 3 and quality["opinions"] == 3 and quality["rounds"] == 2

    # A consultation held in the community's room last week, recorded afterwards (补录).
    heating = accepted_proposal(http, auth, worker, "绣春巷开水炉噪音扰民")
    record = {
        "division_code": YANLIUYUAN,
        "title": "绣春巷开水炉协商会",
        "form": "neighbourhood_point",
        "mode": "offline",
        "held_at": iso(datetime.now(UTC) - timedelta(days=7)),
        "venue": "绣春巷邻里议事点",
        "topics": [{"proposal_id": heating["id"]}],
        "attendance": {"resident_representative": 8, "stakeholder": 3, "social_organisation": 1},
        "decision": "decided",
        "resolutions": [
            {"topic_index": 0, "organisation_id": HOUSING["id"], "deadline": deadline, "agreed": "加装隔音罩"}
        ],
        "minutes_url": "https://docs.example/xiuchun-minutes.pdf",
    }
    # The accepted proposal reaches meetings by event; until then the record is refused, writing nothing.
    wait_until(lambda: http.call("POST", f"{C}/recorded", worker, record)[0] == 201, timeout=20,
               what="the consultation recorded afterwards")  # fmt: skip
    wait_until(lambda: proposal_status(http, auth, heating["id"]) == "decided", timeout=20, what="recorded: decided")


def meetings_events(seen: list[str]) -> list[str]:
    return [t for t in seen if t.startswith("meetings.")]


def test_whole_consultation_in_all_mode(settings, platform, with_organisations, auth, observed_events):
    from xieshang.server import build, shutdown

    assembly = build(settings, "all")
    try:
        run_consultation(Http(client=Client(assembly.http_entry)), auth)
        seen: list[str] = []
        wait_until(lambda: seen.extend(observed_events()) or meetings_events(seen) == MEETINGS_EVENTS, timeout=20,
                   what="meetings events")  # fmt: skip
    finally:
        shutdown(assembly)


def test_whole_consultation_with_each_target_in_its_own_process(processes, with_organisations, auth, observed_events):
    # Notify's API holds the directory and relays its contacts to meetings.
    upstreams = {f"XIESHANG_{s.upper()}_URL": processes.start(f"{s}-api") for s in ("intake", "meetings", "notify")}
    for worker in ("intake-worker", "meetings-worker"):
        processes.start(worker)
    gateway = processes.start("gateway", **upstreams)
    run_consultation(Http(base_url=gateway), auth)
    seen: list[str] = []
    wait_until(lambda: seen.extend(observed_events()) or meetings_events(seen) == MEETINGS_EVENTS, timeout=20,
               what="meetings events")  # fmt: skip
