"""Meetings through its HTTP API: a whole consultation from the draft to its published outcome,
the events it tells the others, the calendar feed, the quality figures, who sees and does what,
and that a refused step writes nothing. Time is the test's: ``clock`` sets what the API calls now."""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.meetings import calendar, repository
from services.meetings.domain import FORMS, Consultation, DecisionRule, Topic
from services.meetings.models import accepted_proposals, bus, metadata
from shared.clock import FixedClock
from shared.events import new_event
from tests.conftest import CHIYANG, QIUPU_COMMUNITY, XIJIE, YANLIUYUAN

M = "/api/v1/meetings"
C = f"{M}/consultations"
T0 = datetime(2030, 5, 6, 1, 0, tzinfo=UTC)  # 09:00 in 池州
START = T0 + timedelta(days=7, hours=10)
MATERIALS = ["https://docs.example/parking-plan.pdf"]


# Whom notify's directory holds, as meetings' replica has it: the people these tests invite, each the
# account of a contact where they live (``expert-9`` in another street of the district).
DIRECTORY = {
    **{person: YANLIUYUAN for person in ("r-1", "r-2", "r-3", "o-1", "e-1", "r-late", "d-1")},
    "expert-9": QIUPU_COMMUNITY,
}


@pytest.fixture
def meetings(platform, with_divisions, register_people):
    """Meetings' runtime, its replica of notify's directory holding ``DIRECTORY``."""
    runtime = platform.runtime("meetings")
    register_people(runtime, DIRECTORY)
    return runtime


@pytest.fixture
def clock(meetings):
    """Meetings' clock, standing at T0 until set."""
    meetings.clock = FixedClock(T0)
    return meetings.clock


@pytest.fixture
def client(meetings, clock):
    """A client of meetings' API alone (no gateway in front)."""
    return meetings.create_api().test_client()


@pytest.fixture
def worker(auth):
    return auth("community_worker", YANLIUYUAN, subject="worker-1")


@pytest.fixture
def accept(meetings):
    """Tell meetings that intake accepted a proposal as a topic (as its event would)."""

    def apply(proposal_id: str, community=YANLIUYUAN, title="空地改建停车场", origin="resident") -> dict:
        payload = {
            "proposal_id": proposal_id,
            "community_code": community,
            "submitter_id": "resident-77",
            "title": title,
            "actor_id": "worker-1",
            "category": "management",
            "origin": origin,
        }
        event = new_event("intake.proposal.accepted", payload, producer="intake", division_code=community)
        assert meetings.consumer().apply(event.to_dict()) == "processed"
        return payload

    return apply


ORGANISATIONS = [
    {
        "id": "dept-guichi-housing",
        "kind": "department",
        "name": "贵池区住房和城乡建设局",
        "scope": "341702",
        "active": True,
    },
    {"id": "org-xijie", "kind": "property_company", "name": "西街物业", "scope": XIJIE, "active": True},
]


@pytest.fixture
def with_organisations(meetings):
    """Meetings' replica of the registered organisations filled, as tracking's
    ``tracking.organisations.changed`` would leave it (through meetings' own consumer)."""
    event = new_event(
        "tracking.organisations.changed", {"organisations": ORGANISATIONS}, producer="tracking", division_code=None
    )
    assert meetings.consumer().apply(event.to_dict()) == "processed"
    return {o["id"]: o for o in ORGANISATIONS}


@pytest.fixture
def draft(client, worker):
    def make(headers=None, **changes) -> dict:
        body = {
            "division_code": YANLIUYUAN,
            "title": "杏花家园停车难协商",
            "form": "community_council",
            "mode": "hybrid",
            "starts_at": START.isoformat(),
            "venue": "烟柳园社区议事厅",
            "online_link": "https://meet.example/yanliuyuan",
            "materials": MATERIALS,
            **changes,
        }
        response = client.post(C, json=body, headers=headers or worker)
        assert response.status_code == 201, response.json
        return response.json

    return make


def published(runtime) -> list[dict]:
    """The events a service wrote to its outbox, in order."""
    with runtime.db.sessions() as session:
        bodies = session.execute(select(bus.outbox.c.body).order_by(bus.outbox.c.seq)).scalars()
        return [json.loads(body) for body in bodies]


def snapshot(runtime) -> dict:
    """Every row of meetings' own tables (a refused step must leave all of them as they were)."""
    with runtime.db.sessions() as session:
        return {
            name: sorted(map(repr, session.execute(select(table)).all()))
            for name, table in metadata.tables.items()
            if name not in {"division", "inbox"}
        }


def person(auth, subject, community=YANLIUYUAN, role="resident"):
    return auth(role, community, subject=subject)


# -- a whole consultation ----------------------------------------------------------------------------


def test_a_whole_consultation(client, auth, worker, draft, meetings, platform, clock, with_organisations):
    intake = platform.runtime("intake").create_api().test_client()
    # 百姓点事、两委定事 in intake; its real "accepted" events reach meetings' replica.
    proposals = []
    for title in ("杏花家园空地改建停车场", "夜间施工时间调整"):
        submitted = intake.post(
            "/api/v1/intake/proposals",
            json={"community_code": YANLIUYUAN, "title": title, "description": "居民反映", "category": "management"},
            headers=person(auth, "resident-77"),
        ).json
        assert intake.post(f"/api/v1/intake/proposals/{submitted['id']}/accept", headers=worker).status_code == 200
        proposals.append(submitted["id"])
    consumer = meetings.consumer()
    for event in published(platform.runtime("intake")):
        if event["type"] == "intake.proposal.accepted":
            assert consumer.apply(event) == "processed"
            assert consumer.apply(event) == "duplicate"
    parking_proposal, works_proposal = proposals

    # 确定议题和参与主体: a draft, topics from accepted proposals and one of the community's own.
    consultation = draft(materials=[], rule={"method": "qualified_majority", "threshold": "2/3"})
    cid = consultation["id"]
    assert consultation["status"] == "draft" and consultation["rule"] == {
        "method": "qualified_majority",
        "threshold": "2/3",
        "quorum": "1/2",
    }
    for proposal_id in proposals:
        added = client.post(f"{C}/{cid}/topics", json={"proposal_id": proposal_id}, headers=worker)
        assert added.status_code == 201, added.json
    twice = client.post(f"{C}/{cid}/topics", json={"proposal_id": parking_proposal}, headers=worker)
    assert twice.status_code == 409
    extra = client.post(f"{C}/{cid}/topics", json={"title": "楼道堆物清理"}, headers=worker).json
    assert [(t["title"], t["origin"]) for t in extra["topics"]] == [
        ("杏花家园空地改建停车场", "resident"),
        ("夜间施工时间调整", "resident"),
        ("楼道堆物清理", "top_down"),
    ]
    removed = client.delete(f"{C}/{cid}/topics/{extra['topics'][2]['id']}", headers=worker)
    assert removed.status_code == 200 and len(removed.json["topics"]) == 2
    parking, works = (t["id"] for t in removed.json["topics"])

    # Announcing too early: missing parts are listed (409) and nothing is written.
    before = snapshot(meetings)
    refused = client.post(f"{C}/{cid}/announce", headers=worker)
    assert refused.status_code == 409 and refused.json["missing"] == ["participants", "materials"]
    assert "协商材料" in refused.json["detail"]
    assert snapshot(meetings) == before
    checklist = client.get(f"{C}/{cid}/checklist", headers=worker).json
    assert checklist["ready"] is False and checklist["notice_days"] == 3
    assert [m["item"] for m in checklist["missing"]] == ["participants", "materials"]

    people = [
        ("r-1", "resident_representative"),
        ("r-2", "party_member"),
        ("o-1", "social_organisation"),
        ("e-1", "expert"),
    ]
    for person_id, category in people:
        invited = client.post(
            f"{C}/{cid}/participants", json={"person_id": person_id, "category": category}, headers=worker
        )
        assert invited.status_code == 201 and invited.json["rsvp"] == "pending"
    again = client.post(f"{C}/{cid}/participants", json={"person_id": "r-1", "category": "expert"}, headers=worker)
    assert again.status_code == 409
    assert client.patch(f"{C}/{cid}", json={"materials": MATERIALS}, headers=worker).json["materials"] == MATERIALS
    assert client.get(f"{C}/{cid}/checklist", headers=worker).json["ready"] is True

    # The notice period: two days before the start is too late (422), and nothing is written.
    clock.set(START - timedelta(days=2))
    before = snapshot(meetings)
    late = client.post(f"{C}/{cid}/announce", headers=worker)
    assert late.status_code == 422 and late.json["notice_days"] == 3 and "提前3天" in late.json["detail"]
    assert snapshot(meetings) == before
    clock.set(T0)
    announced = client.post(f"{C}/{cid}/announce", headers=worker)
    assert announced.status_code == 200 and announced.json["status"] == "announced"
    assert client.patch(f"{C}/{cid}", json={"title": "改名"}, headers=worker).status_code == 409
    code = client.get(f"{C}/{cid}/attendance-code", headers=worker).json
    assert len(code["attendance_code"]) == 6
    assert code["sign_in_opens_at"] == (START - timedelta(hours=1)).isoformat()
    # intake hears of it: the topics' proposals are scheduled.
    intake_consumer = platform.runtime("intake").consumer()
    for event in published(meetings):
        if event["type"] == "meetings.consultation.scheduled":
            intake_consumer.apply(event)
    for proposal_id in proposals:
        assert intake.get(f"/api/v1/intake/proposals/{proposal_id}", headers=worker).json["status"] == "scheduled"

    # Answers and profiles.
    assert client.post(f"{C}/{cid}/rsvp", json={"answer": "accepted"}, headers=person(auth, "r-1")).status_code == 200
    declined = client.post(f"{C}/{cid}/rsvp", json={"answer": "declined"}, headers=person(auth, "e-1"))
    assert declined.json["rsvp"] == "declined"
    uninvited = client.post(f"{C}/{cid}/rsvp", json={"answer": "accepted"}, headers=person(auth, "stranger"))
    assert uninvited.status_code == 403
    for person_id, profile in [
        ("r-1", {"age_band": "60_plus", "occupation": "retired"}),
        ("r-2", {"age_band": "45_59", "occupation": "employed", "stakeholder_type": "owner"}),
        ("o-1", {"age_band": "30_44", "occupation": "employed", "stakeholder_type": "organisation"}),
    ]:
        declared = client.post(f"{C}/{cid}/profile", json=profile, headers=person(auth, person_id))
        assert declared.status_code == 200 and declared.json["profile"]["age_band"] == profile["age_band"]
    listed = client.get(f"{C}/{cid}/participants", headers=worker).json
    assert sorted(p["person_id"] for p in listed) == ["e-1", "o-1", "r-1", "r-2"]
    assert "profile" not in listed[0] and "age_band" not in json.dumps(listed)

    # 居民议事: two rounds of opinions, replies, moderation and summaries.
    first = client.post(
        f"{C}/{cid}/rounds",
        json={"opens_at": (T0 + timedelta(hours=1)).isoformat(), "closes_at": (T0 + timedelta(days=3)).isoformat()},
        headers=worker,
    )
    assert first.status_code == 201 and first.json["number"] == 1
    second = client.post(
        f"{C}/{cid}/rounds",
        json={
            "opens_at": (T0 + timedelta(days=3)).isoformat(),
            "closes_at": (START - timedelta(hours=2)).isoformat(),
        },
        headers=worker,
    )
    assert second.json["number"] == 2
    neighbour = person(auth, "resident-a")  # lives in 烟柳园, not invited

    def opine(headers, topic, text, stance="support", parent_id=None):
        body = {"topic_id": topic, "stance": stance, "text": text, "parent_id": parent_id}
        return client.post(f"{C}/{cid}/opinions", json=body, headers=headers)

    assert opine(neighbour, parking, "早该建了").status_code == 409  # no round open yet
    clock.set(T0 + timedelta(days=1))
    opinion = opine(neighbour, parking, "空地闲置多年,建停车场很好")
    assert opinion.status_code == 201 and opinion.json["round_number"] == 1 and opinion.json["mine"] is True
    reply = opine(person(auth, "r-1"), parking, "要注意消防通道", "concern", opinion.json["id"])
    assert reply.status_code == 201 and reply.json["author_category"] == "resident_representative"
    assert opine(person(auth, "r-2"), works, "晚上十点后不应施工", "oppose").status_code == 201
    abusive = opine(neighbour, works, "施工队电话13800000000,大家去骂")
    far = opine(person(auth, "far-away", XIJIE), parking, "我也支持")
    assert far.status_code in (403, 404)
    hide = client.post(f"{C}/{cid}/opinions/{abusive.json['id']}/hide", json={"reason": "含个人信息"}, headers=worker)
    assert hide.status_code == 200 and hide.json["hidden"] is True
    seen_by_resident = client.get(f"{C}/{cid}/opinions", headers=neighbour).json
    assert abusive.json["id"] not in [o["id"] for o in seen_by_resident["items"]]
    assert all(o["author_id"] is None and o["hidden_reason"] is None for o in seen_by_resident["items"])
    seen_by_worker = client.get(f"{C}/{cid}/opinions", headers=worker).json
    [hidden] = [o for o in seen_by_worker["items"] if o["hidden"]]
    assert hidden["hidden_reason"] == "含个人信息" and hidden["author_id"] == "resident-a"
    threads = {o["id"]: o for o in seen_by_worker["items"]}
    assert threads[reply.json["id"]]["parent_id"] == opinion.json["id"]

    summary = {"summary": "多数居民支持建设停车场,关注消防通道;夜间施工意见分歧。"}
    assert client.post(f"{C}/{cid}/rounds/1/summary", json=summary, headers=worker).status_code == 409  # still open
    clock.set(T0 + timedelta(days=3, hours=1))
    assert client.post(f"{C}/{cid}/rounds/1/summary", json=summary, headers=worker).status_code == 200
    assert opine(person(auth, "o-1"), works, "建议施工截至晚八点", "proposal").json["round_number"] == 2
    clock.set(START - timedelta(hours=1, minutes=30))
    summary2 = {"summary": "提出晚八点停工的折中方案。"}
    assert client.post(f"{C}/{cid}/rounds/2/summary", json=summary2, headers=worker).status_code == 200
    assert client.post(f"{C}/{cid}/rounds/9/summary", json=summary2, headers=worker).status_code == 404
    rounds = client.get(f"{C}/{cid}/opinions", headers=neighbour).json["rounds"]
    assert [r["summary"] for r in rounds] == [summary["summary"], summary2["summary"]]

    # Sign-in: offline with the code (from an hour before), online by joining.
    code = code["attendance_code"]
    early = client.post(f"{C}/{cid}/sign-in", json={"code": code}, headers=person(auth, "r-1"))
    assert early.status_code == 409
    clock.set(START - timedelta(minutes=30))
    wrong = client.post(f"{C}/{cid}/sign-in", json={"code": "abcdef"}, headers=person(auth, "r-1"))
    assert wrong.status_code == 422
    for person_id in ("r-1", "r-2"):
        signed = client.post(f"{C}/{cid}/sign-in", json={"code": code}, headers=person(auth, person_id))
        assert signed.json["attended"] is True and signed.json["attended_via"] == "offline"
    joined = client.post(f"{C}/{cid}/join", headers=person(auth, "o-1"))
    assert joined.json["attended_via"] == "online"

    # 与会决事.
    clock.set(START - timedelta(minutes=10))
    assert client.post(f"{C}/{cid}/start", headers=worker).status_code == 409  # not before the time
    clock.set(START)
    started = client.post(f"{C}/{cid}/start", headers=worker)
    assert started.json["status"] == "in_session"
    clock.set(START + timedelta(minutes=30))

    def vote(subject, topic, choice, reason=None):
        body = {"topic_id": topic, "choice": choice, "reason": reason}
        return client.post(f"{C}/{cid}/votes", json=body, headers=person(auth, subject))

    assert vote("resident-a", parking, "support").status_code == 403  # not a participant
    assert vote("e-1", parking, "support").status_code == 403  # invited, not signed in
    assert vote("r-1", parking, "support").status_code == 201
    before = snapshot(meetings)
    assert vote("r-1", parking, "oppose").status_code == 409  # once per topic
    assert snapshot(meetings) == before
    assert vote("r-2", works, "block").status_code == 422  # a block must say why
    for subject, topic, choice, reason in [
        ("r-2", parking, "support", None),
        ("o-1", parking, "support", None),
        ("r-1", works, "support", None),
        ("r-2", works, "oppose", "夜间施工影响休息"),
        ("o-1", works, "abstain", None),
    ]:
        assert vote(subject, topic, choice, reason).status_code == 201
    clock.set(START + timedelta(hours=1))
    decided = client.post(f"{C}/{cid}/decide", headers=worker).json
    assert decided["status"] == "decided"
    assert [(r["topic_id"], r["adopted"], r["support"], r["dissent_reasons"]) for r in decided["results"]] == [
        (parking, True, 3, []),
        (works, False, 1, ["夜间施工影响休息"]),
    ]
    assert "r-2" not in json.dumps(decided)

    quality = client.get(f"{C}/{cid}/quality", headers=worker).json
    assert quality == {
        "consultation_id": cid,
        "method": "qualified_majority",
        "mode": "hybrid",
        "invited": 4,
        "attendees": 3,
        "attendance": "3/4",
        "online_attendees": 1,
        "share_not_retired": "2/3",
        "share_under_45": "1/3",
        "categories": ["party_member", "resident_representative", "social_organisation"],
        "stakeholder_types": ["organisation", "owner"],
        "opinions": 4,
        "rounds": 2,
        "summarised_rounds": 2,
        "dissent": 1,
        "flags": [],
    }

    # 反馈协商结果: a resolution per adopted topic and an answer to the dissent.
    resolution = {
        "topic_id": parking,
        "organisation_id": "dept-guichi-housing",
        "deadline": "2030-06-30",
        "agreed": "利用空地建设临时停车场,保留消防通道",
    }
    minutes = "与会人员同意建设临时停车场;夜间施工时间另行协商。"
    lacking = client.post(f"{C}/{cid}/publish", json={"minutes": minutes, "explanation": "再议"}, headers=worker)
    assert lacking.status_code == 422 and lacking.json["field"] == "resolutions"
    before = snapshot(meetings)
    for organisation_id in ("dept-unknown", "org-xijie"):  # never registered; registered for another community
        elsewhere = {
            "minutes": minutes,
            "explanation": "再议",
            "resolutions": [{**resolution, "organisation_id": organisation_id}],
        }
        refused = client.post(f"{C}/{cid}/publish", json=elsewhere, headers=worker)
        assert refused.status_code == 422 and refused.content_type == "application/problem+json"
        assert refused.json["detail"] == "责任单位未登记或不在本辖区" and refused.json["field"] == "resolutions"
    unnamed = {
        "minutes": minutes,
        "explanation": "再议",
        "resolutions": [{k: v for k, v in resolution.items() if k != "organisation_id"}],
    }
    refused = client.post(f"{C}/{cid}/publish", json=unnamed, headers=worker)
    assert refused.status_code == 422 and "此项必填" in json.dumps(refused.json["errors"], ensure_ascii=False)
    assert snapshot(meetings) == before
    unexplained = client.post(f"{C}/{cid}/publish", json={"minutes": minutes, "resolutions": [resolution]},
                              headers=worker)  # fmt: skip
    assert unexplained.status_code == 422 and unexplained.json["field"] == "explanation"
    body = {"minutes": minutes, "resolutions": [resolution], "explanation": "夜间施工将在噪音评估后再次协商。"}
    outcome = client.post(f"{C}/{cid}/publish", json=body, headers=worker)
    assert outcome.status_code == 200 and outcome.json["status"] == "outcome_published"
    assert outcome.json["resolutions"][0]["deadline"] == "2030-06-30"
    assert outcome.json["resolutions"][0]["organisation_id"] == "dept-guichi-housing"
    assert outcome.json["resolutions"][0]["responsible_party"] == "贵池区住房和城乡建设局"
    assert outcome.json["recorded_afterwards"] is False
    clock.set(START + timedelta(days=1))
    assert client.post(f"{C}/{cid}/close", headers=worker).json["status"] == "closed"

    # What meetings told the others, in order, all for 烟柳园 and without names.
    events = [e for e in published(meetings) if e["payload"].get("consultation_id") == cid]
    assert [e["type"] for e in events] == [
        "meetings.consultation.announced",
        "meetings.consultation.scheduled",
        "meetings.consultation.started",
        "meetings.consultation.decided",
        "meetings.consultation.no_consensus",
        "meetings.consultation.held",
        "meetings.outcome.published",
    ]
    assert {e["division_code"] for e in events} == {YANLIUYUAN}
    by_type = {e["type"].rsplit(".", 1)[-1]: e["payload"] for e in events}
    assert sorted(by_type["announced"]["invitee_ids"]) == ["e-1", "o-1", "r-1", "r-2"]
    assert by_type["scheduled"]["proposal_ids"] == proposals
    assert by_type["started"]["attendees"] == 3
    assert by_type["decided"]["proposal_ids"] == [parking_proposal]
    assert by_type["no_consensus"]["proposal_ids"] == [works_proposal]
    held = by_type["held"]
    assert (held["decision"], held["attendees"], held["origins"]) == ("decided", 3, {"resident": 2})
    assert held["held_at"] == START.isoformat() and held["recorded_afterwards"] is False
    # r-1 (60+, retired), r-2 (45-59, employed), o-1 (30-44, employed, a social organisation)
    assert held["mix"] == {
        "declared_age": 3,
        "under_45": 1,
        "declared_occupation": 3,
        "not_retired": 2,
        "social_organisations": 1,
    }
    outcome_event = by_type["published"]
    assert outcome_event["decision"] == "decided" and outcome_event["method"] == "qualified_majority"
    assert outcome_event["resolutions"][0]["proposal_id"] == parking_proposal
    assert outcome_event["resolutions"][0]["organisation_id"] == "dept-guichi-housing"
    assert outcome_event["resolutions"][0]["responsible_party"] == "贵池区住房和城乡建设局"
    assert "resident-a" not in json.dumps(events) and "13800000000" not in json.dumps(events)

    # intake moves the adopted proposal to decided and returns the other for a further consultation.
    for event in events:
        if event["type"] in ("meetings.consultation.decided", "meetings.consultation.no_consensus"):
            intake_consumer.apply(event)
    statuses = [intake.get(f"/api/v1/intake/proposals/{p}", headers=worker).json["status"] for p in proposals]
    assert statuses == ["decided", "accepted"]

    # Every step is audited: who, when, why.
    with meetings.db.sessions() as session:
        history = repository.history(session, cid)
    assert [(h["from_status"], h["to_status"]) for h in history] == [
        (None, "draft"),
        ("draft", "announced"),
        ("announced", "in_session"),
        ("in_session", "decided"),
        ("decided", "outcome_published"),
        ("outcome_published", "closed"),
    ]
    assert {h["actor_id"] for h in history} == {"worker-1"}


def test_a_further_consultation_takes_up_the_topics_not_adopted(client, worker, accept, draft, clock):
    accept("p-1")
    accept("p-2", title="夜间施工时间")
    cid = _announced_with_topics(client, worker, draft, ["p-1", "p-2"])
    clock.set(START)
    client.post(f"{C}/{cid}/start", headers=worker)
    ended = client.post(f"{C}/{cid}/no-consensus", json={"reason": "分歧较大"}, headers=worker)
    assert ended.status_code == 200 and ended.json["status"] == "no_consensus"
    further = client.post(
        C,
        json={
            "division_code": YANLIUYUAN,
            "title": "停车与施工再协商",
            "form": "residents_forum",
            "mode": "online",
            "starts_at": (START + timedelta(days=30)).isoformat(),
            "online_link": "https://meet.example/again",
            "follows_id": cid,
        },
        headers=worker,
    )
    assert further.status_code == 201, further.json
    assert further.json["follows_id"] == cid
    assert [t["proposal_id"] for t in further.json["topics"]] == ["p-1", "p-2"]


# -- the other endings -------------------------------------------------------------------------------


def _announced_with_topics(client, worker, draft, proposal_ids, people=("r-1", "r-2"), **changes) -> str:
    cid = draft(**changes)["id"]
    for proposal_id in proposal_ids:
        assert client.post(f"{C}/{cid}/topics", json={"proposal_id": proposal_id}, headers=worker).status_code == 201
    if not proposal_ids:
        client.post(f"{C}/{cid}/topics", json={"title": "社区公共空间改造"}, headers=worker)
    for person_id in people:
        client.post(f"{C}/{cid}/participants", json={"person_id": person_id, "category": "stakeholder"},
                    headers=worker)  # fmt: skip
    assert client.post(f"{C}/{cid}/announce", headers=worker).status_code == 200
    return cid


def test_declaring_no_consensus_returns_every_topic_and_counts_as_held(client, worker, accept, draft, meetings, clock):
    accept("p-1")
    cid = _announced_with_topics(client, worker, draft, ["p-1"])
    assert client.post(f"{C}/{cid}/no-consensus", json={"reason": "x"}, headers=worker).status_code == 409
    clock.set(START + timedelta(minutes=5))
    client.post(f"{C}/{cid}/start", headers=worker)
    before = snapshot(meetings)
    assert client.post(f"{C}/{cid}/no-consensus", json={"reason": " "}, headers=worker).status_code == 422
    assert snapshot(meetings) == before
    ended = client.post(f"{C}/{cid}/no-consensus", json={"reason": "各方分歧较大,补充调研后再议"}, headers=worker)
    assert ended.json["decision"] == "no_consensus"
    types = [e["type"] for e in published(meetings)]
    assert types[-2:] == ["meetings.consultation.no_consensus", "meetings.consultation.held"]
    no_consensus, held = (e["payload"] for e in published(meetings)[-2:])
    assert no_consensus["proposal_ids"] == ["p-1"]
    assert held["decision"] == "no_consensus" and held["attendees"] == 0
    assert held["held_at"] == (START + timedelta(minutes=5)).isoformat()
    needs_reason = client.post(f"{C}/{cid}/publish", json={"minutes": "未达成共识"}, headers=worker)
    assert needs_reason.status_code == 422 and needs_reason.json["field"] == "explanation"
    outcome = client.post(f"{C}/{cid}/publish", json={"minutes": "未达成共识", "explanation": "下月再议"},
                          headers=worker)  # fmt: skip
    assert outcome.status_code == 200
    last = published(meetings)[-1]
    assert last["type"] == "meetings.outcome.published" and last["payload"]["decision"] == "no_consensus"
    assert last["payload"]["resolutions"] == [] and last["payload"]["explanation"] == "下月再议"


def test_deciding_needs_the_quorum(client, worker, auth, draft, meetings, clock):
    cid = _announced_with_topics(client, worker, draft, [], people=("r-1", "r-2", "r-3"))
    clock.set(START)
    client.post(f"{C}/{cid}/join", headers=person(auth, "r-1"))
    client.post(f"{C}/{cid}/start", headers=worker)
    before = snapshot(meetings)
    refused = client.post(f"{C}/{cid}/decide", headers=worker)
    assert refused.status_code == 409 and (refused.json["invited"], refused.json["attendees"]) == (3, 1)
    assert "法定人数" in refused.json["detail"]
    assert snapshot(meetings) == before


def test_postponing_and_cancelling_tell_everyone_invited(client, worker, accept, draft, meetings, clock):
    accept("p-1")
    cid = _announced_with_topics(client, worker, draft, ["p-1"])
    clock.set(T0 + timedelta(days=1))
    too_soon = client.post(
        f"{C}/{cid}/postpone",
        json={"starts_at": (START + timedelta(days=1)).isoformat(), "reason": "场地维修"},
        headers=worker,
    )
    assert too_soon.status_code == 200  # 8 days ahead: the notice period is met again
    later = START + timedelta(days=1)
    moved = too_soon.json
    assert moved["starts_at"] == later.isoformat() and moved["status"] == "announced"
    earlier = client.post(
        f"{C}/{cid}/postpone", json={"starts_at": START.isoformat(), "reason": "改回"}, headers=worker
    )
    assert earlier.status_code == 422
    postponed = published(meetings)[-1]
    assert postponed["type"] == "meetings.consultation.postponed"
    assert postponed["payload"]["previous_starts_at"] == START.isoformat()
    assert postponed["payload"]["reason"] == "场地维修" and postponed["payload"]["invitee_ids"] == ["r-1", "r-2"]
    assert client.post(f"{C}/{cid}/cancel", json={"reason": ""}, headers=worker).status_code == 422
    cancelled = client.post(f"{C}/{cid}/cancel", json={"reason": "疫情防控要求暂停聚集"}, headers=worker)
    assert cancelled.json["status"] == "cancelled" and cancelled.json["cancel_reason"] == "疫情防控要求暂停聚集"
    event = published(meetings)[-1]
    assert event["type"] == "meetings.consultation.cancelled"
    assert event["payload"]["proposal_ids"] == ["p-1"] and event["payload"]["reason"] == "疫情防控要求暂停聚集"
    assert client.post(f"{C}/{cid}/start", headers=worker).status_code == 409


def test_relocating_tells_everyone_invited_where_it_now_meets(client, worker, accept, draft, meetings):
    accept("p-1")
    cid = _announced_with_topics(client, worker, draft, ["p-1"])
    moved = client.post(f"{C}/{cid}/relocate", json={"venue": "烟柳园小学礼堂", "reason": "议事厅维修"}, headers=worker)
    assert moved.status_code == 200 and moved.json["venue"] == "烟柳园小学礼堂", moved.json
    event = published(meetings)[-1]
    assert event["type"] == "meetings.consultation.relocated" and event["payload"]["reason"] == "议事厅维修"
    assert event["payload"]["venue"] == "烟柳园小学礼堂" and event["payload"]["invitee_ids"] == ["r-1", "r-2"]
    unchanged = client.post(f"{C}/{cid}/relocate", json={"venue": "烟柳园小学礼堂", "reason": "再改"}, headers=worker)
    assert unchanged.status_code == 422 and published(meetings)[-1]["id"] == event["id"]


def test_only_a_known_person_of_the_area_is_invited_and_a_refusal_names_them(client, worker, draft, meetings):
    cid = draft()["id"]
    before = snapshot(meetings)
    for person_id, category in [("nobody-at-all", "expert"), ("expert-9", "resident_representative")]:
        invitation = {"person_id": person_id, "category": category}
        refused = client.post(f"{C}/{cid}/participants", json=invitation, headers=worker)
        assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
        assert refused.json["field"] == "person_id" and f"参会人 {person_id} " in refused.json["detail"]
    assert snapshot(meetings) == before
    invitation = {"person_id": "expert-9", "category": "expert"}  # from another street, for what they know
    assert client.post(f"{C}/{cid}/participants", json=invitation, headers=worker).status_code == 201


def test_someone_invited_after_the_announcement_is_sent_an_invitation(client, worker, accept, draft, meetings):
    accept("p-1")
    cid = _announced_with_topics(client, worker, draft, ["p-1"])
    invited = client.post(f"{C}/{cid}/participants", json={"person_id": "r-late", "category": "expert"}, headers=worker)
    assert invited.status_code == 201
    event = published(meetings)[-1]
    assert event["type"] == "meetings.consultation.invited" and event["payload"]["invitee_ids"] == ["r-late"]
    assert event["payload"]["starts_at"] == START.isoformat()


# -- topics ------------------------------------------------------------------------------------------


def test_topics_from_residents_must_be_accepted_proposals_of_the_division(
    client, auth, worker, accept, draft, meetings
):
    accept("p-here")
    accept("p-xijie", community=XIJIE)
    accept("p-official", origin="top_down", title="老旧小区改造")
    cid = draft()["id"]
    before = snapshot(meetings)
    for proposal_id in ("p-unknown", "p-xijie"):
        refused = client.post(f"{C}/{cid}/topics", json={"proposal_id": proposal_id}, headers=worker)
        assert refused.status_code == 422 and refused.json["field"] == "proposal_id"
        assert "已列为议题的建议" in refused.json["detail"]
    assert (
        client.post(f"{C}/{cid}/topics", json={"origin": "resident", "title": "x"}, headers=worker).status_code == 422
    )
    assert snapshot(meetings) == before
    official = client.post(f"{C}/{cid}/topics", json={"proposal_id": "p-official"}, headers=worker).json
    assert official["topics"][0]["origin"] == "top_down" and official["topics"][0]["title"] == "老旧小区改造"
    # A street's consultation takes up the proposals of all its communities.
    street = auth("street_admin", CHIYANG, subject="street-1")
    street_cid = draft(headers=street, division_code=CHIYANG)["id"]
    for proposal_id in ("p-here", "p-xijie"):
        assert client.post(f"{C}/{street_cid}/topics", json={"proposal_id": proposal_id},
                           headers=street).status_code == 201  # fmt: skip
    # The replica is an upsert: the same acceptance told twice is one row.
    accept("p-here", title="新标题")
    with meetings.db.sessions() as session:
        rows = session.execute(select(accepted_proposals.c.proposal_id, accepted_proposals.c.title)).all()
    assert sorted(rows) == [("p-here", "新标题"), ("p-official", "老旧小区改造"), ("p-xijie", "空地改建停车场")]


def test_details_are_checked_with_chinese_messages(client, worker, draft, meetings):
    bad = client.post(C, json={"division_code": "34", "title": "", "form": "party", "mode": "x"}, headers=worker)
    assert bad.status_code == 422
    errors = json.dumps(bad.json["errors"], ensure_ascii=False)
    assert "协商范围" in errors and "未知的协商形式" in errors and "此项必填" in errors
    for changes in (
        {"mode": "offline", "venue": None},  # offline needs a venue
        {"starts_at": (T0 - timedelta(days=1)).isoformat()},  # in the past
        {"rule": {"method": "qualified_majority", "threshold": "1/3"}},  # not a majority
        {"rule": {"method": "consensus", "quorum": "abc"}},
        {"division_code": "341702001999"},  # no such community
    ):
        body = {
            "division_code": YANLIUYUAN,
            "title": "t",
            "form": "community_council",
            "mode": "hybrid",
            "starts_at": START.isoformat(),
            "venue": "议事厅",
            "online_link": "https://meet.example/x",
            **changes,
        }
        assert client.post(C, json=body, headers=worker).status_code == 422, changes
    assert snapshot(meetings)["consultation"] == []


# -- who sees and does what --------------------------------------------------------------------------


def test_organisers_of_another_area_are_refused_and_nothing_is_written(client, auth, worker, draft, meetings):
    cid = _announced_with_topics(client, worker, draft, [])
    before = snapshot(meetings)
    for headers in (
        auth("community_worker", XIJIE),
        auth("community_worker", QIUPU_COMMUNITY),
        auth("street_admin", "341702002"),
        auth("district_admin", "341721"),
    ):
        assert client.get(f"{C}/{cid}", headers=headers).status_code == 404
        for step, body in [
            ("start", None),
            ("cancel", {"reason": "x"}),
            ("postpone", {"reason": "x", "starts_at": (START + timedelta(days=1)).isoformat()}),
            ("topics", {"title": "议题"}),
        ]:
            assert client.post(f"{C}/{cid}/{step}", json=body, headers=headers).status_code == 404
        assert client.get(f"{C}/{cid}/attendance-code", headers=headers).status_code == 404
    # Roles that do not organise are refused whatever their scope.
    for role in ("resident", "department", "supervisor", "city_operator", "system"):
        headers = auth(role, {"resident": YANLIUYUAN, "city_operator": "3417"}.get(role, "341702"))
        assert client.post(f"{C}/{cid}/cancel", json={"reason": "x"}, headers=headers).status_code == 403
        assert client.get(f"{C}/{cid}/participants", headers=headers).status_code == 403
    # The street's admin and the district's organise it too.
    assert client.get(f"{C}/{cid}/participants", headers=auth("street_admin", CHIYANG)).status_code == 200
    assert client.get(f"{C}/{cid}/checklist", headers=auth("district_admin", "341702")).status_code == 200
    assert snapshot(meetings) == before


def test_a_streets_consultation_reaches_its_communities_but_only_the_street_organises_it(client, auth, draft):
    street = auth("street_admin", CHIYANG)
    cid = draft(headers=street, division_code=CHIYANG)["id"]
    assert client.get(f"{C}/{cid}", headers=street).json["division_code"] == "341702001000"
    community_worker = auth("community_worker", XIJIE)
    assert client.get(f"{C}/{cid}", headers=community_worker).status_code == 404  # a draft is not public
    client.post(f"{C}/{cid}/topics", json={"title": "池阳街道停车规划"}, headers=street)
    client.post(f"{C}/{cid}/participants", json={"person_id": "d-1", "category": "department"}, headers=street)
    assert client.post(f"{C}/{cid}/announce", headers=street).status_code == 200
    assert client.get(f"{C}/{cid}", headers=community_worker).json["level"] == "street"
    refused = client.post(f"{C}/{cid}/cancel", json={"reason": "x"}, headers=community_worker)
    assert refused.status_code == 403 and "管辖范围" in refused.json["detail"]
    assert client.get(f"{C}/{cid}/participants", headers=community_worker).status_code == 403
    assert client.get(f"{C}/{cid}", headers=auth("resident", XIJIE)).status_code == 200
    assert client.get(f"{C}/{cid}", headers=auth("resident", QIUPU_COMMUNITY)).status_code == 404


def test_listing_follows_scope_filters_and_pages(client, auth, worker, draft):
    ids = [draft(starts_at=(START + timedelta(days=n)).isoformat())["id"] for n in range(3)]
    xijie = draft(headers=auth("community_worker", XIJIE), division_code=XIJIE)["id"]
    _announced_with_topics(client, worker, draft, [])
    street = auth("street_admin", CHIYANG)
    page1 = client.get(f"{C}?limit=2&sort=starts_at", headers=street).json
    page2 = client.get(f"{C}?limit=2&sort=starts_at&cursor={page1['next_cursor']}", headers=street).json
    page3 = client.get(f"{C}?limit=2&sort=starts_at&cursor={page2['next_cursor']}", headers=street).json
    seen = [c["id"] for c in page1["items"] + page2["items"] + page3["items"]]
    assert len(seen) == 5 == len(set(seen)) and page3["next_cursor"] is None
    assert {c["id"] for c in client.get(f"{C}?division={XIJIE}", headers=street).json["items"]} == {xijie}
    assert [c["id"] for c in client.get(C, headers=worker).json["items"]].count(xijie) == 0
    # Residents see announced consultations only.
    resident_sees = client.get(C, headers=auth("resident", YANLIUYUAN)).json["items"]
    assert [c["status"] for c in resident_sees] == ["announced"]
    assert not set(ids) & {c["id"] for c in resident_sees}
    assert client.get(f"{C}/{ids[0]}", headers=auth("resident", YANLIUYUAN)).status_code == 404
    announced = client.get(f"{C}?status=announced", headers=street).json["items"]
    assert len(announced) == 1
    window = client.get(
        C,
        query_string={
            "since": (START + timedelta(days=1)).isoformat(),
            "until": (START + timedelta(days=2)).isoformat(),
        },
        headers=street,
    ).json["items"]
    assert [c["id"] for c in window] == [ids[1]]
    assert client.get(f"{C}?cursor=garbage", headers=street).status_code == 400
    assert client.get(C, headers=auth("city_operator", "3401")).json["items"] == []


def test_the_worker_ticks_in_an_invited_person_without_a_phone(client, auth, worker, draft, meetings, clock):
    cid = _announced_with_topics(client, worker, draft, [], people=("r-1", "r-2"))
    tick = f"{C}/{cid}/attendance"
    early = client.post(tick, json={"person_id": "r-1"}, headers=worker)
    assert early.status_code == 409 and early.mimetype == "application/problem+json"
    clock.set(START - timedelta(minutes=20))
    ticked = client.post(tick, json={"person_id": "r-1"}, headers=worker)
    assert ticked.status_code == 200, ticked.json
    assert {k: ticked.json[k] for k in ("person_id", "attended", "checked_in_by")} == {
        "person_id": "r-1", "attended": True, "checked_in_by": "worker-1"
    }  # fmt: skip
    before = snapshot(meetings)
    again = client.post(tick, json={"person_id": "r-1"}, headers=auth("street_admin", CHIYANG))
    assert again.json == ticked.json and snapshot(meetings) == before  # twice counts once

    for headers, body, status in [
        (worker, {"person_id": "r-3"}, 422),  # in the directory, not invited
        (worker, {}, 422),
        (worker, {"person_id": "r-2", "code": "123456"}, 422),  # a tick takes no code
        (auth("community_worker", XIJIE), {"person_id": "r-2"}, 404),
        (auth("district_admin", "341721"), {"person_id": "r-2"}, 404),
        (person(auth, "r-2"), {"person_id": "r-2"}, 403),  # nobody ticks themselves in
        (auth("supervisor", "341702"), {"person_id": "r-2"}, 403),
    ]:
        refused = client.post(tick, json=body, headers=headers)
        assert refused.status_code == status and refused.mimetype == "application/problem+json", (headers, body)
    assert client.post(tick, json={"person_id": "r-3"}, headers=worker).json["field"] == "person_id"
    assert snapshot(meetings) == before

    listed = {p["person_id"]: p["checked_in_by"] for p in client.get(f"{C}/{cid}/participants", headers=worker).json}
    assert listed == {"r-1": "worker-1", "r-2": None}
    clock.set(START)
    assert client.post(f"{C}/{cid}/start", headers=worker).status_code == 200
    (started,) = (e["payload"] for e in published(meetings) if e["type"] == "meetings.consultation.started")
    assert started["attendees"] == 1
    spec = client.get(f"{M}/openapi.json").json
    operation = spec["paths"]["/api/v1/meetings/consultations/{consultation_id}/attendance"]["post"]
    assert {"200", "422"} <= set(operation["responses"]) and "requestBody" in operation


def test_an_invited_outsider_sees_and_takes_part(client, auth, worker, draft, clock):
    cid = _announced_with_topics(client, worker, draft, [], people=("expert-9",))
    expert = auth("resident", QIUPU_COMMUNITY, subject="expert-9")  # lives elsewhere
    assert client.get(f"{C}/{cid}", headers=expert).status_code == 200
    assert cid in [c["id"] for c in client.get(C, headers=expert).json["items"]]
    assert client.post(f"{C}/{cid}/rsvp", json={"answer": "accepted"}, headers=expert).status_code == 200
    department = auth("department", "341702", subject="dept-housing")
    assert client.post(f"{C}/{cid}/rsvp", json={"answer": "accepted"}, headers=department).status_code == 403


def test_online_and_offline_ways_in(client, auth, worker, draft, clock):
    offline = _announced_with_topics(client, worker, draft, [], mode="offline", online_link=None)
    online = _announced_with_topics(client, worker, draft, [], mode="online", venue=None, form="online")
    clock.set(START - timedelta(minutes=20))
    assert client.post(f"{C}/{offline}/join", headers=person(auth, "r-1")).status_code == 409
    refused = client.post(f"{C}/{online}/sign-in", json={"code": "123456"}, headers=person(auth, "r-1"))
    assert refused.status_code == 409
    assert client.get(f"{C}/{online}/attendance-code", headers=worker).status_code == 409
    assert client.post(f"{C}/{online}/join", headers=person(auth, "r-1")).json["attended"] is True


# -- the calendar feed -------------------------------------------------------------------------------


def test_the_calendar_feed_of_a_community(client, auth, worker, draft, clock):
    upcoming = _announced_with_topics(client, worker, draft, [], title="杏花家园停车难协商;第一次,议事")
    draft(title="还在准备的协商")  # a draft is not in the feed
    street = auth("street_admin", CHIYANG)
    street_cid = _announced_with_topics(
        client, street, lambda **c: draft(headers=street, division_code=CHIYANG, **c), [], title="池阳街道议事会"
    )
    cancelled = _announced_with_topics(client, worker, draft, [], title="取消的协商")
    client.post(f"{C}/{cancelled}/cancel", json={"reason": "场地不可用"}, headers=worker)
    xijie_worker = auth("community_worker", XIJIE)
    xijie = _announced_with_topics(
        client, xijie_worker, lambda **c: draft(headers=xijie_worker, division_code=XIJIE, **c), [], title="西街"
    )

    response = client.get(f"{M}/communities/{YANLIUYUAN}/calendar.ics")  # no token: public
    assert response.status_code == 200 and response.content_type == "text/calendar; charset=utf-8"
    raw = response.get_data()
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))
    text = raw.decode("utf-8").replace("\r\n ", "")  # unfolded
    lines = text.split("\r\n")
    assert lines[:5] == ["BEGIN:VCALENDAR", f"PRODID:{calendar.PRODID}", "VERSION:2.0", "CALSCALE:GREGORIAN",
                         "METHOD:PUBLISH"]  # fmt: skip
    assert "X-WR-CALNAME:烟柳园社区协商日程" in lines
    assert lines.count("BEGIN:VEVENT") == 3
    assert f"UID:consultation-{upcoming}@xieshang" in lines and f"UID:consultation-{street_cid}@xieshang" in lines
    assert f"consultation-{xijie}" not in text
    assert "还在准备" not in text
    assert "SUMMARY:杏花家园停车难协商\\;第一次\\,议事" in lines
    assert f"DTSTART:{START.strftime('%Y%m%dT%H%M%SZ')}" in lines
    assert f"DTEND:{(START + calendar.DEFAULT_DURATION).strftime('%Y%m%dT%H%M%SZ')}" in lines
    assert "LOCATION:烟柳园社区议事厅" in lines and "URL:https://meet.example/yanliuyuan" in lines
    assert f"DESCRIPTION:协商形式:{FORMS['community_council']}\\n协商方式:线上线下结合" in text
    assert "SUMMARY:[已取消] 取消的协商" in lines and "STATUS:CANCELLED" in lines
    assert lines.count("STATUS:CONFIRMED") == 2
    # Thirty days after its cancellation it leaves the feed.
    clock.set(T0 + timedelta(days=31))
    assert "取消的协商" not in client.get(f"{M}/communities/{YANLIUYUAN}/calendar.ics").get_data(as_text=True)
    assert client.get(f"{M}/communities/{XIJIE}/calendar.ics").get_data(as_text=True).count("BEGIN:VEVENT") == 2
    for unknown in ("341702001999", "341702001000", "abc"):
        assert client.get(f"{M}/communities/{unknown}/calendar.ics").status_code == 404


def test_the_calendar_feed_shows_titles_places_and_topics_without_the_numbers_typed_into_them():
    announced = Consultation(
        id="c-1", division_code=YANLIUYUAN, title="请联系13812345678张三", form="community_council", mode="hybrid",
        organiser_id="w-1", starts_at=START, rule=DecisionRule(), status="announced", created_at=T0, updated_at=T0,
        venue="3号楼(联系人0566-2123456)", online_link="https://meet.example/room?tel=13812345678",
        topics=(Topic("t-1", "加装电梯,联系 138 1234 5678", "top_down"),),
    )  # fmt: skip
    cancelled = replace(announced, id="c-2", status="cancelled", cancel_reason="改期另行通知,咨询zhangsan@example.com")
    text = calendar.community_calendar("烟柳园社区", [announced, cancelled]).replace("\r\n ", "")
    lines = text.split("\r\n")
    assert "SUMMARY:请联系[已隐去]张三" in lines and "SUMMARY:[已取消] 请联系[已隐去]张三" in lines
    assert "LOCATION:3号楼(联系人[已隐去])" in lines
    assert "\\n线上参会:https://meet.example/room?tel=[已隐去]\\n议题:\\n1. 加装电梯\\,联系 [已隐去]" in text
    assert "DESCRIPTION:已取消:改期另行通知\\,咨询[已隐去]\\n" in text
    assert not [line for line in lines if line.startswith("URL:")]  # a link that needed hiding is no URL
    assert "5678" not in text and "zhangsan" not in text


def test_ical_text_is_escaped_and_folded_by_octets_not_characters():
    assert calendar.escape_text("a,b;c\\d\ne\r\nf") == "a\\,b\\;c\\\\d\\ne\\nf"
    line = "DESCRIPTION:" + "协商" * 40  # 12 + 240 octets
    folded = calendar.fold(line)
    parts = folded.split("\r\n")
    assert all(len(part.encode()) <= 75 for part in parts)
    assert all(part.startswith(" ") for part in parts[1:])
    assert "".join(part[1:] if n else part for n, part in enumerate(parts)) == line
    assert len(parts[0].encode()) == 75  # 12 ASCII octets + 21 characters of 3 octets
    assert calendar.fold("SUMMARY:short") == "SUMMARY:short"
    ascii_line = "X" * 150
    assert [len(p) for p in calendar.fold(ascii_line).split("\r\n")] == [75, 75, 2]


# -- settings ----------------------------------------------------------------------------------------


@pytest.fixture
def longer_notice(env):
    env.update({"XIESHANG_NOTICE_DAYS": "10", "XIESHANG_HEARING_NOTICE_DAYS": "14"})
    return env


def test_notice_periods_come_from_the_settings(longer_notice, client, worker, draft):
    cid = _ready(client, worker, draft())
    assert client.get(f"{C}/{cid}/checklist", headers=worker).json["notice_days"] == 10
    refused = client.post(f"{C}/{cid}/announce", headers=worker)
    assert refused.status_code == 422 and refused.json["notice_days"] == 10
    hearing = _ready(client, worker, draft(form="hearing", starts_at=(T0 + timedelta(days=12)).isoformat()))
    assert client.get(f"{C}/{hearing}/checklist", headers=worker).json["notice_days"] == 14


def _ready(client, worker, consultation) -> str:
    cid = consultation["id"]
    client.post(f"{C}/{cid}/topics", json={"title": "议题"}, headers=worker)
    client.post(f"{C}/{cid}/participants", json={"person_id": "r-1", "category": "expert"}, headers=worker)
    return cid


# -- recorded afterwards (补录) -------------------------------------------------------------------------

HELD = T0 - timedelta(days=3)


RESOLUTION = {
    "topic_index": 0,
    "organisation_id": "dept-guichi-housing",
    "deadline": "2030-06-30",
    "agreed": "建设停车场",
}


def recorded_body(**changes) -> dict:
    return {
        "division_code": YANLIUYUAN,
        "title": "杏花家园停车难议事会",
        "form": "community_council",
        "mode": "offline",
        "held_at": HELD.isoformat(),
        "venue": "烟柳园社区议事厅",
        "topics": [{"proposal_id": "p-1"}, {"title": "夜间施工时间", "adopted": False}],
        "attendance": {"resident_representative": 12, "party_member": 5, "social_organisation": 2},
        "decision": "decided",
        "resolutions": [RESOLUTION],
        "minutes_url": "https://docs.example/minutes.pdf",
        **changes,
    }


def test_a_consultation_held_offline_is_recorded_afterwards(
    client, auth, worker, accept, meetings, platform, with_organisations
):
    intake = platform.runtime("intake").create_api().test_client()
    submitted = intake.post(
        "/api/v1/intake/proposals",
        json={
            "community_code": YANLIUYUAN,
            "title": "空地改建停车场",
            "description": "居民反映",
            "category": "management",
        },
        headers=person(auth, "resident-77"),
    ).json
    assert intake.post(f"/api/v1/intake/proposals/{submitted['id']}/accept", headers=worker).status_code == 200
    for event in published(platform.runtime("intake")):
        if event["type"] == "intake.proposal.accepted":
            meetings.consumer().apply(event)
    body = recorded_body(topics=[{"proposal_id": submitted["id"]}, {"title": "夜间施工时间", "adopted": False}])
    answer = client.post(f"{C}/recorded", json=body, headers=worker)
    assert answer.status_code == 201, answer.json
    consultation = answer.json
    assert consultation["recorded_afterwards"] is True and consultation["status"] == "outcome_published"
    assert consultation["starts_at"] == HELD.isoformat() and consultation["decision"] == "decided"
    assert consultation["minutes_url"] == "https://docs.example/minutes.pdf"
    assert consultation["attendance"] == {"party_member": 5, "resident_representative": 12, "social_organisation": 2}
    assert [r["responsible_party"] for r in consultation["resolutions"]] == ["贵池区住房和城乡建设局"]
    cid = consultation["id"]
    assert client.get(f"{C}/{cid}", headers=auth("resident", YANLIUYUAN)).json["recorded_afterwards"] is True
    assert client.get(f"{C}/{cid}/quality", headers=worker).json["attendees"] == 19
    events = [e for e in published(meetings) if e["payload"].get("consultation_id") == cid]
    assert [e["type"] for e in events] == [
        "meetings.consultation.scheduled",
        "meetings.consultation.decided",
        "meetings.consultation.no_consensus",
        "meetings.consultation.held",
        "meetings.outcome.published",
    ]
    held = events[3]["payload"]
    assert held["recorded_afterwards"] is True and held["mix"]["social_organisations"] == 2
    # intake moves the proposal along as for a live consultation: scheduled, then decided.
    intake_consumer = platform.runtime("intake").consumer()
    for event in events:
        if event["type"] in ("meetings.consultation.scheduled", "meetings.consultation.decided"):
            assert intake_consumer.apply(event) == "processed"
    proposal = intake.get(f"/api/v1/intake/proposals/{submitted['id']}", headers=worker).json
    assert proposal["status"] == "decided"
    with meetings.db.sessions() as session:
        history = repository.history(session, cid)
    assert [(h["to_status"], h["reason"], h["actor_id"]) for h in history] == [
        ("decided", "补录", "worker-1"),
        ("outcome_published", "补录", "worker-1"),
    ]
    again = client.post(f"{C}/recorded", json=body, headers=worker)
    assert again.status_code == 409 and again.json["consultation_id"] == cid


def test_a_record_is_checked_with_chinese_messages_and_nothing_is_written(
    client, auth, worker, accept, meetings, with_organisations
):
    accept("p-1")
    before = snapshot(meetings)
    for changes, status, where in [
        ({"held_at": (T0 + timedelta(hours=1)).isoformat()}, 422, "held_at"),  # not held yet
        ({"held_at": "2024-05-01T19:00:00+08:00"}, 422, "held_at"),  # more than five years ago
        ({"held_at": "2030-05-01 19:00"}, 422, "errors"),  # no zone
        ({"attendance": {"neighbours": 3}}, 422, "errors"),
        ({"attendance": {"party_member": 0}}, 422, "attendance"),
        ({"minutes_url": "javascript:alert(1)"}, 422, "minutes_url"),
        ({"resolutions": []}, 422, "resolutions"),
        ({"resolutions": [{**RESOLUTION, "topic_index": "0"}]}, 422, "errors"),  # an index, not text
        ({"resolutions": [{**RESOLUTION, "topic_index": 2}]}, 422, "resolutions"),  # no third topic
        ({"resolutions": [{**RESOLUTION, "organisation_id": "org-xijie"}]}, 422, "resolutions"),
        ({"decision": "no_consensus", "resolutions": []}, 422, "explanation"),
        ({"topics": []}, 422, "errors"),
    ]:  # fmt: skip
        refused = client.post(f"{C}/recorded", json=recorded_body(**changes), headers=worker)
        assert refused.status_code == status, (changes, refused.json)
        assert refused.content_type == "application/problem+json"
        if where == "errors":
            assert re.search(r"[\u4e00-\u9fff]", json.dumps(refused.json["errors"], ensure_ascii=False)), changes
        else:
            assert refused.json["field"] == where and re.search(r"[\u4e00-\u9fff]", refused.json["detail"]), changes
    outsider = client.post(f"{C}/recorded", json=recorded_body(), headers=auth("community_worker", XIJIE))
    assert outsider.status_code == 403 and outsider.json["detail"] == "该社区或街道不在您的管辖范围内"
    assert client.post(f"{C}/recorded", json=recorded_body(), headers=person(auth, "r-1")).status_code == 403
    assert snapshot(meetings) == before


RECORDED_CSV = "division_code,title,form,mode,held_at,venue,topics,attendees,decision,minutes_url\n"


def test_consultations_are_recorded_from_a_csv_row_by_row(client, auth, worker, meetings):
    text = RECORDED_CSV + "\n".join(
        [
            f"{YANLIUYUAN},楼道堆物清理议事会,楼栋/门栋议事,offline,2030-04-20 19:00,3号楼,楼道堆物;电动车充电,党员:3;居民代表:9,decided,https://docs.example/a.pdf",
            f"{YANLIUYUAN},坏行,x,offline,昨天,议事厅,,abc,decided,https://docs.example/b.pdf",
            f"{XIJIE},西街议事会,community_council,offline,2030-04-21 19:00,西街议事厅,路灯,12,decided,https://docs.example/c.pdf",
        ]
    )  # fmt: skip
    answer = client.post(f"{C}/recorded/import", data=text.encode(), content_type="text/csv", headers=worker)
    assert answer.status_code == 200, answer.json
    report = answer.json
    assert report["recorded"] == 1 and [(r["line"], r["ok"]) for r in report["rows"]] == [
        (2, True),
        (3, False),
        (4, False),
    ]
    assert report["rows"][0]["errors"] == [] and report["rows"][0]["consultation_id"]
    errors = " ".join(report["rows"][1]["errors"])
    assert (
        "协商形式:未知的协商形式" in errors
        and "举行时间:" in errors
        and "参会人数:" in errors
        and "议题:此项必填" in errors
    )
    assert report["rows"][2]["errors"] == ["该社区或街道不在您的管辖范围内"]
    stairs = client.get(f"{C}/{report['rows'][0]['consultation_id']}", headers=worker).json
    assert stairs["form"] == "building" and stairs["starts_at"] == "2030-04-20T11:00:00+00:00"
    assert stairs["recorded_afterwards"] is True and stairs["resolutions"] == []
    assert [e["type"] for e in published(meetings)][-1] == "meetings.outcome.published"
    # The same file as a multipart upload and as JSON: the row recorded already is reported, not kept twice.
    before = snapshot(meetings)
    upload = {"file": (io.BytesIO(text.encode("utf-8-sig")), "补录.csv")}
    again = client.post(f"{C}/recorded/import", data=upload, content_type="multipart/form-data", headers=worker)
    assert again.status_code == 422 and again.json["detail"] == "没有可补录的行"
    assert "已经补录" in again.json["rows"][0]["errors"][0]
    assert client.post(f"{C}/recorded/import", json={"csv": text}, headers=worker).status_code == 422
    assert snapshot(meetings) == before
    # Refused before any row is read, or when every row is outside the caller's scope.
    for data, content_type, status in [
        (text, "application/xml", 415),
        ("title,when\nx,y\n", "text/csv", 422),  # not the header
        (RECORDED_CSV, "text/csv", 422),  # no row
        (b"\xff\xfe", "text/csv", 422),
    ]:
        assert (
            client.post(f"{C}/recorded/import", data=data, content_type=content_type, headers=worker).status_code
            == status
        )
    readable = "\n".join(line for n, line in enumerate(text.splitlines()) if n != 2)  # each row outside 秋浦
    qiupu = auth("community_worker", QIUPU_COMMUNITY)
    outside = client.post(f"{C}/recorded/import", data=readable, content_type="text/csv", headers=qiupu)
    assert outside.status_code == 403 and outside.json["detail"] == "CSV中的社区或街道均不在您的管辖范围内"
    resident = person(auth, "r-1")
    assert client.post(f"{C}/recorded/import", data=text, content_type="text/csv", headers=resident).status_code == 403
    assert snapshot(meetings) == before
