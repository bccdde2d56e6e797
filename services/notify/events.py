"""What notify publishes: the contacts of its directory as ids (``notify.contacts.changed``), so
meetings knows whom an invitation may name, and residents' SMS replies that call another service's
use case (``notify.reply.received``: co-sign, RSVP, rate, raise a matter). Its other output is
messages (the in-app inbox and SMS); what it consumes is in ``handlers.py``.

A contact is told by its ids and facts only (contact id, account id, kind, community, removed):
never its number, never a name (DESIGN.md)."""

from __future__ import annotations

from collections.abc import Iterable

from services.notify.domain import Contact, person_of
from shared.uow import UnitOfWork

CONTACTS_CHANGED = "notify.contacts.changed"
PART = 500  # contacts per event (the catalogue's limit): a CSV import is told in parts


def record(contact: Contact) -> dict:
    return {
        "contact_id": contact.id,
        "app_user_id": contact.app_user_id,
        "kind": contact.kind,
        "community_code": contact.community_code,
        "removed": contact.removed_at is not None,
    }


def contacts_changed(uow: UnitOfWork, changed: Iterable[Contact]) -> None:
    """Tell of contacts added, changed or removed, in parts of ``PART``; nothing for none. An event
    of one community carries its code, one of several none."""
    records = [record(contact) for contact in changed]
    for start in range(0, len(records), PART):
        part = records[start : start + PART]
        communities = {r["community_code"] for r in part}
        division_code = next(iter(communities)) if len(communities) == 1 else None
        uow.emit(CONTACTS_CHANGED, {"contacts": part}, division_code=division_code)


REPLY_RECEIVED = "notify.reply.received"


def reply_received(uow: UnitOfWork, reply_id: str, kind: str, contact: Contact, **facts) -> None:
    """A resident's SMS reply, for the service whose use case it calls (ids and the answer; for a
    matter its text): the person as other services know them (``domain.person_of``), never the number."""
    uow.emit(
        REPLY_RECEIVED,
        {
            "reply_id": reply_id,
            "kind": kind,
            "person_id": person_of(contact),
            "contact_id": contact.id,
            "community_code": contact.community_code,
            **facts,
        },
        division_code=contact.community_code,
    )
