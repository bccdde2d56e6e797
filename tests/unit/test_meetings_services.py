"""Meetings' use cases without HTTP: who sees a consultation (and that lists agree), topics taken
from accepted proposals only, opinions replying to opinions that exist, the procedure from the draft
to its close with the events it tells, and refusals that write and emit nothing. Time is the
``clock`` fixture's; the notice periods are passed in as the adapter passes its settings."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from services.meetings import handlers, models, repository, services
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
# Whom notify's directory holds, as meetings' replica has it: the people these tests invite, each the
# account of a contact where they live (``expert-9`` in another street of the district).
DIRECTORY = {"r-1": YANLIUYUAN, "r-2": YANLIUYUAN, "o-1": YANLIUYUAN, "r-late": YANLIUYUAN, "r-x": XIJIE,
             "expert-9": QIUPU}  # fmt: skip


@pytest.fixture
def meetings(memory_service, register_people):
    """Meetings on an in-memory database, its replica of notify's directory holding ``DIRECTORY``."""
    service = memory_service("meetings")
    register_people(service, DIRECTORY)
    return service


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


# Organisations tracking registered: a district's department, 烟柳园's property company, one of 西街.
ORGANISATIONS = [
    {"id": "dept-housing", "kind": "department", "name": "贵池区住房和城乡建设局", "scope": "341702", "active": True},
    {"id": "org-property", "kind": "property_company", "name": "杏花家园物业", "scope": YANLIUYUAN, "active": True},
    {"id": "org-xijie", "kind": "property_company", "name": "西街物业", "scope": XIJIE, "active": True},
]


@pytest.fixture
def register(meetings):
    """Tell meetings, through its handler, of organisations tracking registered or changed (as
    ``with_divisions`` fills the division replica): ``register(*records, at=None)``."""

    def tell(*records: dict, at: datetime | None = None) -> None:
        payload = {"organisations": list(records)}
        event = new_event("tracking.organisations.changed", payload, producer="tracking", division_code=None)
        if at is not None:
            event = replace(event, occurred_at=at.isoformat())
        with meetings.unit_of_work() as uow:
            handlers.HANDLERS[event.type](uow, event)

    return tell


@pytest.fixture
def registered(register):
    """The replica filled with ``ORGANISATIONS``."""
    register(*ORGANISATIONS)
    return {o["id"]: o for o in ORGANISATIONS}


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


def test_a_consultation_from_its_draft_to_its_close(meetings, run, clock, draft, accept, refused, registered):
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
    refused(Invalid, services.sign_in, person("r-1"), cid, code="签到码", now=clock.now())  # any text compares
    for person_id, _ in PEOPLE:
        run(services.sign_in, person(person_id), cid, code=code, now=clock.now())
    run(services.declare_profile, person("r-1"), cid, age_band="30_44", occupation="employed")
    run(services.declare_profile, person("r-2"), cid, age_band="60_plus")
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
    assert held["recorded_afterwards"] is False
    assert held["mix"] == {
        "declared_age": 2,
        "under_45": 1,
        "declared_occupation": 1,
        "not_retired": 1,
        "social_organisations": 1,  # o-1
    }

    deadline = (clock.now() + WEEK).date()
    resolution = {
        "topic_id": parking.id,
        "organisation_id": "dept-housing",
        "deadline": deadline,
        "agreed": "改建停车场",
    }
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
    assert [(r["organisation_id"], r["responsible_party"]) for r in outcome["resolutions"]] == [
        ("dept-housing", "贵池区住房和城乡建设局")
    ]
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


def directory_told(meetings, *records: dict, at: datetime | None = None, event_id: str | None = None) -> None:
    """Notify's ``notify.contacts.changed`` of these contacts (told at ``at``) through meetings' handler."""
    event = new_event("notify.contacts.changed", {"contacts": list(records)}, producer="notify", division_code=None)
    event = replace(event, **({"occurred_at": at.isoformat()} if at else {}), **({"id": event_id} if event_id else {}))
    with meetings.unit_of_work() as uow:
        handlers.HANDLERS[event.type](uow, event)


def contact(person_id: str, community: str = YANLIUYUAN, removed: bool = False, contact_id: str | None = None):
    return {"contact_id": contact_id or f"contact-{person_id}", "app_user_id": person_id, "kind": "resident",
            "community_code": community, "removed": removed}  # fmt: skip


@pytest.mark.parametrize(
    ("person_id", "message"),
    [
        ("nobody-at-all", "参会人 nobody-at-all 不在本区县的通知联系人名录中"),
        ("r-x", "参会人 r-x 不是本协商所在区域的居民,不能以“居民代表”身份受邀"),  # of 西街
    ],
)
def test_nobody_or_a_resident_of_elsewhere_is_not_invited(draft, refused, clock, person_id, message):
    cid = draft()
    invitation = {"person_id": person_id, "category": "resident_representative", "now": clock.now()}
    problem = refused(Invalid, services.invite, WORKER, cid, **invitation)
    assert problem.detail.startswith(message) and problem.extra["person_id"] == person_id


def test_the_directory_replica_keeps_notifys_latest_telling_and_removal_is_final(meetings, run, draft, clock, refused):
    cid = draft()

    def invite(uow, person_id: str):
        return services.invite(
            uow, WORKER, cid, person_id=person_id, category="resident_representative", now=clock.now()
        )

    directory_told(meetings, contact("newcomer", XIJIE), at=clock.now())
    directory_told(meetings, contact("newcomer", XIJIE), at=clock.now())  # told twice: one row
    refused(Invalid, invite, person_id="newcomer")  # 西街 is not 烟柳园's area
    directory_told(meetings, contact("newcomer", YANLIUYUAN), at=clock.now() + timedelta(minutes=1))
    directory_told(meetings, contact("newcomer", XIJIE), at=clock.now() - timedelta(minutes=1))  # late, older
    assert run(invite, person_id="newcomer").id == "newcomer"
    directory_told(meetings, contact("leaver"), at=clock.now())
    directory_told(meetings, contact("leaver", removed=True), at=clock.now())
    directory_told(meetings, contact("leaver"), at=clock.now() + timedelta(minutes=1))  # a telling that lagged
    refused(Invalid, invite, person_id="leaver")
    directory_told(meetings, contact("leaver", contact_id="contact-leaver-again"), at=clock.now())  # added again
    assert run(invite, person_id="leaver").id == "leaver"
    directory_told(meetings, contact("no-app", YANLIUYUAN) | {"app_user_id": None})  # SMS only: no account
    with meetings.db.sessions() as session:
        rows = session.execute(select(models.contacts.c.contact_id, models.contacts.c.removed)).all()
    assert ("contact-leaver", True) in rows and len(rows) == len(DIRECTORY) + 4


# -- resolutions name a registered organisation --------------------------------------------------------


# -- ticked in by an organiser ---------------------------------------------------------------------


def test_an_organiser_ticks_in_whoever_has_no_phone_and_the_attendance_counts_them(
    meetings, run, clock, announced, refused
):
    cid = announced()
    problem = refused(Conflict, services.check_in, WORKER, cid, person_id="r-2", now=clock.now())
    assert "签到尚未开始" in problem.detail  # the attendance code's window: from an hour before the start
    clock.advance(WEEK - timedelta(minutes=30))
    code = run(services.attendance_code, WORKER, cid).attendance_code
    run(services.sign_in, person("r-1"), cid, code=code, now=clock.now())
    emitted = len(meetings.events)

    ticked = run(services.check_in, WORKER, cid, person_id="r-2", now=clock.now())
    assert (ticked.attended, ticked.attended_via, ticked.checked_in_by) == (True, "offline", "worker-1")
    assert ticked.attended_at == clock.now()

    clock.advance(timedelta(minutes=5))
    again = run(services.check_in, STREET_ADMIN, cid, person_id="r-2", now=clock.now())
    assert again == ticked  # ticked twice counts once, by whoever ticked first
    themselves = run(services.check_in, WORKER, cid, person_id="r-1", now=clock.now())
    assert themselves.checked_in_by is None  # signed in with the code: stays their own
    assert len(meetings.events) == emitted  # as signing in, nothing told until the start

    listed = {p.id: (p.attended, p.checked_in_by) for p in run(services.list_participants, WORKER, cid)}
    assert listed == {"r-1": (True, None), "r-2": (True, "worker-1"), "o-1": (False, None)}
    clock.advance(timedelta(minutes=30))
    run(services.check_in, DISTRICT_ADMIN, cid, person_id="o-1", now=clock.now())  # in session, too
    run(services.start, WORKER, cid, now=clock.now())
    assert [p["attendees"] for p in meetings.emitted("meetings.consultation.started")] == [3]
    assert run(services.quality, WORKER, cid).online_attendees == 0


def test_ticking_in_is_refused_to_others_outside_the_day_and_for_anyone_not_invited(
    run, clock, draft, announced, refused
):
    community, street = announced(), announced(STREET_ADMIN, CHIYANG)
    online = draft(mode="online", venue=None, online_link="https://meet.example/a", form="online")
    run(services.add_topic, WORKER, online, title="夜间施工时间", now=clock.now())
    run(services.invite, WORKER, online, person_id="r-1", category="resident_representative", now=clock.now())
    run(services.announce, WORKER, online, now=clock.now(), **NOTICE)
    cancelled = announced()
    run(services.cancel, WORKER, cancelled, reason="场地不可用", now=clock.now())
    clock.advance(WEEK)

    refused(NotFound, services.check_in, OTHER_WORKER, community, person_id="r-1", now=clock.now())
    problem = refused(Forbidden, services.check_in, WORKER, street, person_id="r-1", now=clock.now())
    assert problem.detail == "该协商不在您的管辖范围内"  # a street's consultation: the street ticks
    problem = refused(Forbidden, services.check_in, person("r-2"), community, person_id="r-1", now=clock.now())
    assert problem.detail == "只有社区工作者或街道、区级管理员可以组织协商"
    problem = refused(Invalid, services.check_in, WORKER, community, person_id="r-x", now=clock.now())
    assert problem.detail == "该人员不是本次协商的受邀参会人" and problem.extra["field"] == "person_id"
    problem = refused(Conflict, services.check_in, WORKER, online, person_id="r-1", now=clock.now())
    assert "加入会议即为签到" in problem.detail
    problem = refused(Conflict, services.check_in, WORKER, cancelled, person_id="r-1", now=clock.now())
    assert problem.extra["status_now"] == "cancelled"
    in_draft = draft()
    refused(Conflict, services.check_in, WORKER, in_draft, person_id="r-1", now=clock.now())


@pytest.fixture
def decided(run, clock, announced):
    """A consultation decided (its one topic adopted); returns (id, topic id)."""

    def make(principal=WORKER, division_code=YANLIUYUAN) -> tuple[str, str]:
        cid = announced(principal, division_code)
        clock.advance(WEEK)
        code = run(services.attendance_code, principal, cid).attendance_code
        for person_id, _ in PEOPLE:
            run(services.sign_in, person(person_id), cid, code=code, now=clock.now())
        consultation = run(services.start, principal, cid, now=clock.now())
        topic_id = consultation.topics[0].id
        for person_id, _ in PEOPLE:
            run(services.cast_vote, person(person_id), cid, topic_id=topic_id, choice="support", now=clock.now())
        run(services.decide, principal, cid, now=clock.now())
        return cid, topic_id

    return make


def agreed(topic_id, organisation_id, clock, **changes) -> dict:
    deadline = (clock.now() + WEEK).date()
    return {"topic_id": topic_id, "organisation_id": organisation_id, "deadline": deadline, "agreed": "改建", **changes}


@pytest.mark.parametrize("organisation_id", ["dept-unknown", "org-xijie", "dept-closed"])
def test_a_resolution_names_an_active_organisation_of_the_division(
    run, clock, decided, registered, register, refused, organisation_id
):
    register({"id": "dept-closed", "kind": "department", "name": "已撤并", "scope": "341702", "active": False})
    cid, topic_id = decided()
    problem = refused(
        Invalid,
        services.publish_outcome,
        WORKER,
        cid,
        minutes="纪要",
        resolutions=[agreed(topic_id, organisation_id, clock)],
        now=clock.now(),
    )
    assert problem.detail == "责任单位未登记或不在本辖区" and problem.extra["field"] == "resolutions"
    published = run(
        services.publish_outcome,
        WORKER,
        cid,
        minutes="纪要",
        resolutions=[agreed(topic_id, "org-property", clock, responsible_party="楼下物业")],
        now=clock.now(),
    )
    assert [(r.organisation_id, r.responsible_party) for r in published.resolutions] == [
        ("org-property", "杏花家园物业")
    ]


def test_a_streets_resolution_may_name_an_organisation_of_one_of_its_communities(
    run, clock, decided, registered, meetings
):
    cid, topic_id = decided(STREET_ADMIN, CHIYANG)
    resolutions = [agreed(topic_id, "org-xijie", clock)]
    run(services.publish_outcome, STREET_ADMIN, cid, minutes="纪要", resolutions=resolutions, now=clock.now())
    (outcome,) = meetings.emitted("meetings.outcome.published")
    assert outcome["resolutions"][0]["organisation_id"] == "org-xijie"


def test_the_replica_keeps_the_latest_telling_of_each_organisation(run, clock, decided, register, refused):
    cid, topic_id = decided()
    now = clock.now()
    property_company = ORGANISATIONS[1]
    register(property_company, at=now)
    register({**property_company, "name": "杏花家园物业(新)"}, at=now + timedelta(minutes=1))
    register({**property_company, "active": False}, at=now - timedelta(minutes=1))  # older, arrived late
    resolutions = [agreed(topic_id, "org-property", clock)]
    publish = {"minutes": "纪要", "resolutions": resolutions, "now": clock.now()}
    register({**property_company, "name": "杏花家园物业(新)", "active": False}, at=now + timedelta(minutes=2))
    refused(Invalid, services.publish_outcome, WORKER, cid, **publish)  # deactivated since
    register({**property_company, "name": "杏花家园物业(新)"}, at=now + timedelta(minutes=3))
    published = run(services.publish_outcome, WORKER, cid, **publish)
    assert published.resolutions[0].responsible_party == "杏花家园物业(新)"


# -- recorded afterwards (补录) -------------------------------------------------------------------------


@pytest.fixture
def recorded(clock):
    """``recorded(**changes)``: what a consultation held three days ago is recorded with now."""

    def make(**changes) -> dict:
        return {
            "division_code": YANLIUYUAN,
            "title": "杏花家园停车难议事会",
            "form": "community_council",
            "mode": "offline",
            "held_at": clock.now() - timedelta(days=3),
            "venue": "烟柳园社区议事厅",
            "topics": [{"proposal_id": "p-1"}, {"title": "夜间施工时间", "adopted": False}],
            "attendance": {"resident_representative": 12, "party_member": 5, "social_organisation": 2},
            "decision": "decided",
            "minutes_url": "https://docs.example/minutes.pdf",
            "resolutions": [
                {
                    "topic_index": 0,
                    "organisation_id": "dept-housing",
                    "deadline": (clock.now() + WEEK).date(),
                    "agreed": "利用空地建设临时停车场",
                }
            ],
            "now": clock.now(),
            **changes,
        }

    return make


@pytest.fixture
def record(run, recorded):
    """``record(principal=WORKER, **changes)``: ``recorded(**changes)`` recorded by ``principal``."""

    def make(principal=WORKER, **changes):
        return run(services.record_consultation, principal, **recorded(**changes))

    return make


def test_a_consultation_held_offline_is_recorded_and_told_as_a_live_one(
    meetings, run, clock, accept, registered, record, sees
):
    accept("p-1")
    consultation = record()
    cid = consultation.id
    assert consultation.recorded_afterwards and consultation.status == "outcome_published"
    assert sees(RESIDENT, cid) and not sees(Principal("r-x", "resident", XIJIE), cid)
    mine = [(e.type, e.payload) for e in meetings.events if e.payload.get("consultation_id") == cid]
    assert [t for t, _ in mine] == [
        "meetings.consultation.scheduled",
        "meetings.consultation.decided",
        "meetings.consultation.no_consensus",
        "meetings.consultation.held",
        "meetings.outcome.published",
    ]
    scheduled, decided_, further, held, outcome = (p for _, p in mine)
    held_at = (clock.now() - timedelta(days=3)).isoformat()
    assert (scheduled["proposal_ids"], scheduled["starts_at"]) == (["p-1"], held_at)
    assert decided_["proposal_ids"] == ["p-1"] and further["proposal_ids"] == []
    assert (held["held_at"], held["attendees"], held["recorded_afterwards"]) == (held_at, 19, True)
    assert held["origins"] == {"resident": 1, "top_down": 1} and held["decision"] == "decided"
    assert held["mix"] == {
        "declared_age": 0,
        "under_45": 0,
        "declared_occupation": 0,
        "not_retired": 0,
        "social_organisations": 2,
    }
    assert outcome["recorded_afterwards"] is True and outcome["decision"] == "decided"
    assert [(r["organisation_id"], r["responsible_party"], r["proposal_id"]) for r in outcome["resolutions"]] == [
        ("dept-housing", "贵池区住房和城乡建设局", "p-1")
    ]
    with meetings.unit_of_work() as uow:
        history = repository.history(uow.session, cid)
    assert [(h["from_status"], h["to_status"], h["reason"], h["actor_id"]) for h in history] == [
        (None, "decided", "补录", "worker-1"),
        ("decided", "outcome_published", "补录", "worker-1"),
    ]
    stored = run(services.get_consultation, WORKER, cid)
    assert stored == consultation and dict(stored.attendance)["party_member"] == 5
    figures = run(services.quality, WORKER, cid)
    assert figures.attendees == 19 and figures.flags == ()


@pytest.mark.parametrize(
    ("principal", "changes", "problem", "message"),
    [
        (OTHER_WORKER, {}, Forbidden, "该社区或街道不在您的管辖范围内"),
        (RESIDENT, {}, Forbidden, "只有社区工作者或街道、区级管理员可以组织协商"),
        (WORKER, {"resolutions": []}, Invalid, "每个通过的议题至少需要一项决议"),
        (WORKER, {"topics": [{"proposal_id": "p-unknown"}]}, Invalid, "该建议不是本社区(街道)已列为议题的建议"),
        (WORKER, {"attendance": {"party_member": 0}}, Invalid, "补录的协商须有参会人员,人数合计须大于0"),
    ],
)
def test_a_refused_record_writes_and_tells_nothing(
    accept, registered, recorded, refused, principal, changes, problem, message
):
    accept("p-1")
    assert refused(problem, services.record_consultation, principal, **recorded(**changes)).detail == message


def test_an_unregistered_organisation_or_the_same_consultation_twice_is_refused(
    accept, registered, record, recorded, refused, clock
):
    accept("p-1")
    deadline = (clock.now() + WEEK).date()
    elsewhere = [{"topic_index": 0, "organisation_id": "org-xijie", "deadline": deadline, "agreed": "建"}]
    problem = refused(Invalid, services.record_consultation, WORKER, **recorded(resolutions=elsewhere))
    assert problem.detail == "责任单位未登记或不在本辖区"
    first = record()
    problem = refused(Conflict, services.record_consultation, STREET_ADMIN, **recorded())
    assert problem.extra["consultation_id"] == first.id
    assert record(title="杏花家园停车难议事会(第二次)").id != first.id


CSV_HEADER = "division_code,title,form,mode,held_at,venue,topics,attendees,decision,minutes_url\n"


def csv_rows(*rows: str) -> list:
    from services.meetings.schemas import recorded_rows

    return recorded_rows(CSV_HEADER + "".join(f"{row}\n" for row in rows))


def test_a_csv_records_its_good_rows_and_reports_the_others(meetings, run, clock):
    rows = csv_rows(
        f"{YANLIUYUAN},楼道堆物清理议事会,楼栋/门栋议事,offline,2026-11-20 19:00,3号楼架空层,楼道堆物;电动车充电,党员:3;居民代表:9,decided,https://docs.example/a.pdf",
        f"{XIJIE},西街议事会,community_council,offline,2026-11-21 19:00,西街议事厅,路灯,12,decided,https://docs.example/b.pdf",
        f"{YANLIUYUAN},未来的议事会,community_council,offline,2027-01-01 19:00,议事厅,路灯,12,decided,https://docs.example/c.pdf",
        f"{YANLIUYUAN},坏行,x,offline,yesterday,议事厅,,abc,decided,https://docs.example/d.pdf",
        f"{YANLIUYUAN},开水炉议事会,community_council,offline,2026-11-22 19:00,议事厅,开水炉,12,未达成共识,https://docs.example/e.pdf",
    )
    report = run(services.import_recorded, WORKER, rows, now=clock.now())
    assert report["recorded"] == 2
    assert [(r["line"], r["ok"]) for r in report["rows"]] == [(2, True), (3, False), (4, False), (5, False), (6, True)]
    assert report["rows"][1]["errors"] == ["该社区或街道不在您的管辖范围内"]
    assert report["rows"][2]["errors"] == ["补录的协商须已经举行,举行时间不能晚于当前时间"]
    assert "举行时间:必须是时间" in " ".join(report["rows"][3]["errors"])
    stairs = run(services.get_consultation, WORKER, report["rows"][0]["consultation_id"])
    assert stairs.form == "building" and [t.title for t in stairs.topics] == ["楼道堆物", "电动车充电"]
    assert stairs.starts_at == datetime.fromisoformat("2026-11-20T19:00:00+08:00") and stairs.resolutions == ()
    assert dict(stairs.attendance) == {"party_member": 3, "resident_representative": 9}
    water = run(services.get_consultation, WORKER, report["rows"][4]["consultation_id"])
    assert water.decision == "no_consensus" and dict(water.attendance) == {"unspecified": 12}
    assert len(meetings.emitted("meetings.consultation.held")) == 2
    assert [o["resolutions"] for o in meetings.emitted("meetings.outcome.published")] == [[], []]
    # The same file again: every row is reported, nothing is recorded twice.
    again = run(
        services.import_recorded,
        STREET_ADMIN,
        csv_rows(
            f"{YANLIUYUAN},楼道堆物清理议事会,building,offline,2026-11-20T11:00:00Z,3号楼,楼道堆物,12,decided,https://docs.example/a.pdf",
            f"{XIJIE},西街议事会,community_council,offline,2026-11-21 19:00,西街议事厅,路灯,12,decided,https://docs.example/b.pdf",
        ),
        now=clock.now(),
    )
    assert [(r["line"], r["ok"]) for r in again["rows"]] == [(2, False), (3, True)]
    assert "已经补录" in again["rows"][0]["errors"][0]


def test_a_csv_with_no_good_row_writes_nothing(refused, clock):
    outside = csv_rows(
        f"{XIJIE},西街议事会,community_council,offline,2026-11-21 19:00,西街议事厅,路灯,12,decided,https://docs.example/b.pdf"
    )
    assert (
        refused(Forbidden, services.import_recorded, WORKER, outside, now=clock.now()).detail
        == "CSV中的社区或街道均不在您的管辖范围内"
    )
    bad = csv_rows(
        f"{YANLIUYUAN},议事会,community_council,offline,2026-11-21 19:00,,路灯,12,decided,https://docs.example/b.pdf",
        f"{XIJIE},西街议事会,community_council,offline,2026-11-21 19:00,西街议事厅,路灯,12,decided,https://docs.example/b.pdf",
    )
    problem = refused(Invalid, services.import_recorded, WORKER, bad, now=clock.now())
    assert problem.detail == "没有可补录的行" and problem.extra["recorded"] == 0
    assert [r["errors"] for r in problem.extra["rows"]] == [["线下协商须填写地点"], ["该社区或街道不在您的管辖范围内"]]
    assert (
        refused(Forbidden, services.import_recorded, RESIDENT, bad, now=clock.now()).detail
        == "只有社区工作者或街道、区级管理员可以组织协商"
    )
