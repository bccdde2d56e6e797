"""The meetings domain: the 2015 procedure as a state machine, deliberation, decision by a rule
fixed in advance, the outcome and the quality figures. Pure functions, no database."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from functools import partial

import pytest

from services.meetings import domain as m
from services.meetings.domain import Organisation, Participant, Profile, Resolution, Vote
from shared.divisions import Division
from shared.principal import Principal
from shared.problems import Conflict, Forbidden, Invalid, NotFound, Problem

CHIYANG = "341702001"  # 池阳街道
STREET_CODE = "341702001000"
YANLIUYUAN = "341702001001"  # 烟柳园社区
XIJIE = "341702001002"  # 西街社区
QIUPU = "341702002001"  # a community of another street

COMMUNITY = Division(YANLIUYUAN, "烟柳园社区", "community", CHIYANG + "000", "sample")
STREET = Division(STREET_CODE, "池阳街道", "street", "341702000000", "nbs")

WORKER = Principal("worker-1", "community_worker", YANLIUYUAN)
OTHER_WORKER = Principal("worker-9", "community_worker", XIJIE)
STREET_ADMIN = Principal("street-1", "street_admin", CHIYANG)
DISTRICT_ADMIN = Principal("district-1", "district_admin", "341702")
RESIDENT = Principal("resident-9", "resident", YANLIUYUAN)

NOW = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
START = datetime(2024, 5, 13, 19, 0, tzinfo=UTC)  # 7 days 10 hours after NOW
DURING = START + timedelta(hours=1)
LATER = START + timedelta(hours=3)
MATERIALS = ("https://docs.example/parking-plan.pdf",)

PEOPLE = (("r-1", "resident_representative"), ("r-2", "party_member"), ("o-1", "social_organisation"))
HOMES = (YANLIUYUAN,)  # where the people invited here are in notify's directory (meetings' replica)

# Registered organisations, as meetings' replica holds them (by id): a district's departments, a
# community's property company, and some a consultation of 烟柳园 may not name.
HOUSING = Organisation("dept-housing", "department", "贵池区住房和城乡建设局", "341702")
PROPERTY = Organisation("org-property", "property_company", "杏花家园物业服务中心", YANLIUYUAN)
ORGANISATIONS = {
    o.id: o
    for o in (
        HOUSING,
        PROPERTY,
        Organisation("dept-1", "department", "贵池区城市管理局", "341702"),
        Organisation("street-office", "department", "池阳街道办事处", CHIYANG),
        Organisation("org-xijie", "property_company", "西街物业", XIJIE),  # another community
        Organisation("dept-other", "department", "青阳县住建局", "341723"),  # another county
        Organisation("dept-closed", "department", "已撤并的部门", "341702", active=False),
    )
}


def resolution(topic_id, organisation_id="dept-housing", deadline=date(2024, 6, 30), agreed="建设临时停车场"):
    """A resolution as an organiser asks for it: the organisation by id (the registry names it)."""
    return Resolution(topic_id, "", deadline, agreed, organisation_id)


def person(participant_id: str, role: str = "resident") -> Principal:
    return Principal(participant_id, role, YANLIUYUAN)


def chinese(problem: Problem) -> bool:
    return bool(re.search(r"[\u4e00-\u9fff]", str(problem)))


def new_draft(principal=WORKER, division=COMMUNITY, code=YANLIUYUAN, **changes):
    arguments = {
        "principal": principal,
        "division": division,
        "division_code": code,
        "title": "杏花家园停车难协商",
        "form": "community_council",
        "mode": "offline",
        "starts_at": START,
        "now": NOW,
        "venue": "烟柳园社区议事厅",
        "materials": MATERIALS,
        **changes,
    }
    return m.create(**arguments)


def with_topics(consultation, principal=WORKER):
    consultation = m.add_topic(
        consultation, principal, NOW, title="空地改建停车场", origin="resident", proposal_id="proposal-1"
    )
    return m.add_topic(consultation, principal, NOW, title="夜间施工时间", origin="top_down")


def invited(consultation, people=PEOPLE, principal=WORKER):
    participants: list[Participant] = []
    for person_id, category in people:
        participant = m.invite(
            consultation, participants, principal, NOW, person_id=person_id, category=category, homes=HOMES
        )
        participants.append(participant)
    return participants


def vote(topic_id, participant_id, choice, reason=None, at=DURING, consultation_id="c"):
    return Vote(consultation_id, topic_id, participant_id, choice, at, reason)


@dataclass
class World:
    """A consultation brought to a status along the real path, with what surrounds it."""

    consultation: m.Consultation
    people: list[Participant]
    votes: list[Vote] = field(default_factory=list)
    rounds: list[m.Round] = field(default_factory=list)
    history: list[m.Transition] = field(default_factory=list)

    @property
    def topics(self):
        return self.consultation.topics

    def participant(self, person_id):
        return next(p for p in self.people if p.id == person_id)


def world(status: str, **changes) -> World:
    consultation, created = new_draft(**changes)
    consultation = with_topics(consultation)
    w = World(consultation, invited(consultation), history=[created])
    w.rounds.append(m.open_round(consultation, [], WORKER, NOW, opens_at=NOW, closes_at=START + timedelta(hours=2)))

    def step(result):
        w.consultation, transition = result
        w.history.append(transition)

    if status == "draft":
        return w
    if status == "cancelled":
        step(m.cancel(w.consultation, WORKER, NOW, "场地不可用"))
        return w
    step(m.announce(w.consultation, w.people, WORKER, NOW))
    if status == "announced":
        return w
    code = w.consultation.attendance_code
    before = START - timedelta(minutes=30)
    w.people = [m.sign_in(w.consultation, p, person(p.id), before, code) for p in w.people]
    step(m.start(w.consultation, WORKER, START))
    if status == "in_session":
        return w
    if status == "no_consensus":
        step(m.declare_no_consensus(w.consultation, WORKER, DURING, "各方分歧较大,需补充调研后再议"))
        return w
    parking, works = (t.id for t in w.topics)
    for person_id, choice, on, reason in [
        ("r-1", "support", parking, None),
        ("r-2", "support", parking, None),
        ("o-1", "support", parking, None),
        ("r-1", "support", works, None),
        ("r-2", "oppose", works, "夜间施工影响休息"),
        ("o-1", "abstain", works, None),
    ]:
        participant = w.participant(person_id)
        w.votes.append(
            m.cast_vote(
                w.consultation,
                participant,
                w.votes,
                person(person_id),
                DURING,
                topic_id=on,
                choice=choice,
                reason=reason,
            )
        )
    step(m.decide(w.consultation, w.people, w.votes, WORKER, DURING))
    if status == "decided":
        return w
    agreed = resolution(parking, "dept-housing", date(2024, 6, 30), "利用空地建设临时停车场")
    step(
        m.publish_outcome(
            w.consultation,
            WORKER,
            LATER,
            minutes="与会人员一致同意建设临时停车场;夜间施工时间另行协商。",
            resolutions=[agreed],
            organisations=ORGANISATIONS,
            explanation="夜间施工议题有居民反对,将在补充噪音评估后再次协商。",
        )
    )
    if status == "outcome_published":
        return w
    step(m.close(w.consultation, WORKER, LATER + timedelta(days=1)))
    assert status == "closed"
    return w


# -- the state machine ------------------------------------------------------------------------------


def test_the_procedure_is_this_state_machine():
    assert {status: set(targets) for status, targets in m.TRANSITIONS.items()} == {
        "draft": {"announced", "cancelled"},
        "announced": {"announced", "in_session", "cancelled"},
        "in_session": {"decided", "no_consensus"},
        "decided": {"outcome_published"},
        "no_consensus": {"outcome_published"},
        "outcome_published": {"closed"},
        "closed": set(),
        "cancelled": set(),
    }
    assert set(m.STATUS_NAMES) == set(m.STATUSES)


ALL_PAIRS = [(a, b) for a in m.STATUSES for b in m.STATUSES]


@pytest.mark.parametrize(("from_status", "to_status"), ALL_PAIRS)
def test_move_allows_exactly_the_table_and_audits_it(from_status, to_status):
    consultation = replace(world("draft").consultation, status=from_status)
    actor = m.Actor.of(WORKER)
    if to_status in m.TRANSITIONS[from_status]:
        moved, transition = m.LIFECYCLE.move(consultation, to_status, actor, LATER, "理由")
        assert moved.status == to_status and moved.updated_at == LATER
        assert transition == m.Transition(
            consultation.id, from_status, to_status, "worker-1", WORKER.role, "理由", LATER
        )
    else:
        with pytest.raises(Conflict) as refused:
            m.LIFECYCLE.move(consultation, to_status, actor, LATER)
        assert chinese(refused.value) and refused.value.extra["status_now"] == from_status


def _vote_r1(w):
    return m.cast_vote(
        w.consultation, w.participant("r-1"), [], person("r-1"), DURING, topic_id=w.topics[1].id, choice="support"
    )


def _publish(w):
    return m.publish_outcome(
        w.consultation,
        WORKER,
        LATER,
        minutes="纪要",
        resolutions=[resolution(t, "dept-1", date(2024, 6, 30), "办理") for t in w.consultation.adopted_topic_ids],
        explanation="说明",
        organisations=ORGANISATIONS,
    )


# Every operation, the statuses it is allowed from, and what it leads to (None: not a transition).
OPERATIONS = {
    "announce": ({"draft"}, "announced", lambda w: m.announce(w.consultation, w.people, WORKER, NOW)),
    "postpone": (
        {"announced"},
        "announced",
        lambda w: m.postpone(w.consultation, WORKER, NOW, starts_at=START + timedelta(days=1), reason="暴雨"),
    ),
    "relocate": (
        {"announced"},
        "announced",
        lambda w: m.relocate(w.consultation, WORKER, NOW, venue="小学礼堂", online_link=None, reason="议事厅维修"),
    ),
    "cancel": ({"draft", "announced"}, "cancelled", lambda w: m.cancel(w.consultation, WORKER, NOW, "场地不可用")),
    "start": ({"announced"}, "in_session", lambda w: m.start(w.consultation, WORKER, START)),
    "decide": (
        {"in_session"},
        "decided",
        lambda w: m.decide(w.consultation, w.people, [vote(w.topics[0].id, "r-1", "support")], WORKER, DURING),
    ),
    "declare_no_consensus": (
        {"in_session"},
        "no_consensus",
        lambda w: m.declare_no_consensus(w.consultation, WORKER, DURING, "分歧较大"),
    ),
    "publish_outcome": ({"decided", "no_consensus"}, "outcome_published", _publish),
    "close": ({"outcome_published"}, "closed", lambda w: m.close(w.consultation, WORKER, LATER)),
    "revise": ({"draft"}, None, lambda w: m.revise(w.consultation, WORKER, NOW, title="新名称")),
    "add_topic": (
        {"draft"},
        None,
        lambda w: m.add_topic(w.consultation, WORKER, NOW, title="新议题", origin="top_down"),
    ),
    "remove_topic": ({"draft"}, None, lambda w: m.remove_topic(w.consultation, WORKER, NOW, w.topics[0].id)),
    "invite": (
        {"draft", "announced"},
        None,
        lambda w: m.invite(w.consultation, w.people, WORKER, NOW, person_id="n-1", category="expert", homes=HOMES),
    ),
    "rsvp": (
        {"announced"},
        None,
        lambda w: m.rsvp(w.consultation, w.participant("r-1"), person("r-1"), NOW, "accepted"),
    ),
    "sign_in": (
        {"announced", "in_session"},
        None,
        lambda w: m.sign_in(
            w.consultation, w.participant("r-1"), person("r-1"), DURING, w.consultation.attendance_code
        ),
    ),
    "cast_vote": ({"in_session"}, None, _vote_r1),
    "open_round": (
        {"draft", "announced", "in_session"},
        None,
        lambda w: m.open_round(
            w.consultation, w.rounds, WORKER, NOW, opens_at=LATER, closes_at=LATER + timedelta(days=1)
        ),
    ),
    "post_opinion": (
        {"announced", "in_session"},
        None,
        lambda w: m.post_opinion(
            w.consultation, w.rounds, None, RESIDENT, DURING, topic_id=w.topics[0].id, stance="support", text="赞成"
        ),
    ),
    "summarise_round": (
        {"announced", "in_session", "decided", "no_consensus"},
        None,
        lambda w: m.summarise_round(w.consultation, w.rounds[0], WORKER, LATER, "多数居民支持建设停车场"),
    ),
    "declare_profile": (
        set(m.STATUSES) - {"closed", "cancelled"},
        None,
        lambda w: m.declare_profile(w.consultation, w.participant("r-1"), person("r-1"), occupation="employed"),
    ),
}
OPERATION_CASES = [(name, status) for name in OPERATIONS for status in m.STATUSES]


@pytest.mark.parametrize(("operation", "status"), OPERATION_CASES)
def test_each_operation_is_allowed_only_from_its_statuses(operation, status):
    allowed, leads_to, run = OPERATIONS[operation]
    w = world(status)
    if status in allowed:
        result = run(w)
        if leads_to is not None:
            moved, transition = result
            assert moved.status == leads_to
            assert (transition.from_status, transition.to_status) == (status, leads_to)
            assert transition.actor_id == WORKER.subject and transition.reason
    else:
        with pytest.raises(Conflict) as refused:
            run(w)
        assert chinese(refused.value)


def test_the_whole_life_is_audited_who_when_why():
    w = world("closed")
    assert [(t.from_status, t.to_status) for t in w.history] == [
        (None, "draft"),
        ("draft", "announced"),
        ("announced", "in_session"),
        ("in_session", "decided"),
        ("decided", "outcome_published"),
        ("outcome_published", "closed"),
    ]
    assert all(t.actor_id == "worker-1" and t.actor_role == "community_worker" and t.reason for t in w.history)
    assert [t.at for t in w.history] == [NOW, NOW, START, DURING, LATER, LATER + timedelta(days=1)]
    assert w.history[3].reason == "1项议题通过,1项议题转入继续协商"


# -- creating: division, scope, details, rule ------------------------------------------------------


def test_a_community_worker_creates_a_draft_for_their_community():
    consultation, transition = new_draft()
    assert consultation.status == "draft" and consultation.division_code == YANLIUYUAN
    assert consultation.level == "community" and consultation.scope == YANLIUYUAN
    assert consultation.organiser_id == "worker-1" and consultation.materials == MATERIALS
    assert consultation.rule == m.DecisionRule("consensus", None, Fraction(1, 2))
    assert transition == m.Transition(consultation.id, None, "draft", "worker-1", "community_worker", "创建协商", NOW)


@pytest.mark.parametrize("code", [CHIYANG, STREET_CODE])
def test_a_street_is_given_by_9_or_12_digits_and_stored_as_12(code):
    consultation, _ = new_draft(STREET_ADMIN, STREET, code)
    assert consultation.division_code == STREET_CODE
    assert consultation.level == "street" and consultation.scope == CHIYANG
    with pytest.raises(Forbidden):  # a community worker's scope does not cover the street
        new_draft(WORKER, STREET, code)


@pytest.mark.parametrize("principal", [WORKER, STREET_ADMIN, DISTRICT_ADMIN])
def test_organisers_whose_scope_covers_the_community(principal):
    assert new_draft(principal)[0].status == "draft"


@pytest.mark.parametrize(
    "principal",
    [
        OTHER_WORKER,  # another community
        Principal("street-2", "street_admin", "341702002"),  # another street
        RESIDENT,
        Principal("dept-1", "department", "341702"),
        Principal("sup-1", "supervisor", "3417"),
        Principal("op-1", "city_operator", "3417"),
    ],
)
def test_others_may_not_organise(principal):
    with pytest.raises(Forbidden) as refused:
        new_draft(principal)
    assert chinese(refused.value)


@pytest.mark.parametrize("code", ["12345", "341702000000", "34170200100a", "3417020010011", ""])
def test_a_malformed_division_code_is_invalid(code):
    with pytest.raises(Invalid) as refused:
        new_draft(code=code)
    assert refused.value.extra["field"] == "division_code"


@pytest.mark.parametrize(
    "division",
    [
        None,  # not in the registry
        replace(COMMUNITY, active=False),
        replace(COMMUNITY, code=XIJIE),  # the registry answered for another code
        Division("341702000000", "贵池区", "county", "341700000000", "nbs"),
    ],
)
def test_an_unknown_or_inactive_division_is_invalid(division):
    with pytest.raises(Invalid) as refused:
        new_draft(division=division)
    assert refused.value.extra["field"] == "division_code"


@pytest.mark.parametrize(
    ("changes", "field_name"),
    [
        ({"title": "  "}, "title"),
        ({"title": "<b>停车</b>"}, "title"),
        ({"title": "长" * 201}, "title"),
        ({"form": "tea_party"}, "form"),
        ({"mode": "telepathy"}, "mode"),
        ({"form": "online", "mode": "offline"}, "mode"),
        ({"starts_at": NOW}, "starts_at"),
        ({"starts_at": NOW - timedelta(days=1)}, "starts_at"),
        ({"starts_at": datetime(2024, 5, 13, 19, 0)}, "starts_at"),  # no time zone
        ({"ends_at": START}, "ends_at"),
        ({"venue": None}, "venue"),
        ({"mode": "online", "venue": None}, "online_link"),
        ({"mode": "hybrid", "online_link": "ftp://meet.example/1"}, "online_link"),
        ({"materials": ["javascript:alert(1)"]}, "materials"),
        ({"materials": [f"https://docs.example/{n}" for n in range(21)]}, "materials"),
        ({"rule": "majority"}, "rule"),
    ],
)
def test_bad_details_are_invalid(changes, field_name):
    with pytest.raises(Invalid) as refused:
        new_draft(**changes)
    assert refused.value.extra["field"] == field_name and chinese(refused.value)


def test_online_and_hybrid_consultations_carry_their_link():
    online, _ = new_draft(form="online", mode="online", venue=None, online_link="https://meet.example/abc")
    assert online.online_link == "https://meet.example/abc" and online.venue is None
    hybrid, _ = new_draft(mode="hybrid", online_link="https://meet.example/abc")
    assert hybrid.venue and hybrid.online_link


def test_decision_rules_and_their_defaults():
    assert m.decision_rule() == m.DecisionRule("consensus", None, Fraction(1, 2))
    assert m.decision_rule("consent") == m.DecisionRule("consent", None, Fraction(1, 2))
    assert m.decision_rule("qualified_majority") == m.DecisionRule("qualified_majority", Fraction(2, 3), Fraction(1, 2))
    assert m.decision_rule("qualified_majority", "3/4", "2/3") == m.DecisionRule(
        "qualified_majority", Fraction(3, 4), Fraction(2, 3)
    )
    assert m.decision_rule("qualified_majority", 0.75, 1).threshold == Fraction(3, 4)
    assert m.decision_rule("qualified_majority", 1).threshold == 1  # unanimity is a qualified majority too


@pytest.mark.parametrize(
    ("arguments", "field_name"),
    [
        (("show_of_hands",), "method"),
        (("consensus", "2/3"), "threshold"),  # only a qualified majority has a threshold
        (("qualified_majority", "1/2"), "threshold"),  # a tie is no majority
        (("qualified_majority", "101/100"), "threshold"),
        (("qualified_majority", "abc"), "threshold"),
        (("qualified_majority", "1/0"), "threshold"),
        (("qualified_majority", True), "threshold"),
        (("consensus", None, 0), "quorum"),
        (("consensus", None, "3/2"), "quorum"),
    ],
)
def test_bad_decision_rules_are_invalid(arguments, field_name):
    with pytest.raises(Invalid) as refused:
        m.decision_rule(*arguments)
    assert refused.value.extra["field"] == field_name


def test_the_rule_and_details_change_only_in_draft():
    consultation = world("draft").consultation
    rule = m.decision_rule("qualified_majority", "3/4")
    revised = m.revise(consultation, WORKER, NOW, rule=rule, title="停车难第二次协商")
    assert revised.rule == rule and revised.title == "停车难第二次协商" and revised.topics == consultation.topics
    with pytest.raises(Invalid):
        m.revise(consultation, WORKER, NOW, mode="online")  # no link
    with pytest.raises(Forbidden):
        m.revise(consultation, OTHER_WORKER, NOW, title="x")
    with pytest.raises(Conflict):
        m.revise(world("announced").consultation, WORKER, NOW, rule=rule)
    with pytest.raises(TypeError):  # a programming error, not a request to answer
        m.revise(consultation, WORKER, NOW, status="decided")


# -- topics and invitations ------------------------------------------------------------------------


def test_topics_keep_their_origin():
    consultation = world("draft").consultation
    parking, works = consultation.topics
    assert (parking.origin, parking.proposal_id) == ("resident", "proposal-1")
    assert (works.origin, works.proposal_id) == ("top_down", None)
    assert consultation.proposal_ids == ("proposal-1",)
    removed = m.remove_topic(consultation, WORKER, NOW, works.id)
    assert removed.topics == (parking,)


@pytest.mark.parametrize(
    ("changes", "problem", "field_name"),
    [
        ({"origin": "resident", "proposal_id": None}, Invalid, "proposal_id"),
        ({"origin": "resident", "proposal_id": "proposal-1"}, Conflict, "proposal_id"),  # already on the agenda
        ({"origin": "from_the_sky"}, Invalid, "origin"),
        ({"title": " "}, Invalid, "title"),
    ],
)
def test_bad_topics(changes, problem, field_name):
    consultation = world("draft").consultation
    arguments = {"title": "议题", "origin": "top_down", **changes}
    with pytest.raises(problem) as refused:
        m.add_topic(consultation, WORKER, NOW, **arguments)
    assert refused.value.extra["field"] == field_name


def test_topics_are_limited_and_removing_an_unknown_one_is_not_found():
    consultation = world("draft").consultation
    for n in range(m.MAX_TOPICS - 2):
        consultation = m.add_topic(consultation, WORKER, NOW, title=f"议题{n}", origin="top_down")
    with pytest.raises(Invalid):
        m.add_topic(consultation, WORKER, NOW, title="再一个", origin="top_down")
    with pytest.raises(NotFound):
        m.remove_topic(consultation, WORKER, NOW, "no-such-topic")


def test_invitations_by_category_once_per_person():
    w = world("draft")
    assert [(p.id, p.category, p.rsvp, p.attended) for p in w.people] == [
        ("r-1", "resident_representative", "pending", False),
        ("r-2", "party_member", "pending", False),
        ("o-1", "social_organisation", "pending", False),
    ]
    with pytest.raises(Conflict):
        m.invite(w.consultation, w.people, WORKER, NOW, person_id="r-1", category="expert", homes=HOMES)
    with pytest.raises(Invalid) as refused:
        m.invite(w.consultation, w.people, WORKER, NOW, person_id="n-1", category="celebrity", homes=HOMES)
    assert refused.value.extra["field"] == "category"
    with pytest.raises(Forbidden):
        m.invite(w.consultation, w.people, RESIDENT, NOW, person_id="n-1", category="expert", homes=HOMES)
    assert set(m.CATEGORIES) >= {"npc_deputy", "cppcc_member", "property_management", "owners_committee"}


UNKNOWN, ELSEWHERE = "联系人名录", "不是本协商所在区域的居民"  # the two refusals, as their messages say


@pytest.mark.parametrize(
    ("homes", "category", "division", "refusal"),
    [
        ((), "expert", YANLIUYUAN, UNKNOWN),  # nobody the directory knows ("nobody-at-all")
        ((YANLIUYUAN,), "resident_representative", YANLIUYUAN, None),
        ((XIJIE,), "resident_representative", YANLIUYUAN, ELSEWHERE),  # a resident of another community
        ((XIJIE,), "party_member", YANLIUYUAN, ELSEWHERE),
        ((XIJIE, YANLIUYUAN), "owners_committee", YANLIUYUAN, None),  # one of their contacts is here
        ((XIJIE,), "resident_representative", STREET_CODE, None),  # a street's consultation: its communities
        ((QIUPU,), "resident_representative", STREET_CODE, ELSEWHERE),  # another street
        ((QIUPU,), "expert", YANLIUYUAN, None),  # from elsewhere in the district, for what they bring
        ((QIUPU,), "department", YANLIUYUAN, None),
        (("341723001001",), "expert", YANLIUYUAN, UNKNOWN),  # another county
        (("341723001001",), "stakeholder", YANLIUYUAN, UNKNOWN),
    ],
)
def test_only_people_the_directory_knows_are_invited_those_of_the_area_from_it(homes, category, division, refusal):
    street = division == STREET_CODE
    consultation, _ = new_draft(STREET_ADMIN, STREET, STREET_CODE) if street else new_draft()
    organiser = STREET_ADMIN if street else WORKER
    invite = partial(m.invite, consultation, [], organiser, NOW, person_id="p-7", category=category, homes=homes)
    if refusal is None:
        participant = invite()
        assert (participant.id, participant.category) == ("p-7", category)
        return
    with pytest.raises(Invalid) as refused:
        invite()
    assert (refused.value.extra["field"], refused.value.extra["person_id"]) == ("person_id", "p-7")
    assert "p-7" in refused.value.detail and refusal in refused.value.detail


# -- announcing: checklist and notice --------------------------------------------------------------


def test_announcing_needs_topics_participants_and_materials():
    bare, _ = new_draft(materials=())
    assert m.checklist(bare, [], START - timedelta(days=1), 3) == {
        "topics": "至少一个议题",
        "participants": "邀请参会人",
        "materials": "协商材料",
        "notice": "开始时间距公告至少3天",
    }
    with pytest.raises(Conflict) as refused:
        m.announce(bare, [], WORKER, NOW)
    assert refused.value.extra["missing"] == ["topics", "participants", "materials"]
    assert "至少一个议题" in refused.value.detail
    w = world("draft")
    assert m.checklist(w.consultation, w.people, NOW, 3) == {}


@pytest.mark.parametrize(
    ("form", "notice_days", "before_start", "ok"),
    [
        ("community_council", None, timedelta(days=3), True),  # exactly the default notice
        ("community_council", None, timedelta(days=3) - timedelta(minutes=1), False),
        ("hearing", None, timedelta(days=7), True),
        ("hearing", None, timedelta(days=6, hours=23), False),
        ("community_council", 5, timedelta(days=4), False),  # a configured, longer notice
        ("community_council", 0, timedelta(minutes=1), True),
    ],
)
def test_the_notice_period_before_the_start(form, notice_days, before_start, ok):
    w = world("draft", form=form)
    now = START - before_start
    if ok:
        announced, transition = m.announce(w.consultation, w.people, WORKER, now, notice_days)
        assert announced.status == "announced" and announced.announced_at == now
        assert transition.reason.startswith("发布公告")
    else:
        with pytest.raises(Invalid) as refused:
            m.announce(w.consultation, w.people, WORKER, now, notice_days)
        assert refused.value.extra["field"] == "starts_at" and "提前" in refused.value.detail


def test_notice_days_by_form_and_settings():
    assert m.notice_days_for("community_council") == 3
    assert m.notice_days_for("hearing") == 7
    assert m.notice_days_for("dialogue", default=5, hearing=10) == 5
    assert m.notice_days_for("hearing", default=5, hearing=10) == 10


def test_an_attendance_code_for_offline_and_hybrid_consultations_only():
    offline = world("announced").consultation
    assert re.fullmatch(r"\d{6}", offline.attendance_code)
    hybrid = world("announced", mode="hybrid", online_link="https://meet.example/1").consultation
    assert re.fullmatch(r"\d{6}", hybrid.attendance_code)
    online = world("announced", form="online", mode="online", venue=None, online_link="https://meet.example/1")
    assert online.consultation.attendance_code is None
    codes = {m.new_attendance_code() for _ in range(50)}
    assert all(re.fullmatch(r"\d{6}", code) for code in codes) and len(codes) > 1


def test_postponing_keeps_announced_counts_the_notice_again_and_is_audited():
    announced = world("announced").consultation
    later = START + timedelta(days=2)
    postponed, transition = m.postpone(announced, WORKER, NOW, starts_at=later, reason="暴雨预警")
    assert postponed.status == "announced" and postponed.starts_at == later and postponed.announced_at == NOW
    assert (transition.from_status, transition.to_status) == ("announced", "announced")
    assert "暴雨预警" in transition.reason and "2024-05-16 03:00(北京时间)" in transition.reason
    # Postponing two days before the start to a day later leaves three days of notice: not enough.
    two_days_before = START - timedelta(days=2)
    with pytest.raises(Invalid) as refused:
        m.postpone(announced, WORKER, two_days_before, starts_at=START + timedelta(hours=23), reason="暴雨")
    assert refused.value.extra["field"] == "starts_at"
    exactly, _ = m.postpone(
        announced, WORKER, two_days_before, starts_at=two_days_before + timedelta(days=3), reason="暴雨"
    )
    assert exactly.starts_at == START + timedelta(days=1)


def test_relocating_keeps_the_time_needs_what_the_mode_needs_and_is_audited():
    announced = world("announced").consultation
    moved, transition = m.relocate(announced, WORKER, NOW, venue="小学礼堂", online_link=None, reason="议事厅维修")
    assert (moved.status, moved.venue, moved.starts_at) == ("announced", "小学礼堂", announced.starts_at)
    assert "议事厅维修" in transition.reason and "小学礼堂" in transition.reason
    refusals = ((None, "维修", "venue"), ("烟柳园社区议事厅", "维修", "venue"), ("礼堂", " ", "reason"))
    for venue, reason, field_name in refusals:
        with pytest.raises(Invalid) as refused:  # offline needs a venue; a new one; and a reason
            m.relocate(announced, WORKER, NOW, venue=venue, online_link=None, reason=reason)
        assert refused.value.extra["field"] == field_name and chinese(refused.value)
    online = world("announced", form="online", mode="online", venue=None,
                   online_link="https://meet.example/a").consultation  # fmt: skip
    moved, _ = m.relocate(online, WORKER, NOW, venue="礼堂", online_link="https://meet.example/b", reason="换平台")
    assert (moved.venue, moved.online_link) == (None, "https://meet.example/b")
    with pytest.raises(Forbidden):
        m.relocate(announced, OTHER_WORKER, NOW, venue="礼堂", online_link=None, reason="维修")


def test_postponing_shifts_the_end_and_needs_a_later_start_and_a_reason():
    w = world("draft", ends_at=START + timedelta(hours=2))
    announced, _ = m.announce(w.consultation, w.people, WORKER, NOW)
    postponed, _ = m.postpone(announced, WORKER, NOW, starts_at=START + timedelta(days=1), reason="暴雨")
    assert postponed.ends_at == START + timedelta(days=1, hours=2)
    with pytest.raises(Invalid):
        m.postpone(announced, WORKER, NOW, starts_at=START - timedelta(hours=1), reason="提前")
    with pytest.raises(Invalid) as ends_first:
        m.postpone(announced, WORKER, NOW, starts_at=START + timedelta(days=1), ends_at=START, reason="暴雨")
    assert ends_first.value.extra["field"] == "ends_at"
    with pytest.raises(Invalid) as refused:
        m.postpone(announced, WORKER, NOW, starts_at=START + timedelta(days=1), reason="  ")
    assert refused.value.extra["field"] == "reason"
    with pytest.raises(Forbidden):
        m.postpone(announced, OTHER_WORKER, NOW, starts_at=START + timedelta(days=1), reason="暴雨")


@pytest.mark.parametrize("status", ["draft", "announced"])
def test_cancelling_needs_a_reason_and_everyone_invited_is_told(status):
    w = world(status)
    with pytest.raises(Invalid) as refused:
        m.cancel(w.consultation, WORKER, NOW, "")
    assert refused.value.extra["field"] == "reason"
    cancelled, transition = m.cancel(w.consultation, WORKER, NOW, "议题已由物业解决")
    assert cancelled.status == "cancelled" and cancelled.cancel_reason == "议题已由物业解决"
    assert transition.reason == "议题已由物业解决"
    declined = replace(w.people[0], rsvp="declined")
    assert m.invitees([declined, *w.people[1:]]) == ("r-1", "r-2", "o-1")


# -- participants: RSVP, profile, sign-in ----------------------------------------------------------


def test_rsvp_by_the_invited_person_who_may_change_their_mind():
    w = world("announced")
    r1 = w.participant("r-1")
    accepted = m.rsvp(w.consultation, r1, person("r-1"), NOW, "accepted")
    assert (accepted.rsvp, accepted.rsvp_at) == ("accepted", NOW)
    assert m.rsvp(w.consultation, accepted, person("r-1"), LATER, "declined").rsvp == "declined"
    with pytest.raises(Invalid):
        m.rsvp(w.consultation, r1, person("r-1"), NOW, "pending")
    with pytest.raises(Forbidden):
        m.rsvp(w.consultation, r1, person("r-2"), NOW, "accepted")  # someone else's invitation
    with pytest.raises(Forbidden):
        m.rsvp(w.consultation, None, RESIDENT, NOW, "accepted")  # not invited


def test_a_profile_is_self_declared_and_optional():
    w = world("announced")
    r1 = w.participant("r-1")
    declared = m.declare_profile(w.consultation, r1, person("r-1"), age_band="30_44", occupation="employed")
    assert declared.profile == Profile("30_44", "employed", None)
    for name, value in [("age_band", "40"), ("occupation", "astronaut"), ("stakeholder_type", "alien")]:
        with pytest.raises(Invalid) as refused:
            m.declare_profile(w.consultation, r1, person("r-1"), **{name: value})
        assert refused.value.extra["field"] == name
    with pytest.raises(Forbidden):
        m.declare_profile(w.consultation, r1, WORKER, occupation="retired")


@pytest.mark.parametrize(
    ("before_start", "ok"),
    [
        (timedelta(hours=1), True),  # the sign-in opens one hour before the start
        (timedelta(hours=1, seconds=1), False),
        (timedelta(0), True),
        (-timedelta(hours=1), True),  # late, the session not yet opened
    ],
)
def test_signing_in_opens_one_hour_before_the_start(before_start, ok):
    w = world("announced")
    r1, at = w.participant("r-1"), START - before_start
    if ok:
        signed = m.sign_in(w.consultation, r1, person("r-1"), at, w.consultation.attendance_code)
        assert (signed.attended, signed.attended_at, signed.attended_via) == (True, at, "offline")
    else:
        with pytest.raises(Conflict) as refused:
            m.sign_in(w.consultation, r1, person("r-1"), at, w.consultation.attendance_code)
        assert "签到尚未开始" in refused.value.detail


def test_signing_in_needs_the_right_code_and_ones_own_invitation():
    w = world("in_session")
    code = w.consultation.attendance_code
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    fresh = replace(w.participant("r-1"), attended=False, attended_at=None, attended_via=None)
    with pytest.raises(Invalid) as refused:
        m.sign_in(w.consultation, fresh, person("r-1"), DURING, wrong)
    assert refused.value.extra["field"] == "code"
    with pytest.raises(Forbidden):
        m.sign_in(w.consultation, fresh, person("r-2"), DURING, code)
    with pytest.raises(Forbidden):
        m.sign_in(w.consultation, None, RESIDENT, DURING, code)
    assert m.sign_in(w.consultation, fresh, person("r-1"), DURING, f" {code} ").attended  # spaces trimmed
    already = w.participant("r-1")
    assert m.sign_in(w.consultation, already, person("r-1"), LATER, code) == already  # again: no change


def test_joining_online_counts_as_attending():
    w = world("announced", mode="hybrid", online_link="https://meet.example/1")
    joined = m.join_online(w.consultation, w.participant("r-1"), person("r-1"), START)
    assert (joined.attended, joined.attended_via) == (True, "online")
    assert m.join_online(w.consultation, joined, person("r-1"), DURING) == joined
    with pytest.raises(Conflict):
        m.join_online(w.consultation, w.participant("r-2"), person("r-2"), NOW)  # too early
    offline = world("announced")
    with pytest.raises(Conflict):
        m.join_online(offline.consultation, offline.participant("r-1"), person("r-1"), START)
    online = world("announced", form="online", mode="online", venue=None, online_link="https://meet.example/1")
    with pytest.raises(Conflict):
        m.sign_in(online.consultation, online.participant("r-1"), person("r-1"), START, "000000")
    decided = world("decided", mode="hybrid", online_link="https://meet.example/1").consultation
    with pytest.raises(Conflict):
        m.join_online(decided, joined, person("r-1"), LATER)


# -- deliberation ----------------------------------------------------------------------------------


def test_rounds_are_numbered_and_do_not_overlap():
    w = world("announced")
    first = w.rounds[0]
    assert (first.number, first.opens_at, first.summary) == (1, NOW, None)
    second = m.open_round(w.consultation, w.rounds, WORKER, NOW, opens_at=first.closes_at, closes_at=LATER)
    assert second.number == 2
    with pytest.raises(Invalid) as overlapping:
        m.open_round(
            w.consultation, w.rounds, WORKER, NOW, opens_at=first.closes_at - timedelta(minutes=1), closes_at=LATER
        )
    assert overlapping.value.extra["field"] == "opens_at"
    with pytest.raises(Invalid):
        m.open_round(w.consultation, [], WORKER, NOW, opens_at=LATER, closes_at=LATER)
    with pytest.raises(Invalid):
        m.open_round(w.consultation, [], WORKER, NOW, opens_at=NOW - timedelta(days=2), closes_at=NOW)
    with pytest.raises(Forbidden):
        m.open_round(w.consultation, [], RESIDENT, NOW, opens_at=LATER, closes_at=LATER + timedelta(hours=1))


def opinion(w, principal=RESIDENT, participant=None, at=DURING, topic=0, **changes):
    arguments = {"topic_id": w.topics[topic].id, "stance": "concern", "text": "担心施工噪音", **changes}
    return m.post_opinion(w.consultation, w.rounds, participant, principal, at, **arguments)


def test_residents_of_the_community_post_opinions_per_topic_with_a_stance():
    w = world("announced")
    posted = opinion(w)
    assert (posted.round_number, posted.author_id, posted.stance, posted.hidden) == (1, "resident-9", "concern", False)
    assert posted.topic_id == w.topics[0].id and posted.parent_id is None
    reply = opinion(w, principal=person("resident-8"), stance="proposal", text="建议白天施工", parent=posted)
    assert reply.parent_id == posted.id
    assert set(m.STANCES) == {"support", "oppose", "concern", "proposal"}


def test_who_may_post_an_opinion():
    w = world("in_session")
    expert = Principal("e-1", "department", "341702")
    expert_invitation = m.Participant(w.consultation.id, "e-1", "expert", NOW)
    assert opinion(w, principal=expert, participant=expert_invitation).author_id == "e-1"
    with pytest.raises(Forbidden):
        opinion(w, principal=expert)  # not invited, not a resident
    with pytest.raises(Forbidden):
        opinion(w, principal=Principal("far-1", "resident", QIUPU))
    with pytest.raises(Forbidden):
        opinion(w, principal=Principal("x-1", "resident", XIJIE))  # a neighbouring community
    with pytest.raises(Forbidden):
        opinion(w, principal=WORKER)  # organisers summarise; they are not residents here
    with pytest.raises(Forbidden):  # someone else's invitation
        opinion(w, principal=Principal("r-2", "department", "341702"), participant=w.participant("r-1"))


def test_a_street_consultation_hears_the_residents_of_its_communities():
    consultation, _ = new_draft(STREET_ADMIN, STREET, CHIYANG)
    consultation = with_topics(consultation, STREET_ADMIN)
    people = invited(consultation, principal=STREET_ADMIN)
    announced, _ = m.announce(consultation, people, STREET_ADMIN, NOW)
    rounds = [m.open_round(announced, [], STREET_ADMIN, NOW, opens_at=NOW, closes_at=START)]
    for scope in (YANLIUYUAN, XIJIE):
        resident = Principal(f"res-{scope}", "resident", scope)
        posted = m.post_opinion(
            announced, rounds, None, resident, NOW, topic_id=announced.topics[0].id, stance="support", text="支持"
        )
        assert posted.author_id == resident.subject
    outsider = Principal("q", "resident", QIUPU)
    with pytest.raises(Forbidden):
        m.post_opinion(
            announced, rounds, None, outsider, NOW, topic_id=announced.topics[0].id, stance="support", text="x"
        )


def test_opinions_only_while_a_round_is_open():
    w = world("announced")
    first = w.rounds[0]
    assert opinion(w, at=first.opens_at).round_number == 1
    for at in (first.opens_at - timedelta(seconds=1), first.closes_at):
        with pytest.raises(Conflict) as refused:
            opinion(w, at=at)
        assert "轮次" in refused.value.detail


@pytest.mark.parametrize(
    ("changes", "problem", "field_name"),
    [
        ({"stance": "love"}, Invalid, "stance"),
        ({"topic_id": "other-topic"}, Invalid, "topic_id"),
        ({"text": ""}, Invalid, "text"),
        ({"text": "<script>alert(1)</script>"}, Invalid, "text"),
        ({"text": "长" * 2001}, Invalid, "text"),
    ],
)
def test_bad_opinions(changes, problem, field_name):
    w = world("in_session")
    with pytest.raises(problem) as refused:
        opinion(w, **changes)
    assert refused.value.extra["field"] == field_name


def test_replies_stay_on_their_topic_and_not_under_hidden_opinions():
    w = world("in_session")
    parent = opinion(w, topic=0)
    with pytest.raises(Invalid) as refused:
        opinion(w, topic=1, parent=parent)
    assert refused.value.extra["field"] == "parent_id"
    hidden, _ = m.hide_opinion(w.consultation, parent, WORKER, DURING, "含有他人电话号码")
    with pytest.raises(Conflict):
        opinion(w, topic=0, parent=hidden)


def test_hiding_an_opinion_needs_an_organiser_and_a_reason_and_is_audited():
    w = world("in_session")
    posted = opinion(w)
    hidden, record = m.hide_opinion(w.consultation, posted, WORKER, DURING, "人身攻击")
    assert (hidden.hidden, hidden.hidden_reason, hidden.text) == (True, "人身攻击", posted.text)
    assert record == m.Moderation(
        w.consultation.id, posted.id, "hide", "worker-1", "community_worker", "人身攻击", DURING
    )
    with pytest.raises(Conflict):
        m.hide_opinion(w.consultation, hidden, WORKER, DURING, "再次")
    with pytest.raises(Invalid):
        m.hide_opinion(w.consultation, posted, WORKER, DURING, " ")
    for someone in (RESIDENT, OTHER_WORKER):
        with pytest.raises(Forbidden):
            m.hide_opinion(w.consultation, posted, someone, DURING, "不喜欢")
    with pytest.raises(NotFound):
        m.hide_opinion(world("in_session").consultation, posted, WORKER, DURING, "人身攻击")


def test_a_round_is_summarised_once_after_it_closes():
    w = world("in_session")
    first = w.rounds[0]
    with pytest.raises(Conflict):
        m.summarise_round(w.consultation, first, WORKER, first.closes_at - timedelta(seconds=1), "总结")
    summarised = m.summarise_round(w.consultation, first, WORKER, first.closes_at, "多数支持,少数担心噪音")
    assert (summarised.summary, summarised.summarised_by, summarised.summarised_at) == (
        "多数支持,少数担心噪音",
        "worker-1",
        first.closes_at,
    )
    with pytest.raises(Conflict):
        m.summarise_round(w.consultation, summarised, WORKER, LATER, "再总结")
    with pytest.raises(Invalid):
        m.summarise_round(w.consultation, first, WORKER, LATER, "")
    with pytest.raises(Forbidden):
        m.summarise_round(w.consultation, first, RESIDENT, LATER, "总结")


# -- voting ----------------------------------------------------------------------------------------


def cast(w, person_id, choice="support", topic=0, reason=None, votes=None):
    return m.cast_vote(
        w.consultation,
        w.participant(person_id) if person_id in {p.id for p in w.people} else None,
        w.votes if votes is None else votes,
        person(person_id),
        DURING,
        topic_id=w.topics[topic].id,
        choice=choice,
        reason=reason,
    )


def test_a_signed_in_participant_votes_once_per_topic():
    w = world("in_session")
    first = cast(w, "r-1")
    assert first == Vote(w.consultation.id, w.topics[0].id, "r-1", "support", DURING, None)
    with pytest.raises(Conflict) as twice:
        cast(w, "r-1", "oppose", votes=[first])
    assert "重复" in twice.value.detail
    assert cast(w, "r-1", topic=1, votes=[first]).topic_id == w.topics[1].id  # another topic


def test_who_may_not_vote():
    w = world("in_session")
    with pytest.raises(Forbidden):
        cast(w, "stranger")  # not a participant
    w.people = [replace(p, attended=False) if p.id == "r-2" else p for p in w.people]
    with pytest.raises(Forbidden) as not_signed:
        cast(w, "r-2")
    assert "签到" in not_signed.value.detail
    with pytest.raises(Forbidden):  # a worker cannot vote with someone's invitation
        m.cast_vote(w.consultation, w.participant("r-1"), [], WORKER, DURING, topic_id=w.topics[0].id, choice="support")


@pytest.mark.parametrize(
    ("changes", "field_name"),
    [
        ({"choice": "maybe"}, "choice"),
        ({"choice": "block"}, "reason"),  # a blocking objection gives its reason
        ({"choice": "block", "reason": "  "}, "reason"),
        ({"reason": "<b>x</b>"}, "reason"),
    ],
)
def test_bad_votes(changes, field_name):
    w = world("in_session")
    with pytest.raises(Invalid) as refused:
        cast(w, "r-1", **changes)
    assert refused.value.extra["field"] == field_name
    with pytest.raises(Invalid) as unknown_topic:
        m.cast_vote(w.consultation, w.participant("r-1"), [], person("r-1"), DURING, topic_id="x", choice="support")
    assert unknown_topic.value.extra["field"] == "topic_id"


# -- tally: each method at its edges ---------------------------------------------------------------

CONSENSUS = m.decision_rule("consensus")
CONSENT = m.decision_rule("consent")
TWO_THIRDS = m.decision_rule("qualified_majority")
THREE_QUARTERS = m.decision_rule("qualified_majority", "3/4")


def ballots(*choices):
    return [
        vote("t", f"p-{n}", choice, reason="理由" if choice == "block" else None) for n, choice in enumerate(choices)
    ]


@pytest.mark.parametrize(
    ("rule", "attendees", "choices", "adopted"),
    [
        # consensus: support and no objection at all
        (CONSENSUS, 3, ["support", "support", "support"], True),
        (CONSENSUS, 3, ["support", "support", "abstain"], True),
        (CONSENSUS, 5, ["support"], True),  # silence is no objection
        (CONSENSUS, 3, ["support", "support", "oppose"], False),  # one objection
        (CONSENSUS, 3, ["support", "support", "block"], False),
        (CONSENSUS, 3, ["abstain", "abstain"], False),  # nobody supports
        (CONSENSUS, 3, [], False),
        # consent: support and no blocking objection
        (CONSENT, 3, ["support", "support", "oppose"], True),  # an objection that does not block
        (CONSENT, 3, ["support", "oppose", "oppose"], True),
        (CONSENT, 3, ["support", "support", "block"], False),  # one blocking objection
        (CONSENT, 3, ["oppose", "abstain"], False),
        # qualified majority: support / attendees ≥ threshold, exactly
        (TWO_THIRDS, 9, ["support"] * 6 + ["oppose"] * 3, True),  # exactly 2/3
        (TWO_THIRDS, 9, ["support"] * 5 + ["oppose"] * 4, False),  # one vote short
        (TWO_THIRDS, 9, ["support"] * 6, True),
        (TWO_THIRDS, 9, ["support"] * 5 + ["abstain"] * 4, False),  # abstaining is not supporting
        (TWO_THIRDS, 10, ["support"] * 6 + ["oppose"] * 4, False),  # 3/5 < 2/3 though 6 of 10 voted yes
        (TWO_THIRDS, 10, ["support"] * 7, True),
        (TWO_THIRDS, 3, ["support", "support", "block"], True),  # a block is only an oppose here
        (TWO_THIRDS, 0, [], False),
        (THREE_QUARTERS, 4, ["support"] * 3 + ["oppose"], True),
        (THREE_QUARTERS, 4, ["support"] * 2 + ["oppose"] * 2, False),
        (THREE_QUARTERS, 8, ["support"] * 5 + ["oppose"] * 3, False),
    ],
)
def test_each_method_at_its_edges(rule, attendees, choices, adopted):
    result = m.tally(rule, attendees, ballots(*choices), "t")
    assert result.adopted is adopted
    assert (result.support, result.oppose, result.abstain, result.block) == tuple(
        choices.count(c) for c in ("support", "oppose", "abstain", "block")
    )


def test_dissent_is_kept_with_its_reasons_in_the_order_cast():
    votes = [
        vote("t", "p-3", "block", "占用消防通道", at=DURING + timedelta(minutes=2)),
        vote("t", "p-1", "oppose", "费用太高", at=DURING),
        vote("t", "p-2", "support", at=DURING + timedelta(minutes=1)),
        vote("t", "p-4", "oppose", at=DURING + timedelta(minutes=3)),
        vote("other", "p-1", "oppose", "另一个议题"),
    ]
    result = m.tally(CONSENT, 4, votes, "t")
    assert result == m.TopicResult(
        "t", False, 1, 2, 0, 1, (("p-1", "费用太高"), ("p-3", "占用消防通道"), ("p-4", None))
    )


@pytest.mark.parametrize(
    ("quorum", "invited", "attendees", "met"),
    [
        (Fraction(1, 2), 4, 2, True),  # exactly half
        (Fraction(1, 2), 4, 1, False),  # one short
        (Fraction(1, 2), 5, 3, True),
        (Fraction(1, 2), 5, 2, False),
        (Fraction(2, 3), 6, 4, True),
        (Fraction(2, 3), 6, 3, False),
        (Fraction(1), 3, 3, True),
        (Fraction(1, 2), 0, 0, False),
    ],
)
def test_quorum_at_its_edges(quorum, invited, attendees, met):
    assert m.quorum_met(m.DecisionRule("consensus", None, quorum), invited, attendees) is met


# -- deciding --------------------------------------------------------------------------------------


def test_decided_when_a_topic_is_adopted_the_others_go_to_further_consultation():
    w = world("decided")
    parking, works = w.topics
    c = w.consultation
    assert c.status == "decided" and c.decision == "decided"
    assert c.results == (
        m.TopicResult(parking.id, True, 3, 0, 0, 0, ()),
        m.TopicResult(works.id, False, 1, 1, 1, 0, (("r-2", "夜间施工影响休息"),)),
    )
    assert c.adopted_topic_ids == (parking.id,)
    assert c.adopted_proposal_ids == ("proposal-1",) and c.further_proposal_ids == ()


def test_no_consensus_when_no_topic_is_adopted():
    w = world("in_session")
    votes = [vote(t.id, "r-1", "support") for t in w.topics] + [vote(t.id, "r-2", "oppose") for t in w.topics]
    decided, transition = m.decide(w.consultation, w.people, votes, WORKER, DURING)
    assert decided.status == decided.decision == "no_consensus"
    assert transition.reason == "0项议题通过,2项议题转入继续协商"
    assert decided.adopted_topic_ids == () and decided.further_proposal_ids == ("proposal-1",)


@pytest.mark.parametrize(("signed_in", "ok"), [(2, True), (1, False)])
def test_no_decision_without_quorum(signed_in, ok):
    w = world("in_session")
    w.people = [replace(p, attended=n < signed_in) for n, p in enumerate([*w.people, w.people[0]])]
    w.people[-1] = replace(w.people[-1], id="r-4")  # four invited, quorum 1/2: two must sign in
    votes = [vote(w.topics[0].id, "r-1", "support")]
    if ok:
        assert m.decide(w.consultation, w.people, votes, WORKER, DURING)[0].status == "decided"
    else:
        with pytest.raises(Conflict) as refused:
            m.decide(w.consultation, w.people, votes, WORKER, DURING)
        assert "法定人数" in refused.value.detail
        assert (refused.value.extra["invited"], refused.value.extra["attendees"]) == (4, 1)


def test_a_qualified_majority_counts_against_the_attendees():
    w = world("draft", rule=m.decision_rule("qualified_majority"))
    w.people = invited(w.consultation, [(f"p-{n}", "resident_representative") for n in range(4)])
    announced, _ = m.announce(w.consultation, w.people, WORKER, NOW)
    session, _ = m.start(announced, WORKER, START)
    attendees = [replace(p, attended=True) for p in w.people[:3]] + [w.people[3]]
    support = [vote(session.topics[0].id, "p-0", "support"), vote(session.topics[0].id, "p-1", "support")]
    decided, _ = m.decide(session, attendees, support, WORKER, DURING)
    assert decided.adopted_topic_ids == (session.topics[0].id,)  # 2 of 3 attendees: exactly 2/3
    short, _ = m.decide(session, [replace(p, attended=True) for p in w.people], support, WORKER, DURING)
    assert short.status == "no_consensus"  # 2 of 4 attendees


def test_no_consensus_may_be_declared_instead_of_forcing_a_vote():
    w = world("in_session")
    absent = [replace(p, attended=False) for p in w.people]
    with pytest.raises(Conflict):
        m.decide(w.consultation, absent, [], WORKER, DURING)
    with pytest.raises(Invalid):
        m.declare_no_consensus(w.consultation, WORKER, DURING, "")
    ended, transition = m.declare_no_consensus(w.consultation, WORKER, DURING, "分歧较大,补充调研后再议")
    assert ended.status == ended.decision == "no_consensus" and ended.results == ()
    assert transition.reason == "分歧较大,补充调研后再议"


def test_the_session_opens_at_the_announced_time_not_before():
    announced = world("announced").consultation
    with pytest.raises(Conflict):
        m.start(announced, WORKER, START - timedelta(seconds=1))
    with pytest.raises(Forbidden):
        m.start(announced, RESIDENT, START)
    assert m.start(announced, STREET_ADMIN, START)[0].status == "in_session"


# -- the outcome -----------------------------------------------------------------------------------


def publish(w, **changes):
    parking = w.topics[0].id
    arguments = {
        "minutes": "会议纪要",
        "resolutions": [resolution(parking, "dept-housing", date(2024, 6, 30), "建设临时停车场")],
        "explanation": "夜间施工另行协商",
        "organisations": ORGANISATIONS,
        **changes,
    }
    return m.publish_outcome(w.consultation, WORKER, LATER, **arguments)


def test_publishing_a_decision_with_its_resolutions():
    w = world("decided")
    published, transition = publish(w)
    assert published.status == "outcome_published" and published.published_at == LATER
    assert published.decision == "decided" and published.minutes == "会议纪要"
    [resolution] = published.resolutions
    assert (resolution.topic_id, resolution.organisation_id, resolution.responsible_party, resolution.deadline) == (
        w.topics[0].id,
        "dept-housing",
        "贵池区住房和城乡建设局",  # the registry's name
        date(2024, 6, 30),
    )
    assert (transition.from_status, transition.to_status, transition.reason) == (
        "decided",
        "outcome_published",
        "公开协商结果",
    )


@pytest.mark.parametrize(
    ("changes", "field_name"),
    [
        ({"resolutions": []}, "resolutions"),  # the adopted topic has no resolution
        ({"minutes": " "}, "minutes"),
        ({"explanation": None}, "explanation"),  # someone dissented: they are owed an explanation
        ({"resolutions": "not adopted"}, "resolutions"),
        ({"resolutions": "yesterday"}, "resolutions"),
        ({"resolutions": "no organisation"}, "resolutions"),
        ({"resolutions": "unregistered"}, "resolutions"),
        ({"resolutions": "no agreement"}, "resolutions"),
        ({"resolutions": "not a date"}, "resolutions"),
    ],
)
def test_a_decision_is_not_published_without_what_it_owes(changes, field_name):
    w = world("decided")
    parking, works = (t.id for t in w.topics)
    bad = {
        "not adopted": resolution(works, "dept-1", date(2024, 6, 30), "夜间停工"),
        "yesterday": resolution(parking, "dept-1", date(2024, 5, 12), "建设"),
        "no organisation": resolution(parking, None, date(2024, 6, 30), "建设"),
        "unregistered": resolution(parking, "dept-unknown", date(2024, 6, 30), "建设"),
        "no agreement": resolution(parking, "dept-1", date(2024, 6, 30), ""),
        "not a date": resolution(parking, "dept-1", datetime(2024, 6, 30, tzinfo=UTC), "建设"),
    }
    if isinstance(changes.get("resolutions"), str):
        changes = {
            "resolutions": [resolution(parking, "dept-1", date(2024, 6, 30), "建设"), bad[changes["resolutions"]]]
        }
    with pytest.raises(Invalid) as refused:
        publish(w, **changes)
    assert refused.value.extra["field"] == field_name and chinese(refused.value)


def test_a_deadline_today_is_accepted_and_dissent_free_decisions_need_no_explanation():
    w = world("in_session")
    votes = [vote(w.topics[0].id, p.id, "support") for p in w.people]
    decided, _ = m.decide(w.consultation, w.people, votes, WORKER, DURING)
    w.consultation = decided
    today = resolution(w.topics[0].id, "org-property", LATER.date(), "当天完成")
    assert publish(w, resolutions=[today], explanation=None)[0].explanation is None


def test_every_adopted_topic_needs_a_resolution():
    w = world("in_session")
    votes = [vote(t.id, p.id, "support") for t in w.topics for p in w.people]
    w.consultation, _ = m.decide(w.consultation, w.people, votes, WORKER, DURING)
    only_first = [resolution(w.topics[0].id, "dept-1", date(2024, 6, 30), "建设")]
    with pytest.raises(Invalid) as refused:
        publish(w, resolutions=only_first)
    assert refused.value.extra["topic_ids"] == [w.topics[1].id]
    both = [*only_first, resolution(w.topics[1].id, "org-property", date(2024, 7, 1), "夜间停工")]
    assert len(publish(w, resolutions=both)[0].resolutions) == 2


def test_no_consensus_is_published_with_an_explanation_and_no_resolutions():
    w = world("no_consensus")
    with pytest.raises(Invalid) as unexplained:
        publish(w, resolutions=[], explanation=None)
    assert unexplained.value.extra["field"] == "explanation"
    with pytest.raises(Invalid) as resolved:
        publish(w, explanation="再议")
    assert resolved.value.extra["field"] == "resolutions"
    published, _ = publish(w, resolutions=[], explanation="补充噪音评估后于下月再次协商")
    assert published.status == "outcome_published" and published.decision == "no_consensus"


def test_the_outcome_event_carries_resolutions_and_no_names():
    w = world("outcome_published")
    payload = m.outcome_payload(w.consultation)
    parking, works = w.topics
    [resolution] = w.consultation.resolutions
    assert payload["consultation_id"] == w.consultation.id and payload["community_code"] == YANLIUYUAN
    assert payload["decision"] == "decided" and payload["method"] == "consensus"
    assert payload["published_at"] == LATER.isoformat() and payload["proposal_ids"] == ["proposal-1"]
    assert payload["resolutions"] == [
        {
            "resolution_id": resolution.id,
            "topic_id": parking.id,
            "proposal_id": "proposal-1",
            "organisation_id": "dept-housing",
            "responsible_party": "贵池区住房和城乡建设局",
            "deadline": "2024-06-30",
            "agreed": "利用空地建设临时停车场",
        }
    ]
    assert [(t["topic_id"], t["adopted"], t["dissent_reasons"]) for t in payload["topics"]] == [
        (parking.id, True, []),
        (works.id, False, ["夜间施工影响休息"]),
    ]
    assert not {"r-1", "r-2", "o-1", "worker-1"} & set(re.findall(r"[\w-]+", repr(payload)))
    with pytest.raises(Conflict):
        m.outcome_payload(world("decided").consultation)


def test_a_further_consultation_takes_up_the_topics_not_adopted():
    decided = world("outcome_published").consultation
    further, transition = new_draft(follows=decided, starts_at=START + timedelta(days=30))
    [topic] = further.topics
    works = decided.topics[1]
    assert (topic.title, topic.origin, topic.proposal_id) == (works.title, works.origin, works.proposal_id)
    assert topic.id != works.id and further.follows_id == decided.id
    assert decided.id in transition.reason
    no_consensus = world("no_consensus").consultation
    assert [t.proposal_id for t in new_draft(follows=no_consensus)[0].topics] == ["proposal-1", None]
    with pytest.raises(Conflict):
        new_draft(follows=world("in_session").consultation)
    with pytest.raises(Invalid):
        new_draft(STREET_ADMIN, STREET, CHIYANG, follows=decided)  # another division
    all_adopted = replace(decided, results=tuple(replace(r, adopted=True) for r in decided.results))
    with pytest.raises(Conflict):
        new_draft(follows=all_adopted)


# -- quality figures -------------------------------------------------------------------------------


def attendee(person_id, category, via="offline", **profile):
    return Participant(
        "c", person_id, category, NOW, "accepted", NOW, True, START, via, Profile(**profile) if profile else None
    )


def absentee(person_id, category):
    return Participant("c", person_id, category, NOW)


def posted(n, hidden=False):
    return m.Opinion(f"o-{n}", "c", "t", 1, f"a-{n}", "support", "支持", DURING, hidden=hidden)


ROUNDS = (m.Round("c", 1, NOW, START, "总结", "worker-1", START), m.Round("c", 2, START, LATER))


def test_the_quality_figures_of_a_consultation():
    consultation = replace(world("decided").consultation, mode="hybrid")
    participants = [
        attendee(
            "p-1", "resident_representative", age_band="under_30", occupation="employed", stakeholder_type="tenant"
        ),
        attendee("p-2", "party_member", age_band="60_plus", occupation="retired", stakeholder_type="owner"),
        attendee("p-3", "social_organisation", "online", occupation="student"),
        attendee("p-4", "property_management", stakeholder_type="organisation"),
        absentee("p-5", "expert"),
    ]
    opinions = [posted(1), posted(2), posted(3, hidden=True)]
    votes = [vote("t", "p-1", "support"), vote("t", "p-2", "oppose", "贵"), vote("t", "p-3", "block", "危险")]
    figures = m.quality(consultation, participants, opinions, ROUNDS, votes)
    assert figures == m.QualityFigures(
        consultation_id=consultation.id,
        method="consensus",
        mode="hybrid",
        invited=5,
        attendees=4,
        attendance=Fraction(4, 5),
        online_attendees=1,
        share_not_retired=Fraction(2, 3),  # of the three who declared an occupation
        share_under_45=Fraction(1, 2),  # of the two who declared an age band
        categories=("party_member", "property_management", "resident_representative", "social_organisation"),
        stakeholder_types=("organisation", "owner", "tenant"),
        opinions=2,  # hidden ones do not count
        rounds=2,
        summarised_rounds=1,
        dissent=2,
        flags=(),
    )
    ids = {p.id for p in participants} | {"resident-9", "worker-1"}
    assert not ids & set(re.findall(r"[\w-]+", repr(asdict(figures))))  # no one in any figure


def test_shares_are_none_when_nobody_declared_and_attendance_none_without_invitations():
    consultation = world("in_session").consultation
    figures = m.quality(consultation, [attendee("p-1", "party_member"), attendee("p-2", "expert")], [], [], [])
    assert (figures.share_not_retired, figures.share_under_45, figures.stakeholder_types) == (None, None, ())
    assert figures.flags == ()
    assert m.quality(world("draft").consultation, [], [], [], []).attendance is None


DIVERSE = [attendee("p-1", "party_member", occupation="employed"), attendee("p-2", "expert", occupation="student")]


@pytest.mark.parametrize(
    ("status", "opinions", "rounds", "flagged"),
    [
        ("decided", [], [], True),  # decided with no recorded deliberation: 以会代议
        ("outcome_published", [], [], True),
        ("closed", [], [ROUNDS[1]], True),  # a round without a summary is no recorded deliberation
        ("no_consensus", [], [], True),
        ("decided", [posted(1, hidden=True)], [], True),  # only hidden opinions
        ("decided", [posted(1)], [], False),  # one opinion
        ("decided", [], [ROUNDS[0]], False),  # one summarised round
        ("in_session", [], [], False),  # not decided yet
        ("cancelled", [], [], False),
    ],
)
def test_the_flag_for_a_meeting_held_instead_of_deliberation(status, opinions, rounds, flagged):
    consultation = world(status).consultation
    figures = m.quality(consultation, DIVERSE, opinions, rounds, [])
    assert ("meeting_instead_of_deliberation" in figures.flags) is flagged


def mix(*occupations, categories=("party_member", "expert")):
    return [
        attendee(f"p-{n}", categories[n % len(categories)], occupation=occupation)
        for n, occupation in enumerate(occupations)
    ]


@pytest.mark.parametrize(
    ("participants", "flagged"),
    [
        (mix("employed", "retired"), False),
        (mix("employed", "retired", categories=("party_member",)), True),  # one category
        (mix("employed", "retired", "retired", "retired"), False),  # exactly 1/4 not retired
        (mix("student", "retired", "retired", "retired", "retired"), True),  # 1/5
        (mix("retired", "retired"), True),
        ([attendee("p-1", "party_member"), attendee("p-2", "expert")], False),  # nobody declared
        ([attendee("p-1", "party_member"), absentee("p-2", "expert")], True),  # only one category attended
        ([], True),
    ],
)
def test_the_flag_for_a_narrow_mix(participants, flagged):
    consultation = world("in_session").consultation
    figures = m.quality(consultation, participants, [posted(1)], [], [])
    assert ("narrow_mix" in figures.flags) is flagged


def test_no_flags_before_the_consultation_is_held():
    for status in ("draft", "announced", "cancelled"):
        assert m.quality(world(status).consultation, [], [], [], []).flags == ()
    assert set(m.FLAGS) == {"meeting_instead_of_deliberation", "narrow_mix"}


def test_the_participation_mix_counts_what_the_quality_shares_are_made_of():
    consultation = world("in_session").consultation
    participants = [
        attendee("p-1", "resident_representative", age_band="under_30", occupation="employed"),
        attendee("p-2", "party_member", age_band="60_plus", occupation="retired"),
        attendee("p-3", "social_organisation", age_band="30_44"),
        attendee("p-4", "social_organisation", occupation="student"),
        attendee("p-5", "expert"),
        absentee("p-6", "social_organisation"),  # invited, not there: not counted
    ]
    mix_ = m.participation_mix(consultation, participants)
    assert mix_ == m.ParticipationMix(
        declared_age=3, under_45=2, declared_occupation=3, not_retired=2, social_organisations=2
    )
    figures = m.quality(consultation, participants, [], [], [])
    assert figures.share_under_45 == Fraction(mix_.under_45, mix_.declared_age)
    assert figures.share_not_retired == Fraction(mix_.not_retired, mix_.declared_occupation)
    assert m.participation_mix(consultation, []) == m.ParticipationMix(0, 0, 0, 0, 0)


# -- who carries a resolution out ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("organisation_id", "community_ok", "street_ok"),
    [
        ("dept-housing", True, True),  # a district's department serves all its communities and streets
        ("street-office", True, True),  # the street's own office
        ("org-property", True, True),  # a community's property company: its community, inside its street
        ("org-xijie", False, True),  # another community of the street
        ("dept-other", False, False),  # another county
        ("dept-closed", False, False),  # no longer active
        ("dept-unknown", False, False),  # never registered
        (None, False, False),
    ],
)
def test_a_resolution_names_an_active_registered_organisation_of_the_division(organisation_id, community_ok, street_ok):
    community = world("decided").consultation
    street = replace(community, division_code=STREET_CODE)
    for consultation, ok in ((community, community_ok), (street, street_ok)):
        if ok:
            found = m.responsible_organisation(consultation, organisation_id, ORGANISATIONS)
            assert found is ORGANISATIONS[organisation_id]
        else:
            with pytest.raises(Invalid) as refused:
                m.responsible_organisation(consultation, organisation_id, ORGANISATIONS)
            assert refused.value.detail == "责任单位未登记或不在本辖区"
            assert refused.value.extra == {"field": "resolutions", "organisation_id": organisation_id}


def test_the_registrys_name_wins_over_the_one_given():
    w = world("decided")
    given = replace(resolution(w.topics[0].id, "org-property"), responsible_party="楼下物业")
    published, _ = publish(w, resolutions=[given])
    assert [(r.organisation_id, r.responsible_party) for r in published.resolutions] == [
        ("org-property", "杏花家园物业服务中心")
    ]
    with pytest.raises(Invalid) as refused:  # the replica holds nothing yet
        publish(w, resolutions=[given], organisations={})
    assert refused.value.detail == "责任单位未登记或不在本辖区"


# -- recorded afterwards (补录) -------------------------------------------------------------------------

HELD = NOW - timedelta(days=3)
ACCEPTED = m.AcceptedProposal("proposal-1", YANLIUYUAN, "空地改建停车场", "resident", "management", NOW)


def recorded(principal=WORKER, division=COMMUNITY, code=YANLIUYUAN, **changes):
    arguments = {
        "principal": principal,
        "division": division,
        "division_code": code,
        "now": NOW,
        "title": "杏花家园停车难议事会",
        "form": "community_council",
        "mode": "offline",
        "held_at": HELD,
        "venue": "烟柳园社区议事厅",
        "topics": [m.RecordedTopic(proposal_id="proposal-1"), m.RecordedTopic("夜间施工时间", adopted=False)],
        "attendance": {"resident_representative": 12, "party_member": 5, "social_organisation": 2},
        "decision": "decided",
        "minutes_url": "https://docs.example/minutes-0503.pdf",
        "resolutions": [m.RecordedResolution(0, "dept-housing", date(2024, 6, 30), "利用空地建设临时停车场")],
        "explanation": None,
        "accepted": {"proposal-1": ACCEPTED},
        "organisations": ORGANISATIONS,
        **changes,
    }
    return m.record_afterwards(**arguments)


def test_a_consultation_held_offline_is_recorded_with_its_outcome_published():
    consultation, (created, published) = recorded()
    assert consultation.recorded_afterwards and consultation.status == "outcome_published"
    assert (consultation.starts_at, consultation.published_at, consultation.organiser_id) == (HELD, NOW, "worker-1")
    assert consultation.decision == "decided" and consultation.minutes_url == "https://docs.example/minutes-0503.pdf"
    parking, works = consultation.topics
    assert (parking.title, parking.origin, parking.proposal_id) == ("空地改建停车场", "resident", "proposal-1")
    assert (works.title, works.origin, works.proposal_id) == ("夜间施工时间", "top_down", None)
    assert consultation.adopted_topic_ids == (parking.id,) and consultation.further_proposal_ids == ()
    [agreed] = consultation.resolutions
    assert (agreed.topic_id, agreed.organisation_id, agreed.responsible_party) == (
        parking.id,
        "dept-housing",
        "贵池区住房和城乡建设局",
    )
    assert dict(consultation.attendance) == {"party_member": 5, "resident_representative": 12, "social_organisation": 2}
    # Audited: created at its decision, then published, by the organiser, as 补录.
    assert [(t.from_status, t.to_status, t.reason, t.actor_id, t.at) for t in (created, published)] == [
        (None, "decided", "补录", "worker-1", NOW),
        ("decided", "outcome_published", "补录", "worker-1", NOW),
    ]
    # Public as it is recorded: residents of the community see it, others do not.
    assert m.visible_to(RESIDENT, consultation, invited=False)
    assert not m.visible_to(Principal("r-q", "resident", QIUPU), consultation, invited=False)
    payload = m.outcome_payload(consultation)
    assert payload["recorded_afterwards"] is True and payload["proposal_ids"] == ["proposal-1"]
    assert [r["organisation_id"] for r in payload["resolutions"]] == ["dept-housing"]


def test_a_recorded_consultation_without_consensus_explains_and_adopts_nothing():
    consultation, _ = recorded(
        decision="no_consensus",
        topics=[m.RecordedTopic(proposal_id="proposal-1")],
        resolutions=[],
        explanation="意见分歧较大,下月再议",
    )
    assert consultation.decision == "no_consensus" and consultation.adopted_topic_ids == ()
    assert consultation.further_proposal_ids == ("proposal-1",) and consultation.resolutions == ()
    with pytest.raises(Invalid) as unexplained:
        recorded(decision="no_consensus", topics=[m.RecordedTopic("议题")], resolutions=[])
    assert unexplained.value.extra["field"] == "explanation"


def test_a_csv_row_records_the_decision_without_resolutions_or_explanation():
    decided, _ = recorded(resolutions=None)
    assert decided.resolutions == () and decided.adopted_topic_ids == (decided.topics[0].id,)
    undecided, _ = recorded(decision="no_consensus", topics=[m.RecordedTopic("议题")], resolutions=None)
    assert undecided.explanation is None and undecided.status == "outcome_published"


@pytest.mark.parametrize(
    ("changes", "field_name"),
    [
        ({"held_at": NOW + timedelta(minutes=1)}, "held_at"),  # not held yet
        ({"held_at": datetime(2019, 5, 6, 8, 59, tzinfo=UTC)}, "held_at"),  # more than 5 years ago
        ({"held_at": datetime(2024, 5, 1, 19, 0)}, "held_at"),  # no zone
        ({"attendance": {}}, "attendance"),
        ({"attendance": {"party_member": 0}}, "attendance"),  # nobody attended
        ({"attendance": {"party_member": -1}}, "attendance"),
        ({"attendance": {"party_member": "5"}}, "attendance"),
        ({"attendance": {"neighbours": 5}}, "attendance"),
        ({"topics": []}, "topics"),
        ({"topics": [m.RecordedTopic("议题", adopted=False)]}, "topics"),  # decided, nothing adopted
        (
            {"decision": "no_consensus", "explanation": "再议", "topics": [m.RecordedTopic("议题", adopted=True)]},
            "topics",
        ),
        ({"decision": "no_consensus", "explanation": "再议"}, "resolutions"),  # no consensus, no resolution
        ({"topics": [m.RecordedTopic(proposal_id="proposal-9")]}, "proposal_id"),  # not accepted
        ({"topics": [m.RecordedTopic("议题", origin="resident")]}, "proposal_id"),
        ({"resolutions": []}, "resolutions"),  # the adopted topic has none
        ({"resolutions": [m.RecordedResolution(1, "dept-housing", date(2024, 6, 30), "x")]}, "resolutions"),
        ({"resolutions": [m.RecordedResolution(2, "dept-housing", date(2024, 6, 30), "x")]}, "resolutions"),
        ({"resolutions": [m.RecordedResolution(0, "org-xijie", date(2024, 6, 30), "x")]}, "resolutions"),
        ({"resolutions": [m.RecordedResolution(0, "dept-housing", date(2024, 5, 5), "x")]}, "resolutions"),
        ({"minutes_url": "ftp://docs.example/m.pdf"}, "minutes_url"),
        ({"minutes_url": None}, "minutes_url"),
        ({"venue": " "}, "venue"),  # held offline: where
        ({"decision": "postponed"}, "decision"),
        ({"form": "online", "mode": "offline"}, "mode"),
        ({"title": "<b>议事</b>"}, "title"),
        ({"division_code": "341702001999", "division": None}, "division_code"),
    ],
)
def test_a_recorded_consultation_is_refused_without_what_it_owes(changes, field_name):
    with pytest.raises(Invalid) as refused:
        recorded(**changes)
    assert refused.value.extra["field"] == field_name and chinese(refused.value)


def test_a_consultation_is_recorded_by_an_organiser_of_its_division_once():
    for principal in (OTHER_WORKER, Principal("district-9", "district_admin", "341721")):
        with pytest.raises(Forbidden) as refused:
            recorded(principal)
        assert refused.value.detail == "该社区或街道不在您的管辖范围内"
    with pytest.raises(Forbidden) as refused:
        recorded(RESIDENT)
    assert refused.value.detail == "只有社区工作者或街道、区级管理员可以组织协商"
    street, _ = recorded(STREET_ADMIN, STREET, CHIYANG, topics=[m.RecordedTopic("街道停车规划")])
    assert street.division_code == STREET_CODE and street.recorded_afterwards
    first, _ = recorded()
    m.not_recorded_twice(first, None)
    with pytest.raises(Conflict) as twice:
        m.not_recorded_twice(recorded()[0], first)
    assert twice.value.extra["consultation_id"] == first.id and "已经补录" in twice.value.detail


def test_the_mix_and_quality_of_a_recorded_consultation_come_from_its_attendance():
    consultation, _ = recorded()
    assert m.attendees(consultation, []) == 19
    assert m.participation_mix(consultation, []) == m.ParticipationMix(social_organisations=2)
    figures = m.quality(consultation, [], [], [], [])
    assert (figures.attendees, figures.invited, figures.attendance) == (19, 0, None)
    assert figures.categories == ("party_member", "resident_representative", "social_organisation")
    assert figures.flags == ()  # how it deliberated is off the record; three categories attended
    narrow, _ = recorded(attendance={"party_member": 9})
    assert m.quality(narrow, [], [], [], []).flags == ("narrow_mix",)
    uncounted, _ = recorded(attendance={m.UNSPECIFIED: 25})  # a CSV total: categories unknown
    figures = m.quality(uncounted, [], [], [], [])
    assert (figures.attendees, figures.categories, figures.flags) == (25, (), ())


def test_a_refusal_names_its_times_in_beijing_time():
    w = world("announced")
    with pytest.raises(Conflict) as refused:
        m.start(w.consultation, WORKER, START - timedelta(hours=1))
    assert "2024-05-14 03:00(北京时间)" in refused.value.detail  # START is 19:00 UTC
