"""Writing a route's messages: for each recipient, the in-app message and the queued SMS that its
contact entry allows (channels, opt-out of the template's category, a number that replied 退订, quiet
hours), once per (event, recipient, channel).

Recipients come in two shapes:

- a list of ``Recipient``: accounts (``user_id``: in-app by that id, SMS through the contact whose
  ``app_user_id`` it is; without a contact entry, in the app only), each with their own variables
  (a submitter's relation to their proposal…). Rows are queued through ``uow.insert_once`` and
  written in bulk at commit.
- ``Contacts``: every live contact matching some conditions, all told the same (a community's
  subscribers, a department's contacts). They are expanded inside the database, ``INSERT … SELECT``
  from the directory, so an announcement to 35,000 subscribers sends no row over the wire: one
  statement for the inbox and one per distinct quiet-hours setting for the SMS.

The SMS row holds the template's variables; the sender composes the signed text when it sends
(``sender.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import JSON, Boolean, Integer, String, Text, cast, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite

from services.notify import domain, sms
from services.notify.models import contacts, notifications, sms_messages, sms_stops
from services.notify.routing import Route
from shared import metrics
from shared.db import Database, UTCDateTime
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
    user_id: str  # an account
    variables: dict[str, str]  # what the message says about them


@dataclass(frozen=True)
class Contacts:
    """Every live contact matching ``where`` (conditions on ``contact``), told with ``variables``."""

    where: tuple
    variables: dict[str, str]


c, stop = contacts.c, sms_stops.c
_ENTRIES = (
    select(c.id, c.app_user_id, c.channels, c.opt_outs, c.quiet_start, c.quiet_end, stop.phone_hash.is_not(None))
    .select_from(contacts.outerjoin(sms_stops, stop.phone_hash == c.phone_hash))
    .where(c.live.is_(True))
)


def entries_of_accounts(uow: UnitOfWork, user_ids: Iterable[str]) -> dict[str, ContactEntry]:
    """The live contact entries of these accounts, by account."""
    wanted = list(dict.fromkeys(user_ids))
    if not wanted:
        return {}
    rows = uow.session.execute(_ENTRIES.where(c.app_user_id.in_(wanted)))
    return {entry.app_user_id: entry for entry in (ContactEntry(*row) for row in rows)}


def accounts(user_ids_and_variables: Iterable[tuple[str, dict[str, str]]]) -> list[Recipient]:
    return [Recipient(user_id, variables) for user_id, variables in user_ids_and_variables]


def deliver(
    uow: UnitOfWork,
    *,
    route: Route,
    recipients: list[Recipient] | Contacts,
    facts: dict[str, str],
    event_id: str,
    division_code: str | None,
    now: datetime,
) -> None:
    if isinstance(recipients, Contacts):
        return _deliver_in_database(uow, route, recipients, facts, event_id, division_code, now)
    template = domain.TEMPLATES[route.template]
    bodies: dict[tuple, str] = {}  # most recipients of a route share their variables: render once
    told = []
    for recipient in recipients:
        variables = {**recipient.variables, **facts}
        key = tuple(sorted(variables.items()))
        if key not in bodies:
            bodies[key] = template.render(variables)  # refuses a missing or unknown variable, now
        told.append((recipient.user_id, variables, bodies[key]))
    # Whose contact entry allows what is looked up once for the whole burst, at the next flush.
    uow.deferred(DEFERRED_KEY, lambda batches: _deliver_to_accounts(uow, batches)).append(
        (route, told, event_id, division_code, now)
    )


DEFERRED_KEY = "notify.accounts"


def _deliver_to_accounts(uow: UnitOfWork, batches: list) -> None:
    by_account = entries_of_accounts(uow, [user_id for *_, told, _, _, _ in batches for user_id, _, _ in told])
    written = {"app": 0, sms.QUEUED: 0, sms.DEFERRED: 0}
    quiet: dict[tuple, datetime | None] = {}
    for route, told, event_id, division_code, now in batches:
        category = domain.category(route.template)
        urgent = route.template in domain.URGENT
        for user_id, variables, body in told:
            contact = by_account.get(user_id)
            if domain.wants(contact, "app", category):
                uow.insert_once(
                    notifications,
                    {
                        "id": str(uuid.uuid4()),
                        "recipient_id": user_id,
                        "channel": "app",
                        "template": route.template,
                        "body": body,
                        "division_code": division_code,
                        "event_id": event_id,
                        "created_at": now,
                        "read_at": None,
                    },
                )
                written["app"] += 1
            if contact is None or contact.stopped or not domain.wants(contact, "sms", category):
                continue
            hours = (contact.quiet_start, contact.quiet_end, now)
            if hours not in quiet:
                quiet[hours] = sms.quiet_until(*hours)
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
    _written(uow, written)


def _written(uow: UnitOfWork, written: dict[str, int]) -> None:
    if written[sms.QUEUED]:
        Database.mark(uow.session, sms.COMMIT_MARK)
    for status, count in written.items():
        if count:
            channel = "app" if status == "app" else "sms"
            metrics.NOTIFY_MESSAGES.labels(channel, "written" if channel == "app" else status).inc(count)


# -- expansion inside the database ---------------------------------------------------------------------


def _lists(column, token: str):
    """Whether a JSON array of plain names (channels, opt-outs) holds ``token``: its text holds the
    quoted name, on SQLite and PostgreSQL alike (the names are identifiers, none inside another)."""
    return cast(column, Text).like(f'%"{token}"%')


def _new_id(dialect: str):
    if dialect == "postgresql":
        return cast(func.gen_random_uuid(), String)
    return func.lower(func.hex(func.randomblob(16)))


def _insert_ignoring_duplicates(dialect: str, table, columns: list[str], rows):
    insert = (postgresql if dialect == "postgresql" else sqlite).insert
    # preserve_rowcount: how many were written (SQLAlchemy leaves it -1 for INSERT … SELECT otherwise)
    statement = insert(table).from_select(columns, rows).on_conflict_do_nothing()
    return statement.execution_options(preserve_rowcount=True)


def _deliver_in_database(uow, route, audience: Contacts, facts, event_id, division_code, now) -> None:
    uow.flush()  # the rows of earlier routes first: a person reached by two routes hears the first
    session = uow.session
    dialect = session.bind.dialect.name
    template = domain.TEMPLATES[route.template]
    category = domain.category(route.template)
    urgent = route.template in domain.URGENT
    variables = {**audience.variables, **facts}
    body = template.render(variables)  # refuses a missing or unknown variable
    k, stop = contacts.c, sms_stops.c
    wanted = (k.live.is_(True), *audience.where, ~_lists(k.opt_outs, category))

    app = select(
        _new_id(dialect), k.app_user_id, literal("app", String), literal(route.template, String),
        literal(body, Text), literal(division_code, String), literal(event_id, String), literal(now, UTCDateTime()),
    ).where(*wanted, k.app_user_id.is_not(None), _lists(k.channels, "app"))  # fmt: skip
    columns = ["id", "recipient_id", "channel", "template", "body", "division_code", "event_id", "created_at"]
    statement = _insert_ignoring_duplicates(dialect, notifications, columns, app)
    written = {"app": session.execute(statement).rowcount, sms.QUEUED: 0, sms.DEFERRED: 0}

    directory = contacts.outerjoin(sms_stops, stop.phone_hash == k.phone_hash)
    texted = (*wanted, _lists(k.channels, "sms"), stop.phone_hash.is_(None))
    hours = session.execute(select(k.quiet_start, k.quiet_end).select_from(directory).where(*texted).distinct())
    columns = ["id", "event_id", "contact_id", "template", "category", "variables", "urgent", "division_code",
               "status", "not_before", "attempts", "created_at", "updated_at"]  # fmt: skip
    for quiet_start, quiet_end in hours.all():  # a handful of settings, the same for most people
        until = None if urgent else sms.quiet_until(quiet_start, quiet_end, now)
        status = sms.DEFERRED if until else sms.QUEUED
        values = [
            _new_id(dialect), literal(event_id, String), k.id, literal(route.template, String),
            literal(category, String), literal(variables, JSON()), literal(urgent, Boolean()),
            literal(division_code, String), literal(status, String), literal(until or now, UTCDateTime()),
            literal(0, Integer()), literal(now, UTCDateTime()), literal(now, UTCDateTime()),
        ]  # fmt: skip
        same_hours = (k.quiet_start == quiet_start, k.quiet_end == quiet_end)
        queued = select(*values).select_from(directory).where(*texted, *same_hours)
        written[status] += session.execute(_insert_ignoring_duplicates(dialect, sms_messages, columns, queued)).rowcount
    _written(uow, written)
