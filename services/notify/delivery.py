"""Writing a route's messages: for each recipient, the in-app message and the queued SMS that its
contact entry allows, all queued through ``uow.insert_once`` and written in bulk at commit (an
announcement to a community of 35,000 subscribers is a handful of statements, not 35,000
transactions).

A recipient is an account (``user_id``: in-app by that id, SMS through the contact whose
``app_user_id`` it is) or a contact of the directory (SMS to its number, in-app where it has an app
account). Without a contact entry an account is told in the app only. The SMS row holds the
template's variables; the sender composes the signed text when it sends (``sender.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select

from services.notify import domain, sms
from services.notify.models import contacts, notifications, sms_messages, sms_stops
from services.notify.routing import Route
from shared import metrics
from shared.db import Database
from shared.uow import UnitOfWork


class ContactEntry(NamedTuple):
    id: str
    app_user_id: str | None
    channels: list[str]
    opt_outs: list[str]
    quiet_start: str
    quiet_end: str
    stopped: bool  # the number replied 退订


@dataclass(frozen=True)
class Recipient:
    user_id: str | None
    contact: ContactEntry | None
    variables: dict[str, str]


c, stop = contacts.c, sms_stops.c
_ENTRIES = (
    select(c.id, c.app_user_id, c.channels, c.opt_outs, c.quiet_start, c.quiet_end, stop.phone_hash.is_not(None))
    .select_from(contacts.outerjoin(sms_stops, stop.phone_hash == c.phone_hash))
    .where(c.live.is_(True))
)


def entries(uow: UnitOfWork, *conditions) -> list[ContactEntry]:
    """Live contacts matching ``conditions``, oldest first."""
    rows = uow.session.execute(_ENTRIES.where(*conditions).order_by(c.created_at, c.id))
    return [ContactEntry(*row) for row in rows]


def entries_of_accounts(uow: UnitOfWork, user_ids: Iterable[str]) -> dict[str, ContactEntry]:
    wanted = list(dict.fromkeys(user_ids))
    if not wanted:
        return {}
    return {entry.app_user_id: entry for entry in entries(uow, c.app_user_id.in_(wanted))}


def accounts(user_ids_and_variables: Iterable[tuple[str, dict[str, str]]]) -> list[Recipient]:
    return [Recipient(user_id, None, variables) for user_id, variables in user_ids_and_variables]


def deliver(
    uow: UnitOfWork,
    *,
    route: Route,
    recipients: list[Recipient],
    facts: dict[str, str],
    event_id: str,
    division_code: str | None,
    now: datetime,
) -> None:
    template = domain.TEMPLATES[route.template]
    category = domain.category(route.template)
    urgent = route.template in domain.URGENT
    by_account = entries_of_accounts(uow, [r.user_id for r in recipients if r.contact is None and r.user_id])
    bodies: dict[tuple, str] = {}  # most recipients of a route share their variables: render once
    quiet: dict[tuple[str, str], datetime | None] = {}
    written = {"app": 0, sms.QUEUED: 0, sms.DEFERRED: 0}
    for recipient in recipients:
        contact = recipient.contact or by_account.get(recipient.user_id)
        variables = {**recipient.variables, **facts}
        key = tuple(sorted(variables.items()))
        if key not in bodies:
            bodies[key] = template.render(variables)  # refuses a missing or unknown variable
        account = recipient.user_id or (contact.app_user_id if contact else None)
        if account and domain.wants(contact, "app", category):
            uow.insert_once(
                notifications,
                {
                    "id": str(uuid.uuid4()),
                    "recipient_id": account,
                    "channel": "app",
                    "template": route.template,
                    "body": bodies[key],
                    "division_code": division_code,
                    "event_id": event_id,
                    "created_at": now,
                    "read_at": None,
                },
            )
            written["app"] += 1
        if contact is None or contact.stopped or not domain.wants(contact, "sms", category):
            continue
        hours = (contact.quiet_start, contact.quiet_end)
        if hours not in quiet:
            quiet[hours] = sms.quiet_until(*hours, now)
        until = None if urgent else quiet[hours]
        status = sms.DEFERRED if until else sms.QUEUED
        uow.insert_once(
            sms_messages,
            {
                "id": str(uuid.uuid4()),
                "event_id": event_id,
                "contact_id": contact.id,
                "template": route.template,
                "category": category,
                "variables": variables,
                "body": None,
                "parts": None,
                "urgent": urgent,
                "division_code": division_code,
                "status": status,
                "not_before": until or now,
                "attempts": 0,
                "lease_until": None,
                "provider": None,
                "provider_reference": None,
                "error": None,
                "created_at": now,
                "sent_at": None,
                "delivered_at": None,
                "updated_at": now,
            },
        )
        written[status] += 1
    if written[sms.QUEUED]:
        Database.mark(uow.session, sms.COMMIT_MARK)
    for status, count in written.items():
        if count:
            channel = "app" if status == "app" else "sms"
            metrics.NOTIFY_MESSAGES.labels(channel, "written" if channel == "app" else status).inc(count)
