"""Intake's rules: raising a matter (百姓点事), co-signing it (附议), triage by the community
(两委定事), and the status that follows the matter's whole life. No Flask, no SQL: facts in,
decisions out; a broken rule raises a ``shared.problems`` error with a Chinese message."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.divisions import Division
from shared.lifecycle import Actor, Lifecycle, Transition
from shared.organisations import Organisation, serves
from shared.principal import Principal
from shared.problems import Conflict, Forbidden, Invalid, NotFound
from shared.text import http_link, plain_text

MAX_TITLE = 200
MAX_DESCRIPTION = 4000
MAX_ATTACHMENTS = 10
DEFAULT_CATEGORIES = {"environment": "环境", "public_welfare": "公益", "activities": "活动", "management": "管理"}
# Officials raising a topic themselves make it top-down (the report's "议题往往自上而下").
ORIGIN_TOP_DOWN_ROLES = {"street_admin", "district_admin", "city_operator"}
# Workers record matters for residents without a phone; district systems relay hotline cases.
SUBMITTER_ROLES = ("resident", "community_worker", "street_admin", "district_admin", "city_operator", "system")
# How a matter reached the platform (``shared.vocabulary.CHANNELS``) is the platform's to say, never
# the caller's (the per-channel figures count it): each way in passes the channel it serves
# (``WAYS_IN``: the JSON API of the residents' app and the console ``app``, Open311 ``web``, SMS
# replies ``sms``); a district system's API key (role ``system``) makes it ``district_system``
# whichever way it came; staff recording a matter a resident brought them in person or by telephone
# say which (``RECORDED_CHANNELS``), and only they.
WAYS_IN = ("app", "web", "sms")
RECORDED_CHANNELS = ("offline", "hotline")
RECORDER_ROLES = tuple(role for role in SUBMITTER_ROLES if role not in ("resident", "system"))
TRIAGE_ROLES = ("community_worker", "street_admin", "district_admin")
# Categories are the platform's reference data, not a division's: only city operators change them.
CATEGORY_ADMINS = ("city_operator",)

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
    # Residents not satisfied with the work (a task reopened): it goes on (see ``applies``).
    "resolved": frozenset({"closed", "in_progress"}),
    "closed": frozenset(),
    "rejected": frozenset(),
    "merged": frozenset(),
}
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
LIFECYCLE = Lifecycle("建议", TRANSITIONS, STATUS_NAMES)
STATUSES = LIFECYCLE.statuses
OPEN_FOR_SUPPORT = {"submitted", "eligible", "accepted", "scheduled"}
# Matters still being dealt with, and those done with (Open311's open and closed).
CLOSED_STATUSES = frozenset({"resolved", "closed", "rejected", "merged"})
OPEN_STATUSES = frozenset(STATUSES) - CLOSED_STATUSES
# Matters only their submitter and the officials see in full: to residents they are not listed, to
# the public (Open311) they are listed without their content.
WITHHELD_STATUSES = frozenset({"rejected"})
# Rejected and merged matters leave the duplicate index: only live matters are suggested as duplicates.
NOT_SUGGESTED = frozenset({"rejected", "merged"})
# A look-up for likely duplicates also scores the community's matters submitted this recently that
# intake's worker has not indexed yet (at most this many, the newest).
UNINDEXED_WINDOW = timedelta(hours=1)
UNINDEXED_LIMIT = 200
SIMILAR_LIMIT = 20  # at most this many likely duplicates in one answer
# Intake itself acting: a proposal made eligible by its co-signatures.
SYSTEM = Actor.system("intake")


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


# -- who sees what -----------------------------------------------------------------------------------


def sees_withheld(principal: Principal) -> bool:
    """Officials see every matter of their scope; residents not the withheld ones of others."""
    return principal.role != "resident"


def visible_to(principal: Principal, proposal: Proposal) -> bool:
    """Whether the caller may see a proposal: in their scope and, for a resident, their own or a
    public one (every matter not rejected is public within the community). The repository's
    ``search`` turns this rule into its query for lists."""
    if not principal.covers(proposal.community_code):
        return False
    return (
        proposal.status not in WITHHELD_STATUSES
        or sees_withheld(principal)
        or proposal.submitter_id == principal.subject
    )


def require_visible(principal: Principal, proposal: Proposal | None) -> Proposal:
    """The proposal, if the caller may see it; otherwise the same 404 as for one that does not exist."""
    if proposal is None or not visible_to(principal, proposal):
        raise NotFound("建议不存在或不在您的范围内")
    return proposal


def shown_publicly(proposal: Proposal) -> bool:
    """Whether public disclosure (居务公开) shows a matter's content, not only that it exists."""
    return proposal.status not in WITHHELD_STATUSES


def status_note(proposal: Proposal, organisation_name: str | None = None) -> str:
    """The status in Chinese, for people: a merged one names the proposal it joined, a referred
    one the organisation carrying it out (``organisation_name``, when the replica knows it)."""
    if proposal.status == "merged" and proposal.merged_into:
        return f"已合并至 {proposal.merged_into}"
    if proposal.department_id and organisation_name:
        if proposal.status == "referred":
            return f"已转交{organisation_name}办理"
        return f"{STATUS_NAMES[proposal.status]}(责任单位:{organisation_name})"
    return STATUS_NAMES[proposal.status]


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


# A matter raised by SMS has no category of its own: filed under this one (the community re-files
# it at triage), or the first active category if this one is not.
SMS_CATEGORY = "management"


def sms_category(categories: Mapping[str, str]) -> str:
    """The category of a matter raised by SMS among the active ``categories``."""
    return SMS_CATEGORY if SMS_CATEGORY in categories else min(categories)


def channel_of(principal: Principal, via: str, recorded_from: str | None = None) -> str:
    """The channel of a matter raised by ``principal`` through the way in ``via`` (``WAYS_IN``):
    ``district_system`` for a district system, ``recorded_from`` for staff who say how the resident
    brought it to them (``RECORDED_CHANNELS``), else the way in's own."""
    if via not in WAYS_IN:
        raise ValueError(f"unknown way in {via!r}: one of {WAYS_IN}")
    if recorded_from is not None:
        if principal.role not in RECORDER_ROLES:
            raise Invalid("提交渠道由平台按提交方式确定;只有工作人员代为登记时可注明来源", field="recorded_from")
        if recorded_from not in RECORDED_CHANNELS:
            raise Invalid("未知的来源渠道", field="recorded_from", allowed=list(RECORDED_CHANNELS))
        return recorded_from
    return "district_system" if principal.role == "system" else via


def submit(
    *,
    principal: Principal,
    community: Division | None,
    community_code: str,
    title: str,
    description: str,
    category: str,
    categories: Mapping[str, str],
    via: str,
    now: datetime,
    recorded_from: str | None = None,
    location: Location = Location(),
    attachments: list[str] = (),
    submitter_id: str | None = None,
) -> Proposal:
    """Check a new proposal raised through the way in ``via``; its channel is ``channel_of``'s. A
    worker or system recording a resident's matter may name the resident (``submitter_id``);
    otherwise the caller is the submitter."""
    if principal.role not in SUBMITTER_ROLES:
        raise Forbidden("您的角色不能提交建议")
    if community is None:
        raise Invalid("社区代码不存在或不是有效的社区", field="community_code", community_code=community_code)
    if not principal.covers(community.code):
        raise Forbidden("该社区不在您的范围内", community_code=community.code)
    if category not in categories:
        raise Invalid("未知的议题类别", field="category", allowed=sorted(categories))
    channel = channel_of(principal, via, recorded_from)
    if submitter_id and principal.role == "resident" and submitter_id != principal.subject:
        raise Forbidden("居民只能以本人名义提交")
    place = _location(location)
    return Proposal(
        id=str(uuid.uuid4()),
        community_code=community.code,
        title=plain_text("title", "标题", title, MAX_TITLE),
        description=plain_text("description", "描述", description, MAX_DESCRIPTION, multiline=True),
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
    return LIFECYCLE.created(proposal, actor, proposal.submitted_at)


# -- status ----------------------------------------------------------------------------------------


def move(proposal: Proposal, to: str, actor: Actor, now: datetime, reason: str | None = None, **changes):
    """The proposal after moving to ``to``, and the history line that records it."""
    return LIFECYCLE.move(proposal, to, actor, now, reason, **changes)


def applies(status: str, to: str, *, reopening: bool = False) -> bool:
    """Whether a move another service's event brings applies to a proposal in ``status``: one the
    lifecycle allows, and from resolved back to in_progress only for a task sent back (reopened).
    A task's start never takes a resolved matter back: a late ``started`` must not undo its
    completion."""
    if status == "resolved" and to == "in_progress":
        return reopening
    return LIFECYCLE.allows(status, to)


# -- co-signing (附议) ------------------------------------------------------------------------------


def check_support(proposal: Proposal, principal: Principal, already: bool) -> None:
    if principal.role != "resident":
        raise Forbidden("只有居民可以附议")
    if not principal.covers(proposal.community_code):
        raise Forbidden("只能附议本社区的建议")
    if principal.subject == proposal.submitter_id:
        raise Conflict("不能附议自己提交的建议")
    LIFECYCLE.require_in(proposal.status, OPEN_FOR_SUPPORT, "再附议")
    if already:
        raise Conflict("您已附议过该建议")


def becomes_eligible(proposal: Proposal, supporters: int, threshold: int) -> bool:
    return proposal.status == "submitted" and supporters >= threshold


def make_eligible(proposal: Proposal, threshold: int, now: datetime):
    """The proposal, its co-signatures having reached the community's threshold, made eligible."""
    return move(proposal, "eligible", SYSTEM, now, reason=f"附议人数达到{threshold}")


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


def merge(duplicate: Proposal, target: Proposal | None, principal: Principal, now: datetime):
    """Merge ``duplicate`` into ``target`` (None: no such proposal), another live proposal of its
    community that the caller sees."""
    actor = _triager(duplicate, principal)
    if target is None or not visible_to(principal, target):
        raise Invalid("要合并到的建议不存在", field="into")
    if duplicate.id == target.id:
        raise Invalid("不能把建议合并到它自己", field="into")
    if target.community_code != duplicate.community_code:
        raise Invalid("只能合并到同一社区的建议", field="into")
    if LIFECYCLE.is_final(target.status):
        raise Conflict(f"目标建议状态为“{STATUS_NAMES[target.status]}”,不能再合并进来", field="into")
    return move(duplicate, "merged", actor, now, reason=f"与建议 {target.id} 重复,已合并", merged_into=target.id)


def refer(proposal: Proposal, principal: Principal, organisation: Organisation | None, department_id: str, note: str,
          now: datetime):  # fmt: skip
    """Hand the matter to ``department_id``, a registered organisation (``organisation``: the
    replica's record of it, None if it has none) serving the proposal's community."""
    actor = _triager(proposal, principal)
    LIFECYCLE.require(proposal.status, "referred")
    if organisation is None or not serves(organisation, proposal.community_code):
        raise Invalid("责任单位未登记或不在本辖区", field="department_id", department_id=department_id)
    note = plain_text("note", "转交说明", note, 500) if note.strip() else ""
    return move(proposal, "referred", actor, now, reason=note or "无需协商,转交部门办理", department_id=department_id)


# -- categories and community settings ----------------------------------------------------------------


def require_category_admin(principal: Principal) -> None:
    principal.require_role(*CATEGORY_ADMINS)


def require_settings_admin(principal: Principal, community_code: str) -> None:
    """Who sets a community's intake rules: its workers and the street's and district's admins."""
    principal.require_role(*TRIAGE_ROLES)
    principal.require_scope(community_code)


def lookup_texts(title: str, description: str | None) -> tuple[str, str]:
    """The texts of a look-up for likely duplicates, as a submission would store them: a title is
    needed, a description may be left out."""
    title = plain_text("title", "标题", title, MAX_TITLE)
    if not description or not description.strip():
        return title, ""
    return title, plain_text("description", "描述", description, MAX_DESCRIPTION, multiline=True)
