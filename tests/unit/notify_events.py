"""Events notify consumes, as intake, meetings and tracking publish them (factories for notify's tests)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from shared.events import Envelope, new_event
from tests.conftest import YANLIUYUAN

SUBMITTER, OTHER_SUBMITTER = "resident-submitter", "resident-other"
COSIGNER, WITHDRAWN, STRANGER = "resident-cosigner", "resident-withdrew", "resident-stranger"
TITLE, OTHER_TITLE = "红光市场3号楼地下管网堵塞", "西门菜场排水改造"
STARTS_AT = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 12月1日 09:00 in Beijing
# What a resident typed into a title, and how notify shows it.
PHONE_TITLE, PHONE_TITLE_SHOWN = "请联系13812345678张三", "请联系[已隐去]张三"


def event(event_type: str, **payload):
    producer = event_type.split(".")[0]
    return new_event(event_type, payload, producer=producer, division_code=YANLIUYUAN)


def unredacted(envelope: Envelope, **payload) -> Envelope:
    """``envelope`` with ``payload``'s values as they were typed: what a producer that did not redact
    its free text (an event of an older version, still queued) delivers."""
    return dataclasses.replace(envelope, payload={**envelope.payload, **payload})


def submitted(proposal_id: str, submitter: str = SUBMITTER, title: str = TITLE):
    return event(
        "intake.proposal.submitted",
        proposal_id=proposal_id,
        community_code=YANLIUYUAN,
        submitter_id=submitter,
        title=title,
        category="environment",
        channel="app",
        origin="resident",
        submitted_at=STARTS_AT.isoformat(),
    )


def supported(proposal_id: str, supporter: str, withdrawn: bool = False):
    return event(
        "intake.proposal.supported",
        proposal_id=proposal_id,
        community_code=YANLIUYUAN,
        supporter_id=supporter,
        withdrawn=withdrawn,
        supporters=1,
    )


def triaged(verb: str, proposal_id: str, **details):
    return event(
        f"intake.proposal.{verb}",
        proposal_id=proposal_id,
        community_code=YANLIUYUAN,
        submitter_id=SUBMITTER,
        title=TITLE,
        actor_id="worker-1",
        **details,
    )


TRIAGE_DETAILS = {
    "accepted": {"category": "environment", "origin": "resident"},
    "rejected": {"reason": "属于物业服务合同约定事项"},
    "merged": {"into_proposal_id": "p-target", "supporters_moved": 2},
    "referred": {"category": "environment", "department_id": "dept-water", "note": "请排查管网"},
}


def topics(verb: str, proposal_ids: list[str], **extra):
    return event(
        f"meetings.consultation.{verb}",
        consultation_id="c-1",
        community_code=YANLIUYUAN,
        proposal_ids=proposal_ids,
        **extra,
    )


def announced(invitees: list[str], **extra):
    return topics(
        "announced",
        ["p-1"],
        title="红光市场管网改造议事会",
        form="community_council",
        mode="offline",
        starts_at=STARTS_AT.isoformat(),
        venue="烟柳园社区党群服务中心",
        invitee_ids=invitees,
        **extra,
    )


def postponed(invitees: list[str]):
    return topics(
        "postponed",
        ["p-1"],
        title="红光市场管网改造议事会",
        form="community_council",
        mode="offline",
        starts_at=datetime(2026, 12, 8, 11, 30, tzinfo=UTC).isoformat(),
        previous_starts_at=STARTS_AT.isoformat(),
        reason="主要议题材料尚未备齐",
        invitee_ids=invitees,
    )


def completed(proposal_ids: list[str]):
    return event("tracking.task.completed", task_id="t-1", community_code=YANLIUYUAN, proposal_ids=proposal_ids)


def apply(notify, envelope) -> str:
    """Deliver an event to notify's consumer as the broker would; its outcome (processed, duplicate…)."""
    return notify.consumer().apply(envelope.to_dict())


# -- tracking's steps of a task ---------------------------------------------------------------------------

TASK_TITLE = "红光市场地下管网疏通改造"
DUE_AT = datetime(2026, 12, 20, 16, 0, tzinfo=UTC)  # the end of 12月20日 in Beijing (midnight)
CLOSES_AT = datetime(2026, 12, 11, 2, 0, tzinfo=UTC)  # 12月11日 10:00 in Beijing


def task(verb: str, proposal_ids: list[str] = ("p-1",), department_id: str = "dept-water", **details):
    """``tracking.task.<verb>`` of t-1 (烟柳园, 贵池区住建局's contacts ``dept-water``)."""
    return event(
        f"tracking.task.{verb}", task_id="t-1", community_code=YANLIUYUAN, proposal_ids=list(proposal_ids),
        department_id=department_id, title=TASK_TITLE, **details,
    )  # fmt: skip


ESCALATION_REASONS = {1: "已超过办理期限(2026-12-20),提请街道督办", 2: "超期5个工作日未办结,予以通报并提请区级督办"}


def escalated(level: int | None):
    """督办 (level 1, or no level: a producer from before the levels) or 通报 (level 2)."""
    reason = ESCALATION_REASONS[level or 1]
    envelope = task("escalated", reason=reason, **({} if level is None else {"level": level}))
    if level is None:  # as a producer from before the levels sent it
        del envelope.payload["level"]
    return envelope


def extended(approved: bool):
    return task("extended", approved=approved, days=10, due_at=DUE_AT.isoformat())


def reopened():
    return task("reopened", reason="5条评价中4条不满意,重新办理", due_at=DUE_AT.isoformat())


def rating_requested(rater_ids: list[str], closes_at: datetime = CLOSES_AT):
    return event(
        "tracking.rating.requested", task_id="t-1", community_code=YANLIUYUAN, proposal_ids=["p-1"],
        consultation_id="c-1", title=TASK_TITLE, rater_ids=rater_ids, closes_at=closes_at.isoformat(),
    )  # fmt: skip


def outcome_published(decision: str = "decided"):
    """The outcome of c-1 (announced before: the outcome carries no title)."""
    return event(
        "meetings.outcome.published", consultation_id="c-1", community_code=YANLIUYUAN, proposal_ids=["p-1"],
        decision=decision, method="vote", published_at=STARTS_AT.isoformat(), explanation=None, topics=[],
        resolutions=[],
    )  # fmt: skip
