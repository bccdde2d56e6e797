"""Moving contacts in and out of the ``contact`` table (numbers encrypted by ``phones.PhoneVault``)."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from services.notify.domain import Contact
from services.notify.models import contacts
from services.notify.phones import PhoneVault
from shared.pagination import Keyset, page

c = contacts.c
NEWEST_FIRST = Keyset(c.created_at, c.id, descending=True)


def _contact(row) -> Contact:
    return Contact(
        id=row["id"],
        kind=row["kind"],
        community_code=row["community_code"],
        department_id=row["department_id"],
        app_user_id=row["app_user_id"],
        channels=tuple(row["channels"]),
        quiet_start=row["quiet_start"],
        quiet_end=row["quiet_end"],
        opt_outs=tuple(row["opt_outs"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        removed_at=row["removed_at"],
    )


def _values(contact: Contact) -> dict:
    return {
        "kind": contact.kind,
        "community_code": contact.community_code,
        "department_id": contact.department_id,
        "app_user_id": contact.app_user_id,
        "channels": list(contact.channels),
        "quiet_start": contact.quiet_start,
        "quiet_end": contact.quiet_end,
        "opt_outs": list(contact.opt_outs),
        "updated_at": contact.updated_at,
    }


def add(session: Session, vault: PhoneVault, contact: Contact, phone: str) -> None:
    session.execute(
        insert(contacts).values(
            id=contact.id,
            phone_cipher=vault.encrypt(phone, contact.id),
            phone_hash=vault.digest(phone),
            created_at=contact.created_at,
            removed_at=None,
            live=True,
            **_values(contact),
        )
    )


def save(session: Session, contact: Contact) -> None:
    session.execute(update(contacts).where(c.id == contact.id).values(**_values(contact)))


def remove(session: Session, contact_id: str, now) -> None:
    """Retention: the ciphertext goes at once; the hash and opt-outs stay (opt-out memory)."""
    session.execute(
        update(contacts).where(c.id == contact_id).values(phone_cipher=None, removed_at=now, updated_at=now, live=None)
    )


def get(session: Session, contact_id: str) -> tuple[Contact, bytes | None] | None:
    """A live contact and its ciphertext."""
    row = session.execute(select(contacts).where(c.id == contact_id, c.live.is_(True))).mappings().first()
    return None if row is None else (_contact(row), row["phone_cipher"])


def by_app_user(session: Session, app_user_id: str) -> tuple[Contact, bytes | None] | None:
    row = session.execute(select(contacts).where(c.app_user_id == app_user_id, c.live.is_(True))).mappings().first()
    return None if row is None else (_contact(row), row["phone_cipher"])


def by_phone(session: Session, community_code: str, phone_hash: str) -> Contact | None:
    """The live contact of a number in a community."""
    row = (
        session.execute(
            select(contacts).where(c.community_code == community_code, c.phone_hash == phone_hash, c.live.is_(True))
        )
        .mappings()
        .first()
    )
    return None if row is None else _contact(row)


def app_user_taken(session: Session, app_user_id: str | None, except_id: str | None = None) -> bool:
    if not app_user_id:
        return False
    query = select(c.id).where(c.app_user_id == app_user_id, c.live.is_(True))
    if except_id:
        query = query.where(c.id != except_id)
    return session.scalar(query.limit(1)) is not None


def remembered_opt_outs(session: Session, community_code: str, phone_hash: str) -> tuple[str, ...]:
    """Opt-outs of removed contacts with this number in this community."""
    rows = session.scalars(
        select(c.opt_outs).where(
            c.community_code == community_code, c.phone_hash == phone_hash, c.removed_at.is_not(None)
        )
    )
    return tuple(sorted({category for row in rows for category in row}))


def search(
    session: Session, *, scope: str, community: str | None, kind: str | None, limit: int, cursor: str | None
) -> tuple[list[tuple[Contact, bytes | None]], str | None]:
    query = select(contacts).where(c.live.is_(True), c.community_code.like(f"{scope}%"))
    if community:
        query = query.where(c.community_code.like(f"{community}%"))
    if kind:
        query = query.where(c.kind == kind)
    return page(
        session,
        query,
        NEWEST_FIRST,
        limit=limit,
        cursor=cursor,
        convert=lambda row: (_contact(row), row["phone_cipher"]),
    )
