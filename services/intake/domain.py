"""Intake's rules: raising a matter (百姓点事), co-signing it (附议), triage by the community
(两委定事), and the status that follows the matter's whole life. No Flask, no SQL: facts in,
decisions out; a broken rule raises a ``shared.problems`` error with a Chinese message."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from shared.divisions import Division
from shared.principal import Principal
from shared.problems import Conflict, Forbidden, Invalid
from shared.text import http_link, plain_text
from shared.vocabulary import CHANNELS

MAX_TITLE = 200
MAX_DESCRIPTION = 4000
MAX_ATTACHMENTS = 10
DEFAULT_CATEGORIES = {"environment": "环境", "public_welfare": "公益", "activities": "活动", "management": "管理"}
# Officials raising a topic themselves make it top-down (the report's "议题往往自上而下").
ORIGIN_TOP_DOWN_ROLES = {"street_admin", "district_admin", "city_operator"}
# Workers record matters for residents without a phone; district systems relay hotline cases.
SUBMITTER_ROLES = ("resident", "community_worker", "street_admin", "district_admin", "city_operator", "system")
TRIAGE_ROLES = ("community_worker", "street_admin", "district_admin")

# The life of a matter. Triage moves it out of submitted/eligible; meetings and tracking move it on.
TRANSITIONS: Mapping[str, frozenset[str]] = {
    "submitted": frozenset({"eligible", "accepted", "rejected", "merged", "referred"}),
    "eligible": frozenset({"accepted", "rejected", "merged", "referred"}),
    "accepted": frozenset({"scheduled"}),
    # A cancelled consultation, or one without consensus, sends the topic back for another one.
    "scheduled": frozenset({"decided", "accepted"}),
    "decided": frozenset({"in_progress", "resolved"}),
    "referred": frozenset({"in_progress", "resolved"}),
    "in_progress": frozenset({"resolved"}),
    "resolved": frozenset({"closed"}),
    "closed": frozenset(),
    "rejected": frozenset(),
    "merged": frozenset(),
}
STATUSES = tuple(TRANSITIONS)
STATUS_NAMES = {
    "submitted": "已提交",
    "eligible": "附议已达标",
    "accepted": "已列为议题",
    "scheduled": "已安排协商",
    "decided": "已形成协商结果",
    "in_progress": "办理中",
    "resolved": "已办结",
    "closed": "已关闭",
    "rejected": "未采纳",
    "merged": "已合并",
    "referred": "已转交部门办理",
}
OPEN_FOR_SUPPORT = {"submitted", "eligible", "accepted", "scheduled"}


@dataclass(frozen=True)
class Actor:
    id: str
    role: str

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(principal.subject, principal.role)


@dataclass(frozen=True)
class Location:
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None


@dataclass(frozen=True)
class Proposal:
    id: str
    community_code: str
    title: str
    description: str
    category: str
    channel: str
    origin: str
    submitter_id: str
    status: str
    submitted_at: datetime
    updated_at: datetime
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None
    attachments: list[str] = field(default_factory=list)
    supporters: int = 0
    merged_into: str | None = None
    department_id: str | None = None


@dataclass(frozen=True)
class Transition:
    """One line of a proposal's history."""

    proposal_id: str
    from_status: str | None
    to_status: str
    actor_id: str
    actor_role: str
    reason: str | None
    at: datetime


# -- raising a matter ------------------------------------------------------------------------------


def _location(location: Location) -> Location:
    lat, lng = location.latitude, location.longitude
    if (lat is None) != (lng is None):
        raise Invalid("经纬度必须同时提供", field="location")
    if lat is not None and not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise Invalid("经纬度超出范围(纬度-90至90,经度-180至180)", field="location")
    address = plain_text("address", "地址", location.address, 200) if location.address else None
    return Location(lat, lng, address)


def _attachments(links: list[str]) -> list[str]:
    if len(links) > MAX_ATTACHMENTS:
        raise Invalid(f"附件链接最多{MAX_ATTACHMENTS}个", field="attachments")
    for link in links:
        http_link("attachments", "附件", link)
    return list(links)


def submit(
    *,
    principal: Principal,
    community: Division | None,
    community_code: str,
    title: str,
    description: str,
    category: str,
    categories: Mapping[str, str],
    channel: str,
    now: datetime,
    location: Location = Location(),
    attachments: list[str] = (),
    submitter_id: str | None = None,
) -> Proposal:
    """Check a new proposal. A worker or system recording a resident's matter may name the
    resident (``submitter_id``); otherwise the caller is the submitter."""
    if principal.role not in SUBMITTER_ROLES:
        raise Forbidden("您的角色不能提交建议")
    if community is None:
        raise Invalid("社区代码不存在或不是有效的社区", field="community_code", community_code=community_code)
    if not principal.covers(community.code):
        raise Forbidden("该社区不在您的范围内", community_code=community.code)
    if category not in categories:
        raise Invalid("未知的议题类别", field="category", allowed=sorted(categories))
    if channel not in CHANNELS:
        raise Invalid("未知的提交渠道", field="channel", allowed=list(CHANNELS))
    if submitter_id and principal.role == "resident" and submitter_id != principal.subject:
        raise Forbidden("居民只能以本人名义提交")
    place = _location(location)
    return Proposal(
        id=str(uuid.uuid4()),
        community_code=community.code,
        title=plain_text("title", "标题", title, MAX_TITLE),
        description=plain_text("description", "描述", description, MAX_DESCRIPTION),
        category=category,
        channel=channel,
        origin="top_down" if principal.role in ORIGIN_TOP_DOWN_ROLES else "resident",
        submitter_id=submitter_id or principal.subject,
        status="submitted",
        submitted_at=now,
        updated_at=now,
        latitude=place.latitude,
        longitude=place.longitude,
        address=place.address,
        attachments=_attachments(list(attachments)),
    )


def first_entry(proposal: Proposal, actor: Actor) -> Transition:
    return Transition(proposal.id, None, "submitted", actor.id, actor.role, None, proposal.submitted_at)


# -- status ----------------------------------------------------------------------------------------


def move(proposal: Proposal, to: str, actor: Actor, now: datetime, reason: str | None = None, **changes):
    """The proposal after moving to ``to``, and the history line that records it."""
    if to not in TRANSITIONS[proposal.status]:
        raise Conflict(
            f"建议当前状态为“{STATUS_NAMES[proposal.status]}”,不能变为“{STATUS_NAMES[to]}”",
            status_now=proposal.status,
        )
    moved = replace(proposal, status=to, updated_at=now, **changes)
    return moved, Transition(proposal.id, proposal.status, to, actor.id, actor.role, reason, now)


# -- co-signing (附议) ------------------------------------------------------------------------------


def check_support(proposal: Proposal, principal: Principal, already: bool) -> None:
    if principal.role != "resident":
        raise Forbidden("只有居民可以附议")
    if not principal.covers(proposal.community_code):
        raise Forbidden("只能附议本社区的建议")
    if principal.subject == proposal.submitter_id:
        raise Conflict("不能附议自己提交的建议")
    if proposal.status not in OPEN_FOR_SUPPORT:
        raise Conflict(f"建议当前状态为“{STATUS_NAMES[proposal.status]}”,不能再附议")
    if already:
        raise Conflict("您已附议过该建议")


def becomes_eligible(proposal: Proposal, supporters: int, threshold: int) -> bool:
    return proposal.status == "submitted" and supporters >= threshold


def mask_supporter(supporter_id: str) -> str:
    """Supporters are listed without saying who they are: enough to tell them apart."""
    return f"居民{supporter_id[:1]}***{supporter_id[-2:]}" if len(supporter_id) > 3 else "居民***"


# -- triage (两委定事) -------------------------------------------------------------------------------


def _triager(proposal: Proposal, principal: Principal) -> Actor:
    if principal.role not in TRIAGE_ROLES:
        raise Forbidden("只有社区工作者或街道、区级管理员可以处理建议")
    principal.require_scope(proposal.community_code)
    return Actor.of(principal)


def accept(proposal: Proposal, principal: Principal, now: datetime):
    return move(proposal, "accepted", _triager(proposal, principal), now, reason="列为协商议题")


def reject(proposal: Proposal, principal: Principal, reason: str, now: datetime):
    reason = plain_text("reason", "不采纳理由", reason, 500)
    return move(proposal, "rejected", _triager(proposal, principal), now, reason=reason)


def merge(duplicate: Proposal, target: Proposal, principal: Principal, now: datetime):
    actor = _triager(duplicate, principal)
    if duplicate.id == target.id:
        raise Invalid("不能把建议合并到它自己", field="into")
    if target.community_code != duplicate.community_code:
        raise Invalid("只能合并到同一社区的建议", field="into")
    if not TRANSITIONS[target.status] or target.status == "merged":
        raise Conflict(f"目标建议状态为“{STATUS_NAMES[target.status]}”,不能再合并进来", field="into")
    return move(duplicate, "merged", actor, now, reason=f"与建议 {target.id} 重复,已合并", merged_into=target.id)


def refer(proposal: Proposal, principal: Principal, department_id: str, note: str, now: datetime):
    actor = _triager(proposal, principal)
    note = plain_text("note", "转交说明", note, 500) if note.strip() else ""
    return move(proposal, "referred", actor, now, reason=note or "无需协商,转交部门办理", department_id=department_id)
