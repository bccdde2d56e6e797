"""What notify publishes: the contacts of its directory as ids (``notify.contacts.changed``), so
meetings knows whom an invitation may name. Its other output is messages (the in-app inbox and
SMS), not events; what it consumes is in ``handlers.py``.

A contact is told by its ids and facts only (contact id, account id, kind, community, removed):
never its number, never a name (DESIGN.md)."""

from __future__ import annotations

from collections.abc import Iterable

from services.notify.domain import Contact
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
