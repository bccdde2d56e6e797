"""Intake's rules for a new proposal (百姓点事). No Flask, no SQL: facts in, a decision out."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from shared.auth import Principal
from shared.divisions import Division
from shared.problems import Forbidden, Invalid

MAX_TITLE = 200
MAX_DESCRIPTION = 4000
CATEGORIES = {
    "environment": "环境",
    "public_welfare": "公益",
    "activities": "活动",
    "management": "管理",
}
CHANNELS = ("app", "web", "sms", "district_system", "hotline", "offline")
# Workers record matters for residents (offline, hotline); district systems file through their key.
ORIGIN_TOP_DOWN_ROLES = {"street_admin", "district_admin", "city_operator"}
_MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z!][^>]*>|javascript:", re.IGNORECASE)


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


def _plain_text(field: str, label: str, value: str, limit: int) -> str:
    text = value.strip()
    if not text:
        raise Invalid(f"{label}不能为空", field=field)
    if len(text) > limit:
        raise Invalid(f"{label}不能超过{limit}个字", field=field)
    if _MARKUP.search(text):
        raise Invalid(f"{label}只能是纯文本,不能包含HTML或脚本", field=field)
    return text


def submit(
    *,
    principal: Principal,
    community: Division | None,
    community_code: str,
    title: str,
    description: str,
    category: str,
    channel: str,
    now: datetime,
) -> Proposal:
    """Check a resident's (or a worker's, on a resident's behalf) new proposal."""
    if community is None:
        raise Invalid("社区代码不存在或不是有效的社区", field="community_code", community_code=community_code)
    if not principal.covers(community.code):
        raise Forbidden("该社区不在您的范围内", community_code=community.code)
    if category not in CATEGORIES:
        raise Invalid("未知的议题类别", field="category", allowed=sorted(CATEGORIES))
    if channel not in CHANNELS:
        raise Invalid("未知的提交渠道", field="channel", allowed=list(CHANNELS))
    return Proposal(
        id=str(uuid.uuid4()),
        community_code=community.code,
        title=_plain_text("title", "标题", title, MAX_TITLE),
        description=_plain_text("description", "描述", description, MAX_DESCRIPTION),
        category=category,
        channel=channel,
        origin="top_down" if principal.role in ORIGIN_TOP_DOWN_ROLES else "resident",
        submitter_id=principal.subject,
        status="submitted",
        submitted_at=now,
    )
