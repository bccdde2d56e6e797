"""Notify's routing table: who is told what, in Chinese, from which event (services/notify/routing.py)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from services.notify import domain, routing
from services.notify.handlers import HANDLERS
from services.notify.models import notifications
from services.notify.recipients import FACTS, KEEPERS, RECIPIENTS
from shared.divisions import EVENT_TYPE as DIVISIONS_CHANGED
from tests.conftest import YANLIUYUAN
from tests.support import wait_until
from tests.unit.notify_events import (
    COSIGNER,
    OTHER_SUBMITTER,
    OTHER_TITLE,
    PHONE_TITLE,
    PHONE_TITLE_SHOWN,
    STARTS_AT,
    STRANGER,
    SUBMITTER,
    TASK_TITLE,
    TITLE,
    TRIAGE_DETAILS,
    WITHDRAWN,
    announced,
    apply,
    completed,
    escalated,
    event,
    extended,
    postponed,
    rating_requested,
    reopened,
    submitted,
    supported,
    topics,
    triaged,
    unredacted,
)


def messages(notify) -> list[tuple[str, str, str]]:
    """Every app notification as (event id, recipient, body)."""
    n = notifications.c
    with notify.db.sessions() as session:
        rows = session.execute(select(n.event_id, n.recipient_id, n.body).where(n.channel == "app")).all()
    return sorted(tuple(row) for row in rows)


def inbox(notify, event_id: str) -> dict[str, str]:
    """recipient -> body of the app notifications of one event (one each)."""
    rows = [(who, body) for event_id_, who, body in messages(notify) if event_id_ == event_id]
    assert len(rows) == len({who for who, _ in rows}), "one message per recipient"
    return dict(rows)


@pytest.fixture
def audience(notify):
    """p-1 by SUBMITTER, co-signed by COSIGNER; WITHDRAWN co-signed and withdrew; p-target by another."""
    for envelope in (
        submitted("p-1"),
        submitted("p-target", OTHER_SUBMITTER, OTHER_TITLE),
        supported("p-1", COSIGNER),
        supported("p-1", WITHDRAWN),
        supported("p-1", WITHDRAWN, withdrawn=True),
    ):
        assert apply(notify, envelope) == "processed"


# -- the table itself --------------------------------------------------------------------------------


def test_the_routing_table_covers_exactly_the_documented_event_types():
    documented = {
        "intake.proposal.submitted",
        "intake.proposal.accepted",
        "intake.proposal.rejected",
        "intake.proposal.merged",
        "intake.proposal.referred",
        "meetings.consultation.scheduled",
        "meetings.consultation.decided",
        "tracking.task.completed",
        "meetings.consultation.announced",
        "meetings.consultation.invited",
        "meetings.consultation.postponed",
        "meetings.consultation.relocated",
        "meetings.consultation.cancelled",
        "meetings.outcome.published",
        "tracking.task.assigned",
        "tracking.task.reminded",
        "tracking.task.escalated",
        "tracking.task.extended",
        "tracking.task.reopened",
        "tracking.rating.requested",
    }
    assert set(routing.ROUTES) == documented
    for event_type in documented:
        assert event_type in routing.__doc__
    # every routed type has a handler and its facts; every handler is a route, a replica or the registry
    assert set(FACTS) == set(routing.ROUTES)
    assert set(routing.ROUTES) <= set(HANDLERS)
    assert set(routing.REPLICAS) == set(KEEPERS)
    assert set(HANDLERS) == set(routing.ROUTES) | set(routing.REPLICAS) | set(routing.MATTER_STATUS) | {
        DIVISIONS_CHANGED
    }
    routes = [route for routes in routing.ROUTES.values() for route in routes]
    assert {route.recipients for route in routes} | {routing.OPERATORS} == set(RECIPIENTS) == set(routing.RULES)
    extra = (routing.REMINDER, routing.DEAD_LETTERS, routing.NOTICE)
    assert {route.template for route in (*routes, *extra)} | set(routing.REPLY_TEMPLATES) == set(domain.TEMPLATES)


def test_each_route_provides_exactly_its_templates_variables():
    for event_type, route in [(t, r) for t, routes in routing.ROUTES.items() for r in routes]:
        variables = {name: f"<{name}>" for name in route.variables}
        body = domain.render(route.template, **variables)
        assert "{" not in body and all(f"<{name}>" in body for name in route.variables), event_type


def test_templates_refuse_missing_and_unknown_variables():
    with pytest.raises(domain.TemplateError):
        domain.render("proposal_rejected", relation="提交", title=TITLE)
    with pytest.raises(domain.TemplateError):
        domain.render("proposal_accepted", relation="提交", title=TITLE, reason="x")
    with pytest.raises(domain.TemplateError):
        domain.template("“{title}”已取消,原因:{reason}", "title")
    with pytest.raises(domain.TemplateError):
        domain.template("“{title}”已取消", "title", "reason")
    with pytest.raises(ValueError):
        routing.Route("proposal_accepted", routing.PROPOSAL, ("title",))


def test_times_are_shown_in_beijing_time():
    assert domain.local_time(STARTS_AT.isoformat()) == "12月1日 09:00"
    assert domain.local_time("2026-12-31T16:05:00+00:00") == "1月1日 00:05"


def test_deadlines_are_shown_as_their_beijing_day_a_midnight_one_as_the_day_before():
    assert domain.local_day("2026-12-11T02:00:00+00:00") == "12月11日"  # 10:00 in Beijing
    assert domain.local_day("2026-12-20T16:00:00+00:00") == "12月20日"  # 12月21日 00:00: the end of 20日
    assert domain.local_day("2026-12-31T16:05:00+00:00") == "1月1日"


def test_a_route_with_a_condition_tells_only_of_the_payloads_it_is_for():
    [street, district] = routing.ROUTES["tracking.task.escalated"]
    assert street.applies({"level": 1}) and street.applies({}) and not street.applies({"level": 2})
    assert district.applies({"level": 2}) and not district.applies({})
    for approved in (True, False):
        told = [r.template for r in routing.ROUTES["tracking.task.extended"] if r.applies({"approved": approved})]
        assert len(told) == 2 and all(("refused" in t) != approved for t in told)


# -- every routed event, applied through notify's consumer ----------------------------------------------


def test_submission_tells_the_submitter(notify):
    envelope = submitted("p-1")
    apply(notify, envelope)
    assert inbox(notify, envelope.id) == {SUBMITTER: f"您提交的建议“{TITLE}”已收到,社区将尽快处理。"}


@pytest.mark.parametrize(
    ("verb", "tail"),
    [
        ("accepted", "已被列为协商议题。"),
        ("rejected", "未被采纳,原因:属于物业服务合同约定事项"),
        ("merged", f"已并入建议“{OTHER_TITLE}”一并办理,您的附议随之转入。"),
        ("referred", "已转交有关部门办理。"),
    ],
)
def test_triage_tells_the_submitter_and_current_cosigners(notify, audience, verb, tail):
    envelope = triaged(verb, "p-1", **TRIAGE_DETAILS[verb])
    assert apply(notify, envelope) == "processed"
    assert inbox(notify, envelope.id) == {
        SUBMITTER: f"您提交的建议“{TITLE}”{tail}",
        COSIGNER: f"您附议的建议“{TITLE}”{tail}",
    }
    # redelivery creates nothing new
    before = messages(notify)
    assert apply(notify, envelope) == "duplicate"
    assert notify.consumer().apply_all([envelope]) == ["duplicate"]
    assert messages(notify) == before


def test_a_merge_carries_cosigners_and_the_submitter_over_to_the_target(notify, audience):
    apply(notify, triaged("merged", "p-1", **TRIAGE_DETAILS["merged"]))
    envelope = event(
        "intake.proposal.accepted",
        **{
            **triaged("accepted", "p-target", **TRIAGE_DETAILS["accepted"]).payload,
            "submitter_id": OTHER_SUBMITTER,
            "title": OTHER_TITLE,
        },
    )
    apply(notify, envelope)
    told = inbox(notify, envelope.id)
    assert told == {
        OTHER_SUBMITTER: f"您提交的建议“{OTHER_TITLE}”已被列为协商议题。",
        SUBMITTER: f"您附议的建议“{OTHER_TITLE}”已被列为协商议题。",
        COSIGNER: f"您附议的建议“{OTHER_TITLE}”已被列为协商议题。",
    }
    # the duplicate's own supporters were moved away
    envelope = triaged("rejected", "p-1", reason="重复")
    apply(notify, envelope)
    assert set(inbox(notify, envelope.id)) == {SUBMITTER}


def test_scheduling_tells_the_topics_submitters_and_cosigners(notify, audience):
    apply(notify, supported("p-target", COSIGNER))
    envelope = topics("scheduled", ["p-1", "p-target", "p-unknown"], starts_at=STARTS_AT.isoformat())
    apply(notify, envelope)
    assert inbox(notify, envelope.id) == {
        SUBMITTER: f"您提交的建议“{TITLE}”已安排协商,时间:12月1日 09:00",
        OTHER_SUBMITTER: f"您提交的建议“{OTHER_TITLE}”已安排协商,时间:12月1日 09:00",
        COSIGNER: f"您附议的建议“{TITLE}”已安排协商,时间:12月1日 09:00",  # one message, the first topic
    }
    assert apply(notify, envelope) == "duplicate"
    assert len(inbox(notify, envelope.id)) == 3


def test_decision_and_resolution_tell_the_topics_submitters_and_cosigners(notify, audience):
    decided = topics("decided", ["p-1"])
    done = completed(["p-1"])
    apply(notify, decided)
    apply(notify, done)
    assert inbox(notify, decided.id) == {
        SUBMITTER: f"您提交的建议“{TITLE}”已经协商形成决定,将由责任方落实。",
        COSIGNER: f"您附议的建议“{TITLE}”已经协商形成决定,将由责任方落实。",
    }
    # a plain notice: the ask to rate is the rating request's (one ask per person)
    assert inbox(notify, done.id) == {
        SUBMITTER: f"您提交的建议“{TITLE}”已办结。",
        COSIGNER: f"您附议的建议“{TITLE}”已办结。",
    }


def test_announcement_postponement_and_cancellation_tell_every_invitee(notify):
    invitees = ["resident-a", "resident-b", "resident-c"]
    first = announced(invitees)
    apply(notify, first)
    assert inbox(notify, first.id) == {
        who: "您受邀参加“红光市场管网改造议事会”(社区议事会),时间:12月1日 09:00,地点:烟柳园社区党群服务中心。"
        for who in invitees
    }
    later = postponed([*invitees, "resident-d"])
    apply(notify, later)
    assert inbox(notify, later.id) == {
        who: "“红光市场管网改造议事会”已延期至12月8日 19:30,原因:主要议题材料尚未备齐"
        for who in [*invitees, "resident-d"]
    }
    cancelled = topics("cancelled", ["p-1"], reason="暴雨预警,暂停聚集活动")
    apply(notify, cancelled)
    assert inbox(notify, cancelled.id) == {
        who: "“红光市场管网改造议事会”已取消,原因:暴雨预警,暂停聚集活动" for who in [*invitees, "resident-d"]
    }
    assert apply(notify, cancelled) == "duplicate"
    assert len(messages(notify)) == 3 + 4 + 4


def test_someone_invited_after_the_announcement_gets_their_invitation_and_later_notices(notify):
    apply(notify, announced(["resident-a"]))
    late = announced(["resident-late"])
    late = event("meetings.consultation.invited", **{**late.payload, "invitee_ids": ["resident-late"]})
    apply(notify, late)
    invitation = "您受邀参加“红光市场管网改造议事会”(社区议事会),时间:12月1日 09:00,地点:烟柳园社区党群服务中心。"
    assert inbox(notify, late.id) == {"resident-late": invitation}
    cancelled = topics("cancelled", ["p-1"], reason="暴雨预警,暂停聚集活动")
    apply(notify, cancelled)
    assert set(inbox(notify, cancelled.id)) == {"resident-a", "resident-late"}


def test_a_new_place_tells_every_invitee_and_feeds_the_reminder(notify):
    apply(notify, announced(["resident-a"]))
    moved = event("meetings.consultation.relocated", **{**announced(["resident-a"]).payload, "venue": "烟柳园小学礼堂",
                                                        "reason": "议事厅维修"})  # fmt: skip
    apply(notify, moved)
    assert inbox(notify, moved.id) == {
        "resident-a": "“红光市场管网改造议事会”地点变更为烟柳园小学礼堂,时间不变(12月1日 09:00),原因:议事厅维修"
    }
    from services.notify.models import consultation_audience

    with notify.db.sessions() as session:
        assert session.scalar(select(consultation_audience.c.place)) == "烟柳园小学礼堂"


def test_hybrid_and_online_places():
    assert domain.place("社区活动室", "https://meet.example/1") == "社区活动室(线上:https://meet.example/1)"
    assert domain.place(None, "https://meet.example/1") == "线上:https://meet.example/1"
    assert domain.place(None, None) == "另行通知"


def test_titles_reasons_and_places_are_told_without_the_numbers_typed_into_them(notify, audience):
    rejected = triaged("rejected", "p-1", reason="请直接联系物业,电话0566-2123456")
    apply(notify, unredacted(rejected, title=PHONE_TITLE))
    assert inbox(notify, rejected.id) == {
        SUBMITTER: f"您提交的建议“{PHONE_TITLE_SHOWN}”未被采纳,原因:请直接联系物业,电话[已隐去]",
        COSIGNER: f"您附议的建议“{PHONE_TITLE_SHOWN}”未被采纳,原因:请直接联系物业,电话[已隐去]",
    }
    invited = unredacted(announced(["resident-a"]), title=PHONE_TITLE, venue="3号楼(联系人 138 1234 5678)")
    apply(notify, invited)
    assert inbox(notify, invited.id) == {
        "resident-a": f"您受邀参加“{PHONE_TITLE_SHOWN}”(社区议事会),时间:12月1日 09:00,地点:3号楼(联系人 [已隐去])。"
    }
    assert not [body for _, _, body in messages(notify) if "5678" in body]


def test_cancelling_an_unannounced_consultation_tells_nobody(notify):
    cancelled = topics("cancelled", ["p-1"], reason="议题已由其他渠道解决")
    assert apply(notify, cancelled) == "processed"
    assert messages(notify) == []


def test_a_burst_sees_its_own_replica_writes_in_order(notify):
    """Support, withdrawal and acceptance in one consumer transaction (one burst)."""
    accept = triaged("accepted", "p-1", **TRIAGE_DETAILS["accepted"])
    outcomes = notify.consumer().apply_all(
        [
            submitted("p-1"),
            supported("p-1", COSIGNER),
            supported("p-1", WITHDRAWN),
            supported("p-1", WITHDRAWN, withdrawn=True),
            accept,
        ]
    )
    assert outcomes == ["processed"] * 5
    assert set(inbox(notify, accept.id)) == {SUBMITTER, COSIGNER}


def test_bodies_carry_no_one_elses_identity(notify, audience):
    envelope = triaged("accepted", "p-1", **TRIAGE_DETAILS["accepted"])
    apply(notify, envelope)
    for _, _, body in messages(notify):
        assert not any(person in body for person in (SUBMITTER, COSIGNER, WITHDRAWN, STRANGER, "worker-1"))


# -- tracking's steps of a task -----------------------------------------------------------------------------

DEPARTMENT_USER = "dept-water-user"  # a department contact with an app account


@pytest.fixture
def department(add_contact):
    """dept-water's contact (with an app account) and another department's."""
    add_contact("13900000001", kind="department_contact", department_id="dept-water", app_user_id=DEPARTMENT_USER)
    add_contact("13900000002", kind="department_contact", department_id="dept-roads", app_user_id="dept-roads-user")


def test_a_rating_request_asks_each_rater_once_with_the_deadline(notify):
    asked = rating_requested([SUBMITTER, COSIGNER, "resident-participant", SUBMITTER])
    assert apply(notify, asked) == "processed"
    ask = f"您关注的“{TASK_TITLE}”已办结,请在12月11日前评价:满意、基本满意或不满意。"
    assert inbox(notify, asked.id) == dict.fromkeys([SUBMITTER, COSIGNER, "resident-participant"], ask)
    assert apply(notify, asked) == "duplicate"
    assert len(inbox(notify, asked.id)) == 3


def test_an_approved_extension_tells_the_topics_people_and_the_department(notify, audience, department):
    envelope = extended(approved=True)
    assert apply(notify, envelope) == "processed"
    assert inbox(notify, envelope.id) == {
        SUBMITTER: f"您提交的建议“{TITLE}”的办结时限经批准延长至12月20日。",
        COSIGNER: f"您附议的建议“{TITLE}”的办结时限经批准延长至12月20日。",
        DEPARTMENT_USER: f"延期申请已批准:协商成果“{TASK_TITLE}”的办结时限延长至12月20日。",
    }
    assert apply(notify, envelope) == "duplicate"
    assert len(inbox(notify, envelope.id)) == 3


def test_a_refused_extension_tells_them_the_deadline_stands(notify, audience, department):
    envelope = extended(approved=False)
    apply(notify, envelope)
    assert inbox(notify, envelope.id) == {
        SUBMITTER: f"您提交的建议“{TITLE}”的延期申请未获批准,仍应于12月20日前办结。",
        COSIGNER: f"您附议的建议“{TITLE}”的延期申请未获批准,仍应于12月20日前办结。",
        DEPARTMENT_USER: f"延期申请未获批准:协商成果“{TASK_TITLE}”仍应于12月20日前办结,请抓紧办理。",
    }


def test_a_reopened_task_tells_the_department_and_the_topics_people(notify, audience, department):
    envelope = reopened()
    apply(notify, envelope)
    why = "5条评价中4条不满意,重新办理"
    assert inbox(notify, envelope.id) == {
        SUBMITTER: f"您提交的建议“{TITLE}”将重新办理,原因:{why};新的办结时限:12月20日。",
        COSIGNER: f"您附议的建议“{TITLE}”将重新办理,原因:{why};新的办结时限:12月20日。",
        DEPARTMENT_USER: f"协商成果“{TASK_TITLE}”已退回重新办理,原因:{why};新的办结时限:12月20日,请办理并反馈。",
    }


STREET_ESCALATION = "已超过办理期限(2026-12-20),提请街道督办"


@pytest.mark.parametrize(
    ("level", "text"),
    [
        (1, f"督办:协商成果“{TASK_TITLE}”已列入督办,原因:{STREET_ESCALATION},请立即办理并反馈。"),
        (None, f"督办:协商成果“{TASK_TITLE}”已列入督办,原因:{STREET_ESCALATION},请立即办理并反馈。"),
        (2, f"通报:协商成果“{TASK_TITLE}”已予通报,原因:超期5个工作日未办结,予以通报并提请区级督办,请立即办理并反馈。"),
    ],
)  # fmt: skip
def test_an_escalation_tells_the_department_in_the_wording_of_its_level(notify, audience, department, level, text):
    envelope = escalated(level)
    assert apply(notify, envelope) == "processed"
    assert inbox(notify, envelope.id) == {DEPARTMENT_USER: text}  # residents are not told of escalations
    assert apply(notify, envelope) == "duplicate"


# -- end to end, the whole platform in one process ---------------------------------------------------------


def test_acceptance_reaches_the_submitter_and_cosigner_through_the_gateway(gateway, auth):
    submitter = auth("resident", YANLIUYUAN, subject="resident-e2e-submitter")
    cosigner = auth("resident", YANLIUYUAN, subject="resident-e2e-cosigner")
    worker = auth("community_worker", YANLIUYUAN, subject="worker-e2e")
    created = gateway.post(
        "/api/v1/intake/proposals",
        json={
            "community_code": YANLIUYUAN,
            "title": TITLE,
            "description": "下水道经常堵塞外溢",
            "category": "environment",
        },
        headers=submitter,
    )
    assert created.status_code == 201, created.json
    proposal_id = created.json["id"]
    assert gateway.post(f"/api/v1/intake/proposals/{proposal_id}/support", headers=cosigner).status_code == 200
    accepted = gateway.post(f"/api/v1/intake/proposals/{proposal_id}/accept", headers=worker)
    assert accepted.status_code == 200, accepted.json

    def accepted_message(headers):
        items = gateway.get("/api/v1/notify/inbox", headers=headers).json["items"]
        return [i["body"] for i in items if "已被列为协商议题" in i["body"]]

    assert wait_until(lambda: accepted_message(submitter), what="submitter's message") == [
        f"您提交的建议“{TITLE}”已被列为协商议题。"
    ]
    assert wait_until(lambda: accepted_message(cosigner), what="co-signer's message") == [
        f"您附议的建议“{TITLE}”已被列为协商议题。"
    ]
    stranger = auth("resident", YANLIUYUAN, subject=f"resident-{uuid.uuid4().hex[:6]}")
    assert gateway.get("/api/v1/notify/inbox", headers=stranger).json["unread"] == 0
