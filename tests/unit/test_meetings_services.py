"""Meetings' use cases without HTTP: who sees a consultation (and that lists agree), topics taken
from accepted proposals only, opinions replying to opinions that exist, the procedure from the draft
to its close with the events it tells, and refusals that write and emit nothing. Time is the
``clock`` fixture's; the notice periods are passed in as the adapter passes its settings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from services.meetings import handlers, repository, services
from shared.events import new_event
from shared.principal import Principal
from shared.problems import Conflict, Forbidden, Invalid, NotFound
from tests.unit.test_meetings_domain import (
    CHIYANG,
    DISTRICT_ADMIN,
    MATERIALS,
    OTHER_WORKER,
    PEOPLE,
    QIUPU,
    RESIDENT,
    STREET_ADMIN,
    WORKER,
    XIJIE,
    YANLIUYUAN,
    person,
)

NOTICE = {"notice_days": 3, "hearing_notice_days": 7}  # the settings' defaults
WEEK = timedelta(days=7)


@pytest.fixture
def meetings(memory_service):
    return memory_service("meetings")


@pytest.fixture
def run(meetings):
    """``run(use_case, *args, **kwargs)``: one use case in its own unit of work."""

    def call(use_case, *args, **kwargs):
        with meetings.unit_of_work() as uow:
            return use_case(uow, *args, **kwargs)

    return call


def snapshot(meetings) -> dict:
    """Every row of meetings' tables, its outbox included (the registry replica aside)."""
    with meetings.db.sessions() as session:
        return {
            name: sorted(map(repr, session.execute(select(table)).all()))
            for name, table in meetings.spec.metadata.tables.items()
            if name != "division"
        }


@pytest.fixture
def refused(meetings, run):
    """``refused(Problem, use_case, *args, **kwargs)``: the use case raises ``Problem`` and leaves
    every table as it was, nothing emitted. Returns the problem."""

    def check(problem, use_case, *args, **kwargs):
        before, emitted = snapshot(meetings), len(meetings.events)
        with pytest.raises(problem) as refusal:
            run(use_case, *args, **kwargs)
        assert snapshot(meetings) == before and len(meetings.events) == emitted
        return refusal.value

    return check


@pytest.fixture
def accept(meetings):
    """Tell meetings, through its handler, that intake accepted a proposal as a topic."""

    def tell(proposal_id: str, community: str = YANLIUYUAN, title: str = "空地改建停车场") -> None:
        payload = {
            "proposal_id": proposal_id,
            "community_code": community,
            "submitter_id": "resident-77",
            "title": title,
            "actor_id": "worker-1",
            "category": "management",
            "origin": "resident",
        }
        event = new_event("intake.proposal.accepted", payload, producer="intake", division_code=community)
        with meetings.unit_of_work() as uow:
            handlers.HANDLERS[event.type](uow, event)

    return tell


@pytest.fixture
def draft(run, clock):
    """A draft consultation starting in a week (offline, with its materials); returns its id."""

    def make(principal=WORKER, division_code=YANLIUYUAN, **changes) -> str:
        details = {
            "title": "杏花家园停车难协商",
            "form": "community_council",
            "mode": "offline",
            "starts_at": clock.now() + WEEK,
            "venue": "烟柳园社区议事厅",
            "materials": MATERIALS,
            **changes,
        }
        return run(services.create_consultation, principal, division_code=division_code, now=clock.now(), **details).id

    return make


@pytest.fixture
def prepared(run, clock, draft):
    """A draft ready to announce: a topic of its own and ``people`` invited."""

    def make(principal=WORKER, division_code=YANLIUYUAN, people=PEOPLE) -> str:
        cid = draft(principal, division_code)
        run(services.add_topic, principal, cid, title="夜间施工时间", now=clock.now())
        for person_id, category in people:
            run(services.invite, principal, cid, person_id=person_id, category=category, now=clock.now())
        return cid

    return make


@pytest.fixture
def announced(run, clock, prepared):
    def make(principal=WORKER, division_code=YANLIUYUAN, people=PEOPLE) -> str:
        cid = prepared(principal, division_code, people)
        run(services.announce, principal, cid, now=clock.now(), **NOTICE)
        return cid

    return make


@pytest.fixture
def sees(run):
    """Whether ``principal`` sees the consultation: loading it, and listing, which must agree."""

    def check(principal: Principal, cid: str) -> bool:
        try:
            run(services.get_consultation, principal, cid)
            loaded = True
        except NotFound:
            loaded = False
        items, _ = run(services.list_consultations, principal, filters={}, sort="-starts_at", limit=100, cursor=None)
        assert (cid in {c.id for c in items}) == loaded, f"the list disagrees with loading for {principal}"
        return loaded

    return check


# -- who sees a consultation -------------------------------------------------------------------------

IN_SCOPE = (WORKER, STREET_ADMIN, DISTRICT_ADMIN, Principal("sup-1", "supervisor", "341702"))
OUT_OF_SCOPE = (
    OTHER_WORKER,
    Principal("worker-q", "community_worker", QIUPU),
    Principal("district-9", "district_admin", "341721"),
)
EXPERT = Principal("expert-9", "resident", QIUPU)  # invited, lives elsewhere


def test_officials_in_scope_see_a_draft_residents_and_invitees_only_once_announced(run, clock, prepared, sees):
    cid = prepared(people=(*PEOPLE, ("expert-9", "expert")))
    assert all(sees(p, cid) for p in IN_SCOPE)
    assert not any(sees(p, cid) for p in (*OUT_OF_SCOPE, RESIDENT, EXPERT))
    run(services.announce, WORKER, cid, now=clock.now(), **NOTICE)
    assert all(sees(p, cid) for p in (*IN_SCOPE, RESIDENT, EXPERT))
    assert not any(sees(p, cid) for p in (*OUT_OF_SCOPE, Principal("r-x", "resident", XIJIE)))


def test_a_streets_consultation_reaches_its_communities_once_announced(run, clock, prepared, sees):
    cid = prepared(STREET_ADMIN, CHIYANG)
    xijie_worker, xijie_resident = OTHER_WORKER, Principal("r-x", "resident", XIJIE)
    assert not sees(xijie_worker, cid) and not sees(xijie_resident, cid)
    run(services.announce, STREET_ADMIN, cid, now=clock.now(), **NOTICE)
    assert sees(xijie_worker, cid) and sees(xijie_resident, cid) and sees(RESIDENT, cid)
    assert not sees(Principal("r-q", "resident", QIUPU), cid)


# -- topics ------------------------------------------------------------------------------------------


def test_a_topic_from_an_accepted_proposal_takes_its_title_and_origin(run, clock, draft, accept):
    accept("p-1", title="空地改建停车场")
    cid = draft()
    consultation = run(services.add_topic, WORKER, cid, proposal_id="p-1", now=clock.now())
    (topic,) = consultation.topics
    assert (topic.title, topic.origin, topic.proposal_id) == ("空地改建停车场", "resident", "p-1")
    accept("p-xijie", community=XIJIE)  # a street's consultation takes up all its communities' proposals
    street = draft(STREET_ADMIN, CHIYANG)
    assert run(services.add_topic, STREET_ADMIN, street, proposal_id="p-xijie", now=clock.now()).proposal_ids == (
        "p-xijie",
    )


@pytest.mark.parametrize(
    ("organiser", "division_code", "proposal_id"),
    [
        (WORKER, YANLIUYUAN, "p-unknown"),  # intake never accepted it (or it does not exist)
        (WORKER, YANLIUYUAN, "p-xijie"),  # accepted, in another community
        (STREET_ADMIN, CHIYANG, "p-qiupu"),  # accepted, in another street's community
    ],
)
def test_a_topic_names_only_a_proposal_accepted_in_the_division(
    draft, accept, refused, clock, organiser, division_code, proposal_id
):
    accept("p-xijie", community=XIJIE)
    accept("p-qiupu", community=QIUPU)
    cid = draft(organiser, division_code)
    problem = refused(Invalid, services.add_topic, organiser, cid, proposal_id=proposal_id, now=clock.now())
    assert problem.extra["field"] == "proposal_id" and problem.detail == "该建议不是本社区(街道)已列为议题的建议"


def test_the_agendas_rules_come_before_the_proposal(announced, refused, clock):
    cid = announced()
    problem = refused(Conflict, services.add_topic, WORKER, cid, proposal_id="p-unknown", now=clock.now())
    assert problem.detail == "协商当前状态为“已公告”,不能调整议题"


# -- opinions ----------------------------------------------------------------------------------------


def test_an_opinion_replies_only_to_one_that_exists(run, clock, announced, refused):
    cid = announced()
    run(services.open_round, WORKER, cid, opens_at=clock.now(), closes_at=clock.now() + WEEK, now=clock.now())
    topic_id = run(services.get_consultation, WORKER, cid).topics[0].id
    opinion = {"topic_id": topic_id, "stance": "concern", "text": "施工噪音影响休息"}
    first = run(services.post_opinion, RESIDENT, cid, **opinion, now=clock.now())
    assert first.mine and first.author_id is None and first.author_category is None
    reply = run(services.post_opinion, person("r-1"), cid, **opinion, parent_id=first.id, now=clock.now())
    assert reply.parent_id == first.id and reply.author_category == "resident_representative"
    problem = refused(
        Invalid, services.post_opinion, RESIDENT, cid, **opinion, parent_id="no-such-opinion", now=clock.now()
    )
    assert problem.extra["field"] == "parent_id" and problem.detail == "回复的意见不存在"


# -- the procedure -----------------------------------------------------------------------------------


def test_a_consultation_from_its_draft_to_its_close(meetings, run, clock, draft, accept, refused):
    accept("p-1")
    cid = draft()
    run(services.add_topic, WORKER, cid, proposal_id="p-1", now=clock.now())
    run(services.add_topic, WORKER, cid, title="夜间施工时间", now=clock.now())
    for person_id, category in PEOPLE:
        run(services.invite, WORKER, cid, person_id=person_id, category=category, now=clock.now())
    assert run(services.checklist, WORKER, cid, now=clock.now(), **NOTICE).ready

    consultation = run(services.announce, WORKER, cid, now=clock.now(), **NOTICE)
    parking, works = consultation.topics
    (notice,) = meetings.emitted("meetings.consultation.announced")
    assert sorted(notice["invitee_ids"]) == ["o-1", "r-1", "r-2"] and notice["proposal_ids"] == ["p-1"]
    assert [p["proposal_ids"] for p in meetings.emitted("meetings.consultation.scheduled")] == [["p-1"]]
    refused(Conflict, services.start, WORKER, cid, now=clock.now())  # not before the announced time

    clock.advance(WEEK - timedelta(minutes=30))  # past the notice period, signing in has opened
    code = run(services.attendance_code, WORKER, cid).attendance_code
    for person_id, _ in PEOPLE:
        run(services.sign_in, person(person_id), cid, code=code, now=clock.now())
    opened_at = clock.advance(timedelta(minutes=30))
    run(services.start, WORKER, cid, now=clock.now())
    assert [p["attendees"] for p in meetings.emitted("meetings.consultation.started")] == [3]

    clock.advance(timedelta(minutes=40))
    for person_id, topic, choice in [
        ("r-1", parking, "support"),
        ("r-2", parking, "support"),
        ("o-1", parking, "support"),
        ("r-1", works, "support"),
        ("r-2", works, "oppose"),
    ]:
        run(services.cast_vote, person(person_id), cid, topic_id=topic.id, choice=choice, now=clock.now())
    decided = run(services.decide, WORKER, cid, now=clock.now())
    assert decided.status == "decided" and decided.adopted_topic_ids == (parking.id,)
    assert [p["proposal_ids"] for p in meetings.emitted("meetings.consultation.decided")] == [["p-1"]]
    assert len(meetings.emitted("meetings.consultation.no_consensus")) == 1  # the works topic goes on
    (held,) = meetings.emitted("meetings.consultation.held")
    assert held["held_at"] == opened_at.isoformat()  # when it opened, not when it decided

    deadline = (clock.now() + WEEK).date()
    resolution = {"topic_id": parking.id, "responsible_party": "dept-1", "deadline": deadline, "agreed": "改建停车场"}
    dissent_answered = "夜间施工另议"
    run(
        services.publish_outcome,
        WORKER,
        cid,
        minutes="纪要",
        resolutions=[resolution],
        explanation=dissent_answered,
        now=clock.now(),
    )
    (outcome,) = meetings.emitted("meetings.outcome.published")
    assert outcome["decision"] == "decided" and [r["proposal_id"] for r in outcome["resolutions"]] == ["p-1"]
    assert run(services.close, WORKER, cid, now=clock.now()).status == "closed"
    with meetings.unit_of_work() as uow:
        steps = [(h["from_status"], h["to_status"]) for h in repository.history(uow.session, cid)]
    assert steps == [
        (None, "draft"),
        ("draft", "announced"),
        ("announced", "in_session"),
        ("in_session", "decided"),
        ("decided", "outcome_published"),
        ("outcome_published", "closed"),
    ]


def test_the_notice_periods_are_the_callers_settings(run, clock, prepared, refused):
    cid = prepared()
    longer = {"notice_days": 10, "hearing_notice_days": 14}
    checklist = run(services.checklist, WORKER, cid, now=clock.now(), **longer)
    assert not checklist.ready and checklist.notice_days == 10 and set(checklist.missing) == {"notice"}
    problem = refused(Invalid, services.announce, WORKER, cid, now=clock.now(), **longer)
    assert problem.extra["field"] == "starts_at" and problem.extra["notice_days"] == 10
    assert run(services.announce, WORKER, cid, now=clock.now(), **NOTICE).status == "announced"


# -- refusals ----------------------------------------------------------------------------------------


def test_a_step_in_the_wrong_status_is_refused_with_the_lifecycles_message(draft, announced, refused, clock):
    in_draft, notified = draft(), announced()
    for use_case, cid, message in [
        (services.start, in_draft, "协商当前状态为“草稿”,不能变为“协商中”"),
        (services.close, notified, "协商当前状态为“已公告”,不能变为“已结束”"),
        (services.decide, notified, "协商当前状态为“已公告”,不能作出决定"),
    ]:
        problem = refused(Conflict, use_case, WORKER, cid, now=clock.now())
        assert problem.detail == message
    problem = refused(Conflict, services.remove_topic, WORKER, notified, "any-topic", now=clock.now())
    assert problem.detail == "协商当前状态为“已公告”,不能调整议题" and problem.extra["status_now"] == "announced"


def test_organisers_out_of_scope_are_refused(announced, refused, clock):
    community, street = announced(), announced(STREET_ADMIN, CHIYANG)
    # Who does not see a consultation is told it does not exist, whatever they ask.
    for use_case, kwargs in [(services.cancel, {"reason": "场地不可用"}), (services.start, {})]:
        refused(NotFound, use_case, OTHER_WORKER, community, now=clock.now(), **kwargs)
    # A street's consultation reaches a community's worker, who does not organise it.
    problem = refused(Forbidden, services.cancel, OTHER_WORKER, street, reason="场地不可用", now=clock.now())
    assert problem.detail == "该协商不在您的管辖范围内"
    for use_case in (services.list_participants, services.attendance_code):
        assert refused(Forbidden, use_case, OTHER_WORKER, street).detail == "该协商不在您的管辖范围内"
    # Roles that do not organise are refused whatever they see.
    problem = refused(Forbidden, services.cancel, RESIDENT, community, reason="不想开", now=clock.now())
    assert problem.detail == "只有社区工作者或街道、区级管理员可以组织协商"


def test_someone_invited_after_the_announcement_gets_their_own_invitation(meetings, run, clock, prepared):
    cid = prepared()
    assert meetings.emitted("meetings.consultation.invited") == []  # the announcement will tell them
    consultation = run(services.announce, WORKER, cid, now=clock.now(), **NOTICE)
    run(services.invite, WORKER, cid, person_id="r-late", category="expert", now=clock.now())
    (invitation,) = meetings.emitted("meetings.consultation.invited")
    assert invitation["invitee_ids"] == ["r-late"] and invitation["consultation_id"] == cid
    assert invitation["starts_at"] == consultation.starts_at.isoformat()
