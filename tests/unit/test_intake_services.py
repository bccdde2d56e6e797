"""Intake's use cases without HTTP: each rule and each refusal of raising, co-signing and triaging a
matter, the settings, public disclosure, the replica of tracking's organisations (whom a referral
names) and the moves other services' events bring. A refused use case writes nothing and announces
nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from services.intake import domain, handlers, models, services
from shared.events import new_event
from shared.lifecycle import Actor
from shared.principal import Principal
from shared.problems import BadRequest, Conflict, Forbidden, Invalid, NotFound
from tests.conftest import CHIYANG, QIUPU_COMMUNITY, XIJIE, YANLIUYUAN

WORKER = Principal("worker-1", "community_worker", YANLIUYUAN)
STREET = Principal("street-1", "street_admin", CHIYANG)  # sees 烟柳园 and 西街
OPERATOR = Principal("operator-1", "city_operator", "3417")
DEPARTMENT = Principal("dept-1", "department", "341702")
MEETINGS = Actor.system("meetings")
LIGHTING = "dept-guichi-lighting"  # 贵池区路灯管理所, registered for 贵池区 (``with_organisations``)

BOILER = ("绣春巷开水炉扰民", "绣春巷的开水炉每天清晨鼓风,噪音很大,影响居民休息")
BOILER_AGAIN = ("开水炉噪音扰民(绣春巷)", "绣春巷口开水房锅炉一早就响,吵得睡不着")
DRAINS = ("红光市场3号楼地下管网堵塞", "地下管网经常堵塞,污水外溢")


def resident(subject: str = "resident-1", community: str = YANLIUYUAN) -> Principal:
    return Principal(subject, "resident", community)


@pytest.fixture
def intake(memory_service):
    """Intake on an in-memory database, with the default categories."""
    service = memory_service("intake")
    with service.unit_of_work() as uow:
        for code, name in domain.DEFAULT_CATEGORIES.items():
            services.put_category(uow, OPERATOR, code, name, True)
    return service


@pytest.fixture
def run(intake):
    """Run one use case in its own unit of work: ``run(services.accept, WORKER, pid, now=...)``."""

    def call(use_case, *args, **kwargs):
        with intake.unit_of_work() as uow:
            return use_case(uow, *args, **kwargs)

    return call


def stored(intake) -> dict[str, list]:
    """Every row intake keeps (the outbox included), by table."""
    with intake.db.sessions() as session:
        return {t.name: sorted(map(repr, session.execute(select(t)).all())) for t in models.metadata.sorted_tables}


@pytest.fixture
def refused(intake, run):
    """Run a use case that must be refused with ``problem``; check that nothing was written or
    announced, and return the problem."""

    def check(problem: type[Exception], use_case, *args, **kwargs):
        before, announced = stored(intake), len(intake.events)
        with pytest.raises(problem) as raised:
            run(use_case, *args, **kwargs)
        assert stored(intake) == before
        assert len(intake.events) == announced
        return raised.value

    return check


@pytest.fixture
def submit(run, clock):
    """Raise a matter (a resident's of 烟柳园 about the boiler, through the app, unless told otherwise)."""

    def make(principal: Principal | None = None, matter: tuple[str, str] = BOILER, **changes) -> services.Submitted:
        title, description = matter
        fields = {"community_code": YANLIUYUAN, "title": title, "description": description, "category": "environment",
                  "via": "app"}  # fmt: skip
        return run(services.submit, principal or resident(), now=clock.now(), **{**fields, **changes})

    return make


@pytest.fixture
def proposal(submit):
    """The id of a submitted proposal of 烟柳园, raised by ``resident-1``."""
    return submit().proposal.id


@pytest.fixture
def cosign(run, clock):
    def sign(proposal_id: str, subject: str, threshold: int = 10) -> domain.Proposal:
        return run(services.support, resident(subject), proposal_id, default_threshold=threshold, now=clock.now())

    return sign


def status_of(run, proposal_id: str) -> str:
    return run(services.get_proposal, WORKER, proposal_id).status


def history_of(run, proposal_id: str) -> list[tuple]:
    return [
        (h["from_status"], h["to_status"], h["actor_id"]) for h in run(services.proposal_history, WORKER, proposal_id)
    ]


# -- raising a matter (百姓点事) -----------------------------------------------------------------------


def test_a_submission_is_stored_with_its_first_history_line_and_announced(submit, run, intake, clock):
    submitted = submit()
    proposal = submitted.proposal
    assert (proposal.status, proposal.origin, proposal.submitter_id) == ("submitted", "resident", "resident-1")
    assert proposal.submitted_at == clock.now() and submitted.community.name == "烟柳园社区"
    assert run(services.get_proposal, resident(), proposal.id) == proposal
    assert history_of(run, proposal.id) == [(None, "submitted", "resident-1")]
    [event] = intake.emitted("intake.proposal.submitted")
    assert event["proposal_id"] == proposal.id and event["submitter_id"] == "resident-1"


@pytest.mark.parametrize(
    ("changes", "problem", "field"),
    [
        ({"community_code": "341702009999"}, Invalid, "community_code"),  # not in the registry
        ({"community_code": "341702001000"}, Invalid, "community_code"),  # a street, not a community
        ({"community_code": QIUPU_COMMUNITY}, Forbidden, None),  # outside the resident's scope
        ({"category": "weather"}, Invalid, "category"),
        ({"submitter_id": "someone-else"}, Forbidden, None),  # a resident raises matters as themselves
        ({"recorded_from": "offline"}, Invalid, "recorded_from"),  # a resident's channel is the platform's
        ({"title": "<b>标题</b>"}, Invalid, "title"),
        ({"location": domain.Location(latitude=30.6)}, Invalid, "location"),
    ],
)
def test_a_refused_submission_writes_nothing(refused, clock, changes, problem, field):
    fields = {"community_code": YANLIUYUAN, "title": BOILER[0], "description": BOILER[1], "category": "environment"}
    error = refused(problem, services.submit, resident(), via="app", now=clock.now(), **{**fields, **changes})
    assert error.extra.get("field") == field


def test_a_worker_records_a_matter_for_a_resident_and_an_admins_topic_is_top_down(submit):
    recorded = submit(WORKER, recorded_from="offline", submitter_id="elder-0031").proposal
    assert (recorded.submitter_id, recorded.origin, recorded.channel) == ("elder-0031", "resident", "offline")
    assert submit(STREET).proposal.origin == "top_down"


SYSTEM = Principal("apikey:guichi-12345", "system", "341702")  # a district system, by its API key


@pytest.mark.parametrize(
    ("principal", "via", "recorded_from", "channel"),
    [
        (resident(), "app", None, "app"),
        (resident(), "web", None, "web"),  # Open311
        (resident(), "sms", None, "sms"),
        (SYSTEM, "app", None, "district_system"),  # whichever way a district system's key came in
        (SYSTEM, "web", None, "district_system"),
        (WORKER, "app", None, "app"),
        (WORKER, "app", "hotline", "hotline"),  # how the resident brought it to the worker
        (STREET, "app", "offline", "offline"),
    ],
)
def test_the_channel_is_the_platforms_from_the_way_in_and_the_caller(submit, principal, via, recorded_from, channel):
    submitted = submit(principal, via=via, recorded_from=recorded_from)
    assert submitted.proposal.channel == channel


@pytest.mark.parametrize(
    ("principal", "recorded_from"),
    [
        (SYSTEM, "hotline"),  # a district system is district_system, never what it says
        (WORKER, "district_system"),  # staff say only how a resident brought the matter to them
        (WORKER, "sms"),
    ],
)
def test_a_channel_the_caller_may_not_claim_is_refused(refused, clock, principal, recorded_from):
    fields = {"community_code": YANLIUYUAN, "title": BOILER[0], "description": BOILER[1], "category": "environment"}
    error = refused(Invalid, services.submit, principal, via="app", recorded_from=recorded_from, now=clock.now(),
                    submitter_id="elder-0031", **fields)  # fmt: skip
    assert error.extra["field"] == "recorded_from"


def test_every_channel_the_platform_gives_is_one_of_the_vocabulary():
    from shared.vocabulary import CHANNELS

    assert {*domain.WAYS_IN, *domain.RECORDED_CHANNELS, "district_system"} <= set(CHANNELS)


@pytest.fixture
def similar(run, clock):
    """The ids of the likely duplicates of a matter in 烟柳园 (as ``services.similar`` answers), best first."""

    def look(matter: tuple[str, str], principal: Principal = WORKER, community: str = YANLIUYUAN, **options):
        title, description = matter
        answer = run(services.similar, principal, community_code=community, title=title, description=description,
                     limit=options.pop("limit", 5), now=options.pop("now", clock.now()))  # fmt: skip
        return answer

    return look


@pytest.fixture
def index_submissions(intake):
    """Intake's worker at work: the submissions announced so far, handled in one burst."""

    def work() -> None:
        with intake.unit_of_work() as uow:
            for event in [e for e in intake.events if e.type == "intake.proposal.submitted"]:
                handlers.HANDLERS[event.type](uow, event)

    return work


def test_a_submission_writes_nothing_to_the_duplicate_index(submit, intake):
    submit()
    assert stored(intake)["proposal_features"] == [] and stored(intake)["gram_posting"] == []


def test_likely_duplicates_of_the_community_are_found_before_and_after_indexing(submit, similar, index_submissions):
    first = submit(matter=BOILER).proposal
    unrelated = submit(matter=DRAINS).proposal
    elsewhere = submit(resident("xijie-1", XIJIE), matter=BOILER, community_code=XIJIE).proposal
    before = similar(BOILER_AGAIN)  # moments after: the worker has not indexed them yet
    index_submissions()
    after = similar(BOILER_AGAIN)
    assert before == after and [d["id"] for d in after] == [first.id]
    assert unrelated.id not in {d["id"] for d in after} and elsewhere.id not in {d["id"] for d in after}
    assert after[0]["title"] == BOILER[0] and after[0]["status"] == "submitted" and 0 < after[0]["score"] <= 1


def test_a_matter_not_indexed_for_longer_than_the_window_is_left_to_the_worker(submit, similar, clock):
    submit(matter=BOILER)
    assert similar(BOILER_AGAIN, now=clock.now() + domain.UNINDEXED_WINDOW + timedelta(seconds=1)) == []


def test_a_matter_merged_before_the_worker_indexed_it_stays_out(submit, run, similar, index_submissions, clock):
    original = submit(resident("first")).proposal.id
    duplicate = submit(resident("second"), matter=BOILER_AGAIN).proposal.id
    run(services.merge, WORKER, duplicate, original, now=clock.now())
    index_submissions()  # the duplicate's announcement reaches the worker after the merge
    again = ("绣春巷开水炉太吵", "绣春巷开水炉清晨噪音扰民")
    assert [d["id"] for d in similar(again)] == [original]
    index_submissions()  # delivered again: nothing changes
    assert [d["id"] for d in similar(again)] == [original]


def test_a_matter_rejected_after_it_was_indexed_leaves_the_index(submit, run, similar, index_submissions, clock):
    proposal = submit().proposal.id
    index_submissions()
    run(services.reject, WORKER, proposal, "不属于社区协商范围", now=clock.now())
    assert similar(BOILER_AGAIN) == []


def test_looking_for_duplicates_is_for_those_who_cover_the_community(submit, similar, intake):
    submit()
    assert [d["title"] for d in similar(BOILER_AGAIN, principal=resident())] == [BOILER[0]]
    with pytest.raises(Forbidden):
        similar(BOILER_AGAIN, principal=resident("xijie-1", XIJIE))
    with pytest.raises(NotFound):
        similar(BOILER_AGAIN, principal=OPERATOR, community="341702001999")
    with pytest.raises(Invalid):
        similar(("\u202e绣春巷", ""))


# -- reading: who sees what ------------------------------------------------------------------------------


def listed_by(run, principal: Principal, **filters) -> list[domain.Proposal]:
    return run(services.list_proposals, principal, filters=filters, sort="-submitted_at", limit=100, cursor=None)[0]


def test_lists_show_exactly_what_the_visibility_rule_lets_one_see(submit, run, clock):
    mine = submit(resident("me")).proposal
    rejected = submit(resident("someone")).proposal
    run(services.reject, WORKER, rejected.id, "重复提交", now=clock.now())
    submit(resident("xijie-1", XIJIE), community_code=XIJIE)
    everything = listed_by(run, STREET)
    assert len(everything) == 3
    for principal in (resident("me"), resident("someone"), resident("far", QIUPU_COMMUNITY), WORKER, STREET):
        expected = {p.id for p in everything if domain.visible_to(principal, p)}
        assert {p.id for p in listed_by(run, principal)} == expected
    assert rejected.id not in {p.id for p in listed_by(run, resident("me"))}
    assert [p.id for p in listed_by(run, resident("me"), mine=True)] == [mine.id]


@pytest.mark.parametrize("reader", [services.get_proposal, services.proposal_history, services.supporters])
def test_a_rejected_matter_is_shown_only_to_its_submitter_and_officials(run, proposal, clock, reader):
    run(services.reject, WORKER, proposal, "属于物业服务范围", now=clock.now())
    for principal in (resident("resident-1"), WORKER, STREET):
        run(reader, principal, proposal)
    for principal in (resident("neighbour"), Principal("w", "community_worker", QIUPU_COMMUNITY)):
        with pytest.raises(NotFound):
            run(reader, principal, proposal)


def test_supporters_are_listed_masked(run, proposal, cosign):
    cosign(proposal, "resident-8812")
    [listed] = run(services.supporters, resident(), proposal)
    assert listed["supporter"] == "居民r***12" and "8812" not in repr(listed)


# -- co-signing (附议) ---------------------------------------------------------------------------------


def test_co_signing_counts_once_per_resident_and_is_announced(proposal, cosign, intake):
    assert cosign(proposal, "neighbour-1").supporters == 1
    assert cosign(proposal, "neighbour-2").supporters == 2
    supported = intake.emitted("intake.proposal.supported")
    assert [(e["supporter_id"], e["supporters"], e["withdrawn"]) for e in supported] == [
        ("neighbour-1", 1, False),
        ("neighbour-2", 2, False),
    ]


def test_who_may_not_co_sign(refused, proposal, cosign, run, clock, with_organisations):
    def refusal(principal: Principal, problem: type[Exception]) -> str:
        return refused(problem, services.support, principal, proposal, default_threshold=10, now=clock.now()).detail

    assert "自己" in refusal(resident("resident-1"), Conflict)  # one's own
    assert "居民" in refusal(WORKER, Forbidden)  # officials do not co-sign
    assert "不存在" in refusal(resident("far", QIUPU_COMMUNITY), NotFound)  # another community's
    cosign(proposal, "neighbour-1")
    assert "已附议" in refusal(resident("neighbour-1"), Conflict)  # twice
    run(services.refer, WORKER, proposal, LIGHTING, "", now=clock.now())
    assert refusal(resident("neighbour-2"), Conflict) == "建议当前状态为“已转交部门办理”,不能再附议"


def test_reaching_the_communitys_threshold_makes_the_proposal_eligible(run, proposal, cosign, intake):
    run(services.put_community_settings, WORKER, YANLIUYUAN, support_threshold=2)
    assert cosign(proposal, "neighbour-1", threshold=99).status == "submitted"
    assert not intake.emitted("intake.proposal.eligible")
    reached = cosign(proposal, "neighbour-2", threshold=99)  # the community's 2, not the default
    assert (reached.status, reached.supporters) == ("eligible", 2)
    assert intake.emitted("intake.proposal.eligible") == [
        {"proposal_id": proposal, "community_code": YANLIUYUAN, "supporters": 2, "threshold": 2}
    ]
    assert history_of(run, proposal)[-1] == ("submitted", "eligible", "system:intake")
    assert cosign(proposal, "neighbour-3").status == "eligible"
    assert len(intake.emitted("intake.proposal.eligible")) == 1  # once


def test_without_a_setting_the_default_threshold_applies(proposal, cosign):
    cosign(proposal, "neighbour-1", threshold=2)
    assert cosign(proposal, "neighbour-2", threshold=2).status == "eligible"


# -- withdrawing a co-signature ---------------------------------------------------------------------


def test_withdrawing_uncounts_and_an_eligible_proposal_stays_eligible(run, proposal, cosign, intake, clock):
    cosign(proposal, "neighbour-1", threshold=1)
    withdrawn = run(services.withdraw_support, resident("neighbour-1"), proposal, now=clock.now())
    assert (withdrawn.supporters, withdrawn.status) == (0, "eligible")
    assert intake.emitted("intake.proposal.supported")[-1]["withdrawn"] is True
    assert run(services.supporters, WORKER, proposal) == []


def test_withdrawing_without_having_co_signed_is_refused(refused, proposal, clock):
    error = refused(NotFound, services.withdraw_support, resident("neighbour-1"), proposal, now=clock.now())
    assert error.detail == "您没有附议过该建议"


# -- triage (两委定事) ---------------------------------------------------------------------------------

STEPS = {
    "accept": (services.accept, "accepted"),
    "reject": (services.reject, "rejected"),
    "merge": (services.merge, "merged"),
    "refer": (services.refer, "referred"),
}


@pytest.fixture
def matters(submit):
    """A proposal to triage (resident-1's) and another live one of its community (resident-2's)."""
    return submit().proposal.id, submit(resident("resident-2"), matter=DRAINS).proposal.id


@pytest.fixture
def triage(matters, clock, with_organisations):
    """``triage(step, principal)``: the use case of a triage step on ``matters`` and its arguments."""

    def call(step: str, principal: Principal) -> tuple[tuple, dict]:
        proposal, target = matters
        extra = {"accept": (), "reject": ("属于物业服务范围",), "merge": (target,),
                 "refer": (LIGHTING, "路灯维修")}[step]  # fmt: skip
        return (STEPS[step][0], principal, proposal, *extra), {"now": clock.now()}

    return call


@pytest.mark.parametrize("step", STEPS)
def test_each_triage_step_moves_records_and_announces(triage, matters, run, intake, step):
    proposal, target = matters
    call, kwargs = triage(step, WORKER)
    status = STEPS[step][1]
    assert run(*call, **kwargs).status == status == status_of(run, proposal)
    assert history_of(run, proposal)[-1] == ("submitted", status, "worker-1")
    [event] = intake.emitted(f"intake.proposal.{status}")
    assert (event["proposal_id"], event["actor_id"], event["submitter_id"]) == (proposal, "worker-1", "resident-1")
    details = {
        "accept": {"category": "environment", "origin": "resident"},
        "reject": {"reason": "属于物业服务范围"},
        "merge": {"into_proposal_id": target, "supporters_moved": 1},  # resident-1 co-signs resident-2's
        "refer": {"department_id": LIGHTING, "note": "路灯维修", "category": "environment"},
    }[step]
    assert details.items() <= event.items()


@pytest.mark.parametrize("step", STEPS)
def test_only_officials_of_the_community_triage(triage, refused, step):
    for principal, problem in [
        (resident("neighbour"), Forbidden),  # sees the matter, may not decide it
        (DEPARTMENT, Forbidden),
        (Principal("w", "community_worker", QIUPU_COMMUNITY), NotFound),  # out of scope: not even seen
        (Principal("s", "street_admin", "341702002"), NotFound),
    ]:
        call, kwargs = triage(step, principal)
        refused(problem, *call, **kwargs)


@pytest.mark.parametrize("step", STEPS)
def test_a_triaged_matter_is_not_triaged_again(triage, run, refused, step):
    call, kwargs = triage(step, WORKER)
    status = STEPS[step][1]
    run(*call, **kwargs)
    error = refused(Conflict, *call, **kwargs)
    assert error.detail == f"建议当前状态为“{domain.STATUS_NAMES[status]}”,不能变为“{domain.STATUS_NAMES[status]}”"
    assert error.extra["status_now"] == status


def test_a_rejection_needs_a_plain_reason(refused, proposal, clock):
    assert refused(Invalid, services.reject, WORKER, proposal, "  ", now=clock.now()).extra["field"] == "reason"


@pytest.mark.parametrize(
    ("into", "problem"),
    [("self", Invalid), ("missing", Invalid), ("other_community", Invalid), ("rejected", Conflict),
     ("merged", Conflict)],
)  # fmt: skip
def test_merging_needs_another_live_proposal_of_the_same_community(submit, run, refused, clock, into, problem):
    duplicate = submit().proposal.id

    def target() -> str:
        if into == "self":
            return duplicate
        if into == "missing":
            return "no-such-id"
        if into == "other_community":  # the street admin sees both communities
            return submit(resident("xijie-1", XIJIE), community_code=XIJIE).proposal.id
        final = submit(matter=DRAINS).proposal.id
        if into == "rejected":
            run(services.reject, STREET, final, "重复", now=clock.now())
        else:
            run(services.merge, STREET, final, submit(matter=DRAINS).proposal.id, now=clock.now())
        return final

    error = refused(problem, services.merge, STREET, duplicate, target(), now=clock.now())
    assert error.extra["field"] == "into"


def test_merging_carries_the_supporters_over(submit, run, cosign, intake, clock):
    original = submit(resident("first")).proposal.id
    duplicate = submit(resident("second"), matter=BOILER_AGAIN).proposal.id
    cosign(original, "both")
    cosign(duplicate, "both")
    cosign(duplicate, "only-dup")
    merged = run(services.merge, WORKER, duplicate, original, now=clock.now())
    assert (merged.status, merged.merged_into, merged.supporters) == ("merged", original, 0)
    # "both" counted once; "only-dup" and the duplicate's submitter join the original.
    assert run(services.get_proposal, WORKER, original).supporters == 3
    masked = sorted(domain.mask_supporter(who) for who in ("both", "only-dup", "second"))
    assert sorted(s["supporter"] for s in run(services.supporters, WORKER, original)) == masked
    assert intake.emitted("intake.proposal.merged")[0]["supporters_moved"] == 2
    assert run(services.supporters, WORKER, duplicate) == []


# -- referral: to a registered organisation serving the community ----------------------------------------


def organisation(organisation_id: str, scope: str = "341702", active: bool = True, name: str = "某单位") -> dict:
    """An organisation as ``tracking.organisations.changed`` tells of it."""
    return {"id": organisation_id, "kind": "property_company", "name": name, "scope": scope, "active": active}


def tell(intake, at: datetime, *records: dict) -> None:
    """Tracking's telling of ``records`` as of ``at``, applied through intake's handler."""
    event = new_event("tracking.organisations.changed", {"organisations": list(records)}, producer="tracking",
                      division_code=None)  # fmt: skip
    with intake.unit_of_work() as uow:
        handlers.HANDLERS[event.type](uow, replace(event, occurred_at=at.isoformat()))


def test_a_referral_names_a_registered_organisation_and_announces_ids(run, proposal, intake, clock, with_organisations):
    referred = run(services.refer, WORKER, proposal, LIGHTING, "路灯维修", now=clock.now())
    assert (referred.status, referred.department_id) == ("referred", LIGHTING)
    assert status_of(run, proposal) == "referred"
    assert intake.emitted("intake.proposal.referred") == [
        {
            "proposal_id": proposal,
            "community_code": YANLIUYUAN,
            "submitter_id": "resident-1",
            "title": BOILER[0],
            "actor_id": "worker-1",
            "category": "environment",
            "department_id": LIGHTING,  # the organisation by id: its name stays in tracking's registry
            "note": "路灯维修",
        }
    ]


@pytest.mark.parametrize(
    ("registered", "named"),
    [
        (None, "dept-unknown"),  # never registered
        (organisation("estate-1", scope=YANLIUYUAN, active=False), "estate-1"),  # retired
        (organisation("dongzhi-1", scope="341721"), "dongzhi-1"),  # another county's
        (organisation("qiupu-1", scope="341702002"), "qiupu-1"),  # another street's
        (organisation("xijie-1", scope=XIJIE), "xijie-1"),  # the neighbouring community's
    ],
)
def test_a_referral_to_an_unregistered_or_foreign_organisation_is_refused(
    refused, proposal, intake, register_organisations, clock, registered, named
):
    if registered:
        register_organisations(intake, registered)
    error = refused(Invalid, services.refer, WORKER, proposal, named, "路灯维修", now=clock.now())
    assert (error.detail, error.extra["field"]) == ("责任单位未登记或不在本辖区", "department_id")


@pytest.mark.parametrize("scope", ["34", "3417", "341702", CHIYANG, YANLIUYUAN])
def test_an_organisation_whose_scope_contains_the_community_may_take_its_matter(
    run, proposal, intake, register_organisations, clock, scope
):
    register_organisations(intake, organisation("serving-1", scope=scope))
    assert run(services.refer, WORKER, proposal, "serving-1", "", now=clock.now()).status == "referred"


def test_a_referral_of_a_triaged_matter_is_refused_for_its_status_first(run, refused, proposal, clock):
    run(services.accept, WORKER, proposal, now=clock.now())
    error = refused(Conflict, services.refer, WORKER, proposal, "dept-unknown", "", now=clock.now())
    assert error.extra["status_now"] == "accepted"


def test_the_replica_keeps_the_latest_telling_of_each_organisation(run, refused, submit, intake, clock):
    earlier, later = clock.now() - timedelta(hours=2), clock.now() - timedelta(hours=1)
    tell(intake, later, organisation("estate-1", scope=YANLIUYUAN, active=False))
    tell(intake, earlier, organisation("estate-1", scope=YANLIUYUAN, active=True))  # arrives late: changes nothing
    refused(Invalid, services.refer, WORKER, submit().proposal.id, "estate-1", "", now=clock.now())
    # One telling naming it twice: the last record counts.
    tell(intake, clock.now(), organisation("estate-1", scope=XIJIE), organisation("estate-1", scope=YANLIUYUAN))
    assert run(services.refer, WORKER, submit().proposal.id, "estate-1", "", now=clock.now()).status == "referred"


# -- categories and community settings ------------------------------------------------------------------


def test_city_operators_keep_the_categories(run, refused, submit, clock):
    refused(Forbidden, services.put_category, Principal("d", "district_admin", "341702"), "x1", "X", True)
    run(services.put_category, OPERATOR, "safety", "安全", True)
    assert run(services.list_categories)["safety"] == "安全"
    assert submit(category="safety").proposal.category == "safety"
    run(services.put_category, OPERATOR, "safety", "安全", False)  # retired
    assert "safety" not in run(services.list_categories)
    retired = {"community_code": YANLIUYUAN, "title": "t", "description": "d", "category": "safety"}
    refused(Invalid, services.submit, resident(), via="app", now=clock.now(), **retired)


def test_community_settings_default_and_are_set_by_its_officials(run, refused):
    assert run(services.community_settings, resident(), YANLIUYUAN, default_threshold=10).support_threshold == 10
    refused(Forbidden, services.community_settings, resident(), XIJIE, default_threshold=10)
    assert run(services.put_community_settings, WORKER, YANLIUYUAN, support_threshold=3) == (
        services.CommunitySettings(YANLIUYUAN, 3)
    )
    assert run(services.community_settings, STREET, YANLIUYUAN, default_threshold=10).support_threshold == 3
    assert run(services.community_settings, STREET, XIJIE, default_threshold=10).support_threshold == 10
    refused(Forbidden, services.put_community_settings, resident(), YANLIUYUAN, support_threshold=1)
    refused(Forbidden, services.put_community_settings, WORKER, XIJIE, support_threshold=1)  # out of scope
    refused(NotFound, services.put_community_settings, STREET, "341702001999", support_threshold=1)  # no such


# -- moved on by meetings' and tracking's events ------------------------------------------------------------


@pytest.fixture
def accepted(run, proposal, clock):
    run(services.accept, WORKER, proposal, now=clock.now())
    return proposal


def test_events_move_a_topic_along_with_who_and_why(run, accepted, clock):
    reason = "meetings.consultation.scheduled c-1"
    moved = run(services.move_proposals, [accepted], "scheduled", MEETINGS, reason, now=clock.now())
    assert [p.status for p in moved] == ["scheduled"] and status_of(run, accepted) == "scheduled"
    [*_, last] = run(services.proposal_history, WORKER, accepted)
    assert (last["actor_id"], last["actor_role"], last["reason"], last["at"]) == (
        "system:meetings",
        "system",
        reason,
        clock.now(),
    )


def test_an_outdated_or_repeated_event_and_unknown_topics_change_nothing(run, accepted, intake, clock):
    before = stored(intake)
    # Not yet scheduled, a "decided" cannot apply; a top-down topic intake never saw is skipped.
    assert run(services.move_proposals, [accepted, "top-down-topic"], "decided", MEETINGS, "r", now=clock.now()) == []
    assert run(services.move_proposals, [accepted], "accepted", MEETINGS, "r", now=clock.now()) == []  # already
    assert stored(intake) == before


def test_the_handlers_move_proposals_through_the_use_case(run, accepted, intake):
    def deliver(kind: str, **extra):
        payload = {"consultation_id": "c-1", "community_code": YANLIUYUAN, "proposal_ids": [accepted], **extra}
        event = new_event(f"meetings.consultation.{kind}", payload, producer="meetings", division_code=YANLIUYUAN)
        with intake.unit_of_work() as uow:
            handlers.HANDLERS[event.type](uow, event)

    deliver("scheduled", starts_at="2026-12-01T09:00:00+08:00")
    deliver("cancelled", reason="场地不可用")  # back to the topics, for another consultation
    assert [h[1] for h in history_of(run, accepted)] == ["submitted", "accepted", "scheduled", "accepted"]


def task_event(kind: str, proposal_ids: list[str], **extra):
    payload = {"task_id": "t-1", "community_code": YANLIUYUAN, "proposal_ids": proposal_ids, **extra}
    return new_event(f"tracking.task.{kind}", payload, producer="tracking", division_code=YANLIUYUAN)


def reopened(proposal_ids: list[str], reason: str = "居民评价不满意:路灯仍不亮"):
    return task_event("reopened", proposal_ids, department_id=LIGHTING, title="路灯维修", reason=reason,
                      due_at="2026-12-15T18:00:00+08:00")  # fmt: skip


@pytest.fixture
def deliver(intake):
    """Apply tracking's events through intake's handlers, each in its own unit of work."""

    def apply(*events) -> None:
        for event in events:
            with intake.unit_of_work() as uow:
                handlers.HANDLERS[event.type](uow, event)

    return apply


@pytest.fixture
def referred(run, proposal, with_organisations, clock):
    run(services.refer, WORKER, proposal, LIGHTING, "路灯维修", now=clock.now())
    return proposal


def test_a_task_sent_back_takes_the_resolved_matter_back_into_the_work(run, referred, deliver):
    deliver(task_event("started", [referred]), task_event("completed", [referred]))
    assert status_of(run, referred) == "resolved"
    deliver(reopened([referred, "top-down-topic"], reason="居民评价不满意:路灯仍不亮"))
    assert status_of(run, referred) == "in_progress"
    [*_, last] = run(services.proposal_history, WORKER, referred)
    assert (last["from_status"], last["to_status"], last["actor_id"], last["reason"]) == (
        "resolved",
        "in_progress",
        "system:tracking",
        "居民评价不满意:路灯仍不亮",
    )
    deliver(task_event("completed", [referred]), task_event("closed", [referred]))
    assert [h[1] for h in history_of(run, referred)][-5:] == [
        "in_progress",
        "resolved",
        "in_progress",
        "resolved",
        "closed",
    ]


def test_a_late_start_does_not_undo_a_completion_and_a_closed_matter_stays_closed(run, referred, deliver, intake):
    deliver(task_event("completed", [referred]))
    before = stored(intake)
    deliver(task_event("started", [referred]))  # delivered after the completion: outdated
    assert stored(intake) == before and status_of(run, referred) == "resolved"
    deliver(task_event("closed", [referred]))
    before = stored(intake)
    deliver(reopened([referred]))
    assert stored(intake) == before and status_of(run, referred) == "closed"


def test_a_task_sent_back_leaves_a_matter_still_being_worked_on_as_it_is(run, referred, deliver, intake):
    deliver(task_event("started", [referred]))
    before = stored(intake)
    deliver(reopened([referred]))
    assert stored(intake) == before and status_of(run, referred) == "in_progress"


# -- public disclosure (Open311) ------------------------------------------------------------------------------


def test_public_disclosure_reads_within_its_scope_with_names(submit, run, clock):
    here = submit().proposal
    far = submit(resident("far", QIUPU_COMMUNITY), community_code=QIUPU_COMMUNITY).proposal
    disclosure = run(services.public_requests, CHIYANG, [here.id, far.id, here.id, "unknown"])
    assert [p.id for p in disclosure.proposals] == [here.id]
    assert disclosure.community_names == {YANLIUYUAN: "烟柳园社区"}
    assert disclosure.category_names["environment"] == "环境"
    window = {"since": clock.now(), "until": clock.now() + timedelta(microseconds=1)}
    recent = run(services.recent_requests, "3417", limit=10, **window)
    assert {p.id for p in recent.proposals} == {here.id, far.id}
    with pytest.raises(BadRequest) as unknown:
        run(services.recent_requests, "3417", categories=["weather"], limit=1, **window)
    assert unknown.value.extra["allowed"] == sorted(domain.DEFAULT_CATEGORIES)


def test_public_disclosure_names_the_organisation_a_matter_was_referred_to(run, referred, submit):
    unreferred = submit(matter=DRAINS).proposal.id
    disclosure = run(services.public_requests, CHIYANG, [referred, unreferred])
    assert disclosure.organisation_names == {LIGHTING: "贵池区路灯管理所"}
    assert [disclosure.organisation_name(p) for p in disclosure.proposals] == ["贵池区路灯管理所", None]


@pytest.mark.parametrize(
    ("status", "named", "note"),
    [
        ("referred", "贵池区路灯管理所", "已转交贵池区路灯管理所办理"),
        ("in_progress", "贵池区路灯管理所", "办理中(责任单位:贵池区路灯管理所)"),
        ("resolved", "贵池区路灯管理所", "已办结(责任单位:贵池区路灯管理所)"),
        ("closed", "贵池区路灯管理所", "已关闭(责任单位:贵池区路灯管理所)"),
        ("referred", None, "已转交部门办理"),  # an organisation the replica does not know
        ("resolved", None, "已办结"),
        ("closed", None, "已关闭"),
    ],
)
def test_the_status_note_says_what_happened_and_who_carried_a_referral_out(run, referred, status, named, note):
    proposal = replace(run(services.get_proposal, WORKER, referred), status=status)
    assert domain.status_note(proposal, named) == note


def test_the_status_note_of_a_matter_not_referred_is_its_status(run, proposal, clock):
    resolved = replace(run(services.get_proposal, WORKER, proposal), status="resolved")
    assert domain.status_note(resolved, "贵池区路灯管理所") == "已办结"  # no department: nobody to name
