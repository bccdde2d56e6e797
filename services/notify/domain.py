"""Notify's rules: which template a resident gets for an event, and its Chinese text."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

TEMPLATES = {
    "proposal_received": "您提交的建议“{title}”已收到,社区将尽快处理。",
}


@dataclass(frozen=True)
class Notification:
    id: str
    recipient_id: str
    channel: str
    template: str
    body: str
    division_code: str | None
    event_id: str
    created_at: datetime


def render(template: str, **variables: str) -> str:
    return TEMPLATES[template].format(**variables)


def app_notification(
    *,
    recipient_id: str,
    template: str,
    variables: dict[str, str],
    division_code: str | None,
    event_id: str,
    now: datetime,
) -> Notification:
    return Notification(
        id=str(uuid.uuid4()),
        recipient_id=recipient_id,
        channel="app",
        template=template,
        body=render(template, **variables),
        division_code=division_code,
        event_id=event_id,
        created_at=now,
    )
