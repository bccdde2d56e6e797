"""All of notify's SQL, by table group:

- the contact directory (``contact``, numbers encrypted by ``phones.PhoneVault``) and the stop list
  (``sms_stop``);
- the audience replicas (``proposal_audience``, ``proposal_supporter``, ``consultation_audience``,
  ``consultation_invitee``), kept from other services' events;
- delivery: a route's messages written to ``notification`` and ``sms_message``, per account queued
  for the unit of work's bulk write (``uow.insert_once``), for a group of contacts expanded inside the
  database (``INSERT … SELECT`` from the directory: an announcement to 35,000 subscribers sends no
  row over the wire);
- the inbox (``notification``): the caller's list, marking read, the live stream's positions;
- SMS (``sms_message``): claiming due messages for the sender, their outcomes, delivery reports,
  the log, retention; consultations due a reminder (``consultation_audience``).

Functions take the session of the caller's unit of work, or the unit of work itself where they
queue rows for its bulk write or read what such rows hold (they flush what is queued first, so a
consumer's burst sees its own writes in order).

Rules of ``domain`` mirrored in queries here, for lists and bulk writes:

- ``within(contact.community_code, scope)`` and ``within(sms_message.division_code, scope)``: a
  manager's lists hold what ``Principal.covers`` (``domain.visible_to``) lets them see;
- the group expansion (``fan_out_*``): ``domain.wants`` (the channel listed, the template's category
  not opted out) and the stop list (a number that replied 退订 gets no SMS), as
  ``services.deliver`` applies them to accounts one by one;
- ``_reminder_due``: a consultation not cancelled, starting within the lead time, not yet reminded
  for its current start (a postponement makes a new reminder due).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from itertools import groupby
from typing import NamedTuple

from sqlalchemy import (
    JSON,
    Boolean,
    Integer,
    String,
    Text,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.notify import sms
from services.notify.domain import Contact, ContactEntry, ContactGroup, contact_of_person
from services.notify.models import (
    consultation_audience,
    consultation_invitees,
    contacts,
    notifications,
    proposal_audience,
    proposal_supporters,
    sms_messages,
    sms_questions,
    sms_replies,
    sms_stops,
)
from services.notify.phones import PhoneVault
from shared.db import Database, UTCDateTime
from shared.pagination import Keyset, page
from shared.sql import built, dialect_insert, insert_ignoring_duplicates, locked, within
from shared.uow import UnitOfWork

k, stop, n, m = contacts.c, sms_stops.c, notifications.c, sms_messages.c


# -- the contact directory ----------------------------------------------------------------------------

CONTACTS_NEWEST_FIRST = Keyset(k.created_at, k.id, descending=True)


class Duplicate(Exception):
    """A live contact has this number in the community (``key`` "phone") or this account ("app_user")."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


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
    """Store a new contact; ``Duplicate`` when a live one has its number or account (a concurrent insert)."""
    try:
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
    except IntegrityError as exc:
        raise Duplicate("app_user" if "app_user" in str(exc.orig) else "phone") from exc


def save(session: Session, contact: Contact) -> None:
    session.execute(update(contacts).where(k.id == contact.id).values(**_values(contact)))


def remove(session: Session, contact_id: str, now: datetime) -> None:
    """Retention: the ciphertext goes at once; the hash and opt-outs stay (opt-out memory)."""
    session.execute(
        update(contacts).where(k.id == contact_id).values(phone_cipher=None, removed_at=now, updated_at=now, live=None)
    )


def get(session: Session, contact_id: str, *, for_update: bool = False) -> tuple[Contact, bytes | None] | None:
    """A live contact and its ciphertext; ``for_update``: locked until commit, so changes of one
    contact queue up (a second removal then finds it removed)."""
    query = select(contacts).where(k.id == contact_id, k.live.is_(True))
    row = session.execute(locked(session, query) if for_update else query).mappings().first()
    return None if row is None else (_contact(row), row["phone_cipher"])


def by_app_user(session: Session, app_user_id: str) -> tuple[Contact, bytes | None] | None:
    row = session.execute(select(contacts).where(k.app_user_id == app_user_id, k.live.is_(True))).mappings().first()
    return None if row is None else (_contact(row), row["phone_cipher"])


def by_phone(session: Session, community_code: str, phone_hashes: Sequence[str]) -> Contact | None:
    """The live contact of a number (under any of its hashes, ``PhoneVault.digests``) in a community."""
    row = (
        session.execute(
            select(contacts).where(k.community_code == community_code, k.phone_hash.in_(phone_hashes), k.live.is_(True))
        )
        .mappings()
        .first()
    )
    return None if row is None else _contact(row)


def app_user_taken(session: Session, app_user_id: str | None, except_id: str | None = None) -> bool:
    if not app_user_id:
        return False
    query = select(k.id).where(k.app_user_id == app_user_id, k.live.is_(True))
    if except_id:
        query = query.where(k.id != except_id)
    return session.scalar(query.limit(1)) is not None


def remembered_opt_outs(session: Session, community_code: str, phone_hashes: Sequence[str]) -> tuple[str, ...]:
    """Opt-outs of removed contacts with this number in this community."""
    rows = session.scalars(
        select(k.opt_outs).where(
            k.community_code == community_code, k.phone_hash.in_(phone_hashes), k.removed_at.is_not(None)
        )
    )
    return tuple(sorted({category for row in rows for category in row}))


def search(
    session: Session, *, scope: str, community: str | None, kind: str | None, limit: int, cursor: str | None
) -> tuple[list[tuple[Contact, bytes | None]], str | None]:
    """Live contacts within ``scope`` (``domain.visible_to``), newest first, one page."""
    query = select(contacts).where(k.live.is_(True), within(k.community_code, scope))
    if community:
        query = query.where(within(k.community_code, community))
    if kind:
        query = query.where(k.kind == kind)
    return page(
        session,
        query,
        CONTACTS_NEWEST_FIRST,
        limit=limit,
        cursor=cursor,
        convert=lambda row: (_contact(row), row["phone_cipher"]),
    )


def every_contact(session: Session) -> list[Contact]:
    """Every contact the directory holds, the removed ones too (``removed_at`` set), oldest first."""
    return [_contact(row) for row in session.execute(select(contacts).order_by(k.created_at, k.id)).mappings()]


# -- phone key rotation (``services.rekey_contacts``) ----------------------------------------------------


_CIPHERS = {"contacts": contacts, "answers": sms_messages}  # the tables holding numbers' ciphertexts


def numbers_after(session: Session, holders: str, after: str, limit: int) -> list:
    """Rows of ``holders`` (``contacts``, or ``answers``: SMS messages to numbers without a contact)
    holding a number's ciphertext, by id after ``after``, locked (an edit waits for the batch), one
    batch."""
    c = _CIPHERS[holders].c
    hashed = (c.phone_hash,) if "phone_hash" in c else ()
    query = select(c.id, c.phone_cipher, *hashed).where(c.phone_cipher.is_not(None), c.id > after)
    return session.execute(locked(session, query.order_by(c.id).limit(limit))).all()


def set_cipher(session: Session, holders: str, row_id: str, cipher: bytes) -> None:
    table = _CIPHERS[holders]
    session.execute(update(table).where(table.c.id == row_id).values(phone_cipher=cipher))


def move_hash(session: Session, old: str, new: str) -> None:
    """Every row keyed by a number's ``old`` hash moves to its ``new`` one, at once, so the directory
    still joins each contact to its stop: the contacts (removed ones with it too, whose opt-outs are
    remembered by it), the stop list and the replies (an entry already under ``new`` wins)."""
    session.execute(update(contacts).where(k.phone_hash == old).values(phone_hash=new))
    if session.scalar(select(stop.phone_hash).where(stop.phone_hash == new)) is not None:
        session.execute(delete(sms_stops).where(stop.phone_hash == old))
    else:
        session.execute(update(sms_stops).where(stop.phone_hash == old).values(phone_hash=new))
    already = select(r.question_key).where(r.phone_hash == new)
    session.execute(delete(sms_replies).where(r.phone_hash == old, r.question_key.in_(already)))
    session.execute(update(sms_replies).where(r.phone_hash == old).values(phone_hash=new))


def stop_number(session: Session, phone_hashes: Sequence[str], keyword: str, now: datetime) -> None:
    """Put a number on the stop list (it replied T/TD/退订); already there, it stays as it was.
    Stopped under each of its hashes: during a key rotation the directory joins a contact to the
    stop list by whichever hash the contact still has."""
    for phone_hash in phone_hashes:
        insert_ignoring_duplicates(
            session, sms_stops, {"phone_hash": phone_hash, "keyword": keyword, "stopped_at": now}
        )


def resume_number(session: Session, phone_hashes: Sequence[str]) -> None:
    session.execute(delete(sms_stops).where(stop.phone_hash.in_(phone_hashes)))


def live_contacts_of_number(session: Session, phone_hashes: Sequence[str]) -> list[Contact]:
    """The live contacts with this number (in any community), oldest first."""
    rows = session.execute(
        select(contacts).where(k.phone_hash.in_(phone_hashes), k.live.is_(True)).order_by(k.created_at, k.id)
    ).mappings()
    return [_contact(row) for row in rows]


def is_stopped(session: Session, phone_hashes: Sequence[str]) -> bool:
    return session.scalar(select(stop.phone_hash).where(stop.phone_hash.in_(phone_hashes)).limit(1)) is not None


# -- SMS replies: questions asked, replies acted on -------------------------------------------------------

q, r = sms_questions.c, sms_replies.c


def ask(uow: UnitOfWork, question: dict) -> None:
    """A question an SMS asks, written once (a redelivered event asks it again under the same id)."""
    uow.insert_once(sms_questions, question)


def questions(session: Session, question_ids: Iterable[str]) -> dict[str, dict]:
    """The questions SMS ask, by id."""
    question_ids = list(question_ids)
    if not question_ids:
        return {}
    rows = session.execute(select(sms_questions).where(q.id.in_(question_ids))).mappings()
    return {row["id"]: dict(row) for row in rows}


def questions_to(
    session: Session, contact_ids: list[str], now: datetime, *, kinds: Iterable[str], code: str | None
) -> list[dict]:
    """The open questions (not expired) of these kinds sent to these contacts, the newest sent first,
    each with the contact it was sent to; only those with ``code`` if given."""
    query = (
        select(sms_questions, m.contact_id)
        .select_from(sms_messages.join(sms_questions, q.id == m.question_id))
        .where(m.contact_id.in_(contact_ids), m.sent_at.is_not(None), q.expires_at > now, q.kind.in_(tuple(kinds)))
        .order_by(m.sent_at.desc(), m.created_at.desc())
        .limit(20)
    )
    if code is not None:
        query = query.where(q.code == code)
    return [dict(row) for row in session.execute(query).mappings()]


def record_reply(session: Session, phone_hashes: Sequence[str], question_key: str, action: str, now: datetime) -> bool:
    """Keep that this number's reply to a question was acted on (under its current hash, the
    first); False if it already was, under any of its hashes (a reply delivered twice, or a
    question answered again): then nothing more is done."""
    acted_on = select(r.question_key).where(r.phone_hash.in_(phone_hashes), r.question_key == question_key)
    if session.scalar(acted_on.limit(1)) is not None:
        return False
    statement = (
        dialect_insert(session)(sms_replies)
        .values(phone_hash=phone_hashes[0], question_key=question_key, action=action, created_at=now)
        .on_conflict_do_nothing()
    )
    return bool(session.execute(statement).rowcount)


def queue_answer(session: Session, row: dict) -> bool:
    """An answer to a resident's SMS (help, how to register, a status), written now; False when one
    with its id was already written (the day's help: one per number and day)."""
    statement = dialect_insert(session)(sms_messages).values(row).on_conflict_do_nothing()
    return bool(session.execute(statement).rowcount)


def purge_questions(session: Session, expired_before: datetime) -> int:
    """Retention of questions and replies: those expired (or kept) before ``expired_before`` go."""
    gone = session.execute(sms_questions.delete().where(q.expires_at < expired_before)).rowcount or 0
    session.execute(sms_replies.delete().where(r.created_at < expired_before))
    return gone


# -- audience replicas --------------------------------------------------------------------------------


def proposal_audiences(uow: UnitOfWork, proposal_ids: Iterable[str]) -> dict[str, dict]:
    """The kept rows of these proposals (community, title, submitter), by proposal."""
    uow.flush()
    a = proposal_audience.c
    rows = uow.session.execute(select(proposal_audience).where(a.proposal_id.in_(list(proposal_ids)))).mappings()
    return {row["proposal_id"]: dict(row) for row in rows}


def supporters(uow: UnitOfWork, proposal_ids: Iterable[str]) -> dict[str, list[str]]:
    """Who co-signs these proposals now, by proposal, in id order."""
    uow.flush()
    s = proposal_supporters.c
    found: dict[str, list[str]] = {}
    for row in uow.session.execute(
        select(s.proposal_id, s.supporter_id).where(s.proposal_id.in_(list(proposal_ids))).order_by(s.supporter_id)
    ):
        found.setdefault(row.proposal_id, []).append(row.supporter_id)
    return found


def keep_proposal(uow: UnitOfWork, proposal_id: str, community_code: str, title: str, submitter_id: str) -> None:
    uow.insert_once(
        proposal_audience,
        {"proposal_id": proposal_id, "community_code": community_code, "title": title, "submitter_id": submitter_id},
    )


def add_supporter(uow: UnitOfWork, proposal_id: str, supporter_id: str) -> None:
    uow.insert_once(proposal_supporters, {"proposal_id": proposal_id, "supporter_id": supporter_id})


def remove_supporter(uow: UnitOfWork, proposal_id: str, supporter_id: str) -> None:
    uow.flush()  # a support queued earlier in this burst must be there to be deleted
    s = proposal_supporters.c
    uow.session.execute(delete(proposal_supporters).where(s.proposal_id == proposal_id, s.supporter_id == supporter_id))


def set_matter_status(uow: UnitOfWork, proposal_ids: Iterable[str], status: str) -> None:
    """The status of these matters as an event told it (for an SMS 查询)."""
    uow.flush()
    a = proposal_audience.c
    uow.session.execute(update(proposal_audience).where(a.proposal_id.in_(list(proposal_ids))).values(status=status))


def remove_supporters(uow: UnitOfWork, proposal_id: str) -> None:
    uow.session.execute(delete(proposal_supporters).where(proposal_supporters.c.proposal_id == proposal_id))


def consultation_title(uow: UnitOfWork, consultation_id: str) -> str | None:
    """The title kept from the consultation's announcement; None if it was never announced."""
    uow.flush()
    c = consultation_audience.c
    return uow.session.scalar(select(c.title).where(c.consultation_id == consultation_id))


def invitees(uow: UnitOfWork, consultation_id: str) -> list[str]:
    uow.flush()
    i = consultation_invitees.c
    return list(
        uow.session.scalars(select(i.invitee_id).where(i.consultation_id == consultation_id).order_by(i.invitee_id))
    )


def keep_consultation(uow: UnitOfWork, consultation_id: str, community_code: str, when: dict) -> None:
    """A consultation's row with ``when`` (title, start, place…): a new one is inserted with them at
    commit, an existing one takes them now."""
    c = consultation_audience.c
    uow.insert_once(
        consultation_audience,
        {
            "consultation_id": consultation_id,
            "community_code": community_code,
            "place": None,
            "cancelled": False,
            "reminded_for": None,
            **when,
        },
    )
    uow.session.execute(update(consultation_audience).where(c.consultation_id == consultation_id).values(**when))


def add_invitees(uow: UnitOfWork, consultation_id: str, invitee_ids: Iterable[str]) -> None:
    for who in invitee_ids:
        uow.insert_once(consultation_invitees, {"consultation_id": consultation_id, "invitee_id": who})


def cancel_consultation(uow: UnitOfWork, consultation_id: str) -> None:
    uow.flush()
    c = consultation_audience.c
    uow.session.execute(
        update(consultation_audience).where(c.consultation_id == consultation_id).values(cancelled=True)
    )


# -- delivery: per account ------------------------------------------------------------------------------

_DIRECTORY = contacts.outerjoin(sms_stops, stop.phone_hash == k.phone_hash)
_ENTRY = (k.id, k.app_user_id, k.channels, k.opt_outs, k.quiet_start, k.quiet_end, stop.phone_hash.is_not(None))
_ENTRIES = select(*_ENTRY).select_from(_DIRECTORY).where(k.live.is_(True))


def entries_of_accounts(session: Session, user_ids: Iterable[str]) -> dict[str, ContactEntry]:
    """The live contact entries of these people, by person: an account's contact, and for a
    ``contact:<id>`` person (``domain.contact_of_person``) that contact while it has no account."""
    wanted = list(dict.fromkeys(user_ids))
    if not wanted:
        return {}
    found = {}
    contact_ids = {cid: who for who in wanted if (cid := contact_of_person(who)) is not None}
    accounts = [who for who in wanted if who not in contact_ids.values()]
    if accounts:
        of_accounts = built(
            "entries_of_accounts", lambda: _ENTRIES.where(k.app_user_id.in_(bindparam("ids", expanding=True)))
        )
        rows = session.execute(of_accounts, {"ids": accounts})
        found |= {entry.app_user_id: entry for entry in (ContactEntry(*row) for row in rows)}
    if contact_ids:
        rows = session.execute(_ENTRIES.where(k.id.in_(list(contact_ids)), k.app_user_id.is_(None)))
        found |= {contact_ids[entry.id]: entry for entry in (ContactEntry(*row) for row in rows)}
    return found


def queue_notification(
    uow: UnitOfWork, recipient_id: str, template: str, body: str, division_code: str | None, event_id: str, now
) -> None:
    """An in-app message, written with the unit of work's other rows at flush; once per (event, recipient)."""
    uow.insert_once(
        notifications,
        {
            "id": str(uuid.uuid4()),
            "recipient_id": recipient_id,
            "channel": "app",
            "template": template,
            "body": body,
            "division_code": division_code,
            "event_id": event_id,
            "created_at": now,
            "read_at": None,
        },
    )


def queue_sms(
    uow: UnitOfWork,
    event_id: str,
    contact_id: str,
    template: str,
    category: str,
    variables: dict[str, str],
    urgent: bool,
    division_code: str | None,
    status: str,
    not_before: datetime,
    now: datetime,
    question_id: str | None = None,
) -> None:
    """An SMS for the sender (its template's variables, no number), written at flush; once per (event, contact)."""
    uow.insert_once(
        sms_messages,
        {
            "question_id": question_id,
            "phone_cipher": None,
            "id": str(uuid.uuid4()),
            "event_id": event_id,
            "contact_id": contact_id,
            "template": template,
            "category": category,
            "variables": variables,
            "body": None,
            "parts": None,
            "urgent": urgent,
            "division_code": division_code,
            "status": status,
            "not_before": not_before,
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


def wake_sender(session: Session) -> None:
    """The commit of this transaction wakes the SMS sender of the same process (SMS were queued)."""
    Database.mark(session, sms.COMMIT_MARK)


# -- delivery: a group of contacts, expanded inside the database ---------------------------------------


def _lists(column, token: str):
    """Whether a JSON array of plain names (channels, opt-outs) holds ``token``: its text holds the
    quoted name, on SQLite and PostgreSQL alike (the names are identifiers, none inside another)."""
    return cast(column, Text).like(f'%"{token}"%')


def _new_id(dialect: str):
    if dialect == "postgresql":
        return cast(func.gen_random_uuid(), String)
    return func.lower(func.hex(func.randomblob(16)))


def _insert_selected(session: Session, table, columns: list[str], rows) -> int:
    """INSERT … SELECT … ON CONFLICT DO NOTHING; how many rows were written."""
    statement = dialect_insert(session)(table).from_select(columns, rows).on_conflict_do_nothing()
    # preserve_rowcount: how many were written (SQLAlchemy leaves it -1 for INSERT … SELECT otherwise)
    return session.execute(statement.execution_options(preserve_rowcount=True)).rowcount


def _members(group: ContactGroup) -> tuple:
    """The group's live contacts."""
    members = [k.live.is_(True)]
    if group.community_code is not None:
        members.append(k.community_code == group.community_code)
    members.append(k.kind == group.kind)
    if group.department_id is not None:
        members.append(k.department_id == group.department_id)
    return tuple(members)


def _wanted(group: ContactGroup, category: str) -> tuple:
    """The group's members who did not opt out of the category (``domain.wants``, part one)."""
    return (*_members(group), ~_lists(k.opt_outs, category))


def _texted(group: ContactGroup, category: str) -> tuple:
    """Members taking SMS of the category whose number is not on the stop list."""
    return (*_wanted(group, category), _lists(k.channels, "sms"), stop.phone_hash.is_(None))


def count_group(session: Session, group: ContactGroup) -> int:
    return session.scalar(select(func.count()).select_from(contacts).where(*_members(group)))


def fan_out_app(
    uow: UnitOfWork,
    group: ContactGroup,
    category: str,
    template: str,
    body: str,
    event_id: str,
    division_code: str | None,
    now: datetime,
) -> int:
    """The in-app message of every member with an account who takes it in the app; how many were new."""
    uow.flush()  # the rows of earlier routes first: a person reached by two routes hears the first
    session = uow.session
    dialect = session.bind.dialect.name
    app = select(
        _new_id(dialect), k.app_user_id, literal("app", String), literal(template, String),
        literal(body, Text), literal(division_code, String), literal(event_id, String), literal(now, UTCDateTime()),
    ).where(*_wanted(group, category), k.app_user_id.is_not(None), _lists(k.channels, "app"))  # fmt: skip
    columns = ["id", "recipient_id", "channel", "template", "body", "division_code", "event_id", "created_at"]
    return _insert_selected(session, notifications, columns, app)


def quiet_hours_of(session: Session, group: ContactGroup, category: str) -> list[tuple[str, str]]:
    """The distinct quiet hours of the members to text (a handful, the same for most people)."""
    hours = select(k.quiet_start, k.quiet_end).select_from(_DIRECTORY).where(*_texted(group, category)).distinct()
    return [tuple(row) for row in session.execute(hours).all()]


def fan_out_sms(
    session: Session,
    group: ContactGroup,
    quiet_hours: tuple[str, str],
    *,
    category: str,
    template: str,
    variables: dict[str, str],
    urgent: bool,
    status: str,
    not_before: datetime,
    event_id: str,
    division_code: str | None,
    now: datetime,
    question_id: str | None = None,
) -> int:
    """The SMS of every member to text with these quiet hours; how many were new."""
    dialect = session.bind.dialect.name
    columns = ["id", "event_id", "contact_id", "template", "category", "variables", "urgent", "division_code",
               "status", "not_before", "attempts", "created_at", "updated_at", "question_id"]  # fmt: skip
    values = [
        _new_id(dialect), literal(event_id, String), k.id, literal(template, String),
        literal(category, String), literal(variables, JSON()), literal(urgent, Boolean()),
        literal(division_code, String), literal(status, String), literal(not_before, UTCDateTime()),
        literal(0, Integer()), literal(now, UTCDateTime()), literal(now, UTCDateTime()),
        literal(question_id, String),
    ]  # fmt: skip
    quiet_start, quiet_end = quiet_hours
    same_hours = (k.quiet_start == quiet_start, k.quiet_end == quiet_end)
    queued = select(*values).select_from(_DIRECTORY).where(*_texted(group, category), *same_hours)
    return _insert_selected(session, sms_messages, columns, queued)


# -- the inbox --------------------------------------------------------------------------------------------

STREAM_ORDER = Keyset(n.created_at, n.id, descending=False)
INBOX_NEWEST_FIRST = Keyset(n.created_at, n.id, descending=True)


def _mine(user_id: str):
    return (n.recipient_id == user_id) & (n.channel == "app")


def newest_notifications(session: Session, user_id: str, limit: int) -> list[dict]:
    query = select(notifications).where(_mine(user_id)).order_by(n.created_at.desc()).limit(limit)
    return [dict(row) for row in session.execute(query).mappings()]


def unread(session: Session, user_id: str) -> int:
    return session.scalar(select(func.count()).select_from(notifications).where(_mine(user_id), n.read_at.is_(None)))


def mark_read(session: Session, notification_id: str, user_id: str, now: datetime) -> dict | None:
    """Mark one of the user's notifications read (once); the notification, None if it is not theirs."""
    session.execute(
        update(notifications)
        .where(n.id == notification_id, n.recipient_id == user_id, n.read_at.is_(None))
        .values(read_at=now)
    )
    row = (
        session.execute(select(notifications).where(n.id == notification_id, n.recipient_id == user_id))
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


def check_position(cursor: str) -> None:
    """Refuse (``BadRequest``) what is not a position of the stream."""
    STREAM_ORDER.after(cursor)


def newest_position(session: Session, user_id: str) -> str | None:
    """The position of the user's newest notification, None without any."""
    newest = session.execute(
        select(n.created_at, n.id).where(_mine(user_id)).order_by(*INBOX_NEWEST_FIRST.order).limit(1)
    ).mappings().first()  # fmt: skip
    return None if newest is None else STREAM_ORDER.cursor_of(newest)


def notifications_after(session: Session, user_id: str, cursor: str | None, limit: int) -> list[tuple[str, dict]]:
    """The user's notifications after a position, oldest first, each with its own position."""
    query = select(notifications).where(_mine(user_id)).order_by(*STREAM_ORDER.order).limit(limit)
    if cursor is not None:
        query = query.where(STREAM_ORDER.after(cursor))
    return [(STREAM_ORDER.cursor_of(row), dict(row)) for row in session.execute(query).mappings()]


# -- SMS: the sender's claims and outcomes ------------------------------------------------------------------


def claim_due_sms(session: Session, *, batch: int, lease_until: datetime, now: datetime) -> list:
    """Claim up to ``batch`` due messages (waiting ones whose time has come, claims whose lease ran
    out): locked, skipping those another sender holds, then marked ``sending`` under a lease."""
    dialect = session.bind.dialect.name
    claim = built(("claim_due_sms", dialect, batch), lambda: locked(session, _due_statement(batch), skip_locked=True))
    rows = session.execute(claim, {"now": now}).all()
    if rows:
        mark = built("claimed_sms", _claimed_statement)
        session.execute(mark, {"ids": [row.id for row in rows], "lease": lease_until, "at": now})
    return rows


def _moment(name: str):
    """A time bound at execution, stored as the columns store times (also inside ``coalesce``)."""
    return bindparam(name, type_=UTCDateTime())


def _due_statement(batch: int):
    now = _moment("now")
    due = (m.status.in_(sms.WAITING) & (m.not_before <= now)) | ((m.status == sms.SENDING) & (m.lease_until < now))
    columns = (
        m.id, m.contact_id, m.template, m.category, m.variables, m.urgent, m.attempts, m.division_code,
        m.question_id, m.phone_cipher,
        m.status, m.lease_until,  # as they were before this claim: a stopping sender puts back what it did not send
    )  # fmt: skip
    return select(*columns).where(due).order_by(m.not_before).limit(batch)


def _claimed_statement():
    return (
        update(sms_messages)
        .where(m.id.in_(bindparam("ids", expanding=True)))
        .values(status=sms.SENDING, lease_until=_moment("lease"), attempts=m.attempts + 1, updated_at=_moment("at"))
    )


def release_sms(session: Session, claims: Iterable[tuple], now: datetime) -> int:
    """Put claimed messages back as they were before the claim (status, lease), each one still under
    its claim (``(claim, lease_until)``) only: one settled or taken over since stays as it is."""
    released = 0
    for claim, lease_until in sorted(claims, key=lambda c: c[0].id):  # in id order, as ``lock_sms``
        released += (
            session.execute(
                update(sms_messages)
                .where(m.id == claim.id, m.status == sms.SENDING, m.lease_until == lease_until)
                .values(status=claim.status, lease_until=claim.lease_until, attempts=m.attempts - 1, updated_at=now)
            ).rowcount
            or 0
        )
    return released


def sms_recipients(session: Session, contact_ids: Iterable[str]) -> dict[str, tuple[ContactEntry, bytes | None]]:
    """The live contacts SMS go to, as delivery sees them, each with its number's ciphertext, by id."""
    contact_ids = list(contact_ids)
    if not contact_ids:
        return {}
    recipients = built(
        "sms_recipients",
        lambda: _ENTRIES.add_columns(k.phone_cipher).where(k.id.in_(bindparam("contacts", expanding=True))),
    )
    rows = session.execute(recipients, {"contacts": contact_ids})
    return {row.id: (ContactEntry(*row[:-1]), row[-1]) for row in rows}


class Finished(NamedTuple):
    """A claimed message's outcome (``finish_sms``)."""

    message_id: str
    status: str
    error: str | None = None
    text: sms.Text | None = None
    provider: str | None = None
    reference: str | None = None


def finish_sms(session: Session, finished: Iterable[Finished], *, now: datetime) -> None:
    """Claimed messages' outcomes, rows taken in the order given; a report that already moved one
    further wins. A run of outcomes alike in shape goes as one statement with many parameter sets
    (psycopg pipelines them: a batch of the sender's answers in about one round trip, not one a
    message)."""
    for shape, run in groupby(finished, _finish_shape):
        statement = built(("finish_sms", *shape), lambda shape=shape: _finish_statement(*shape))
        session.execute(statement, [_finish_values(one, now) for one in run])


def _finish_shape(one: Finished) -> tuple[bool, bool, bool, bool]:
    """Which columns the outcome sets: the text, sent, delivered, the error."""
    sent = one.status in (sms.SENT, sms.DELIVERED)
    return one.text is not None, sent, one.status == sms.DELIVERED, one.error is not None


def _finish_values(one: Finished, now: datetime) -> dict:
    error = one.error and one.error[:500]
    values = {"message_id": one.message_id, "outcome": one.status, "at": now, "error_text": error}
    if one.text is not None:
        values |= {"text_body": one.text.body, "text_parts": one.text.parts, "provider_name": one.provider}
    if one.status in (sms.SENT, sms.DELIVERED):
        values["reference"] = one.reference
    return values


def _finish_statement(has_text: bool, sent: bool, delivered: bool, failed: bool):
    at = _moment("at")
    values = {
        "status": case((m.status == sms.SENDING, bindparam("outcome")), else_=m.status),
        "lease_until": None,
        "updated_at": at,
        "phone_cipher": None,  # an answer to a number without a contact keeps it no longer
    }
    if has_text:
        values |= {"body": bindparam("text_body"), "parts": bindparam("text_parts"),
                   "provider": bindparam("provider_name")}  # fmt: skip
    if sent:
        values |= {"sent_at": func.coalesce(m.sent_at, at), "provider_reference": bindparam("reference")}
    if delivered:
        values["delivered_at"] = func.coalesce(m.delivered_at, at)
    if failed:
        values["error"] = bindparam("error_text")
    return update(sms_messages).where(m.id == bindparam("message_id")).values(**values)


def put_back_sms(
    session: Session, message_id: str, status: str, when: datetime, *, attempts: int, error: str | None, now: datetime
) -> None:
    """A claimed message waits again (``status``) until ``when``."""
    session.execute(
        update(sms_messages)
        .where(m.id == message_id, m.status == sms.SENDING)
        .values(
            status=status,
            not_before=when,
            lease_until=None,
            attempts=attempts,
            error=error[:500] if error else m.error,
            updated_at=now,
        )
    )


def lock_sms(session: Session, message_ids: Iterable[str]) -> None:
    """Lock these messages' rows until the transaction ends, in the order of their ids (the one
    order every transaction that changes several messages takes them in)."""
    lock = built(
        ("lock_sms", session.bind.dialect.name),
        lambda: locked(session, select(m.id).where(m.id.in_(bindparam("ids", expanding=True))).order_by(m.id)),
    )
    session.execute(lock, {"ids": list(message_ids)}).all()


def report_sms(
    session: Session, message_ids: list[str], status: str, *, beyond: list[str], error: str | None, now: datetime
) -> int:
    """Move these messages to ``status`` by their delivery reports, each unless it is in a state of
    ``beyond``; how many moved."""
    shape = (status in (sms.SENT, sms.DELIVERED), status == sms.DELIVERED, error is not None)
    statement = built(("report_sms", *shape), lambda: _report_statement(*shape))
    values = {"ids": message_ids, "beyond": beyond, "outcome": status, "at": now, "error_text": error}
    return session.execute(statement, values).rowcount or 0


def _report_statement(sent: bool, delivered: bool, failed: bool):
    at = _moment("at")
    values = {"status": bindparam("outcome"), "updated_at": at, "lease_until": None}
    if sent:
        values["sent_at"] = func.coalesce(m.sent_at, at)
    if delivered:
        values["delivered_at"] = at
    if failed:
        values["error"] = bindparam("error_text")
    where = m.id.in_(bindparam("ids", expanding=True)), m.status.not_in(bindparam("beyond", expanding=True))
    return update(sms_messages).where(*where).values(**values)


def sms_counts(session: Session, statuses: Iterable[str] | None = None, event_id: str | None = None) -> dict[str, int]:
    """How many messages are in each status (of these statuses, of this event)."""
    query = select(m.status, func.count()).group_by(m.status)
    if statuses is not None:
        query = query.where(m.status.in_(tuple(statuses)))
    if event_id is not None:
        query = query.where(m.event_id == event_id)
    return dict(session.execute(query).all())


def purge_sms(session: Session, statuses: Iterable[str], updated_before: datetime) -> int:
    gone = session.execute(
        sms_messages.delete().where(m.status.in_(tuple(statuses)), m.updated_at < updated_before)
    ).rowcount
    return gone or 0


SMS_NEWEST_FIRST = Keyset(m.created_at, m.id, descending=True)


def sms_page(
    session: Session, *, scope: str, status: str | None, contact_id: str | None, limit: int, cursor: str | None
) -> tuple[list[dict], str | None]:
    """SMS within ``scope`` (``domain.visible_to``: the community they were sent for), newest first."""
    query = select(sms_messages).where(within(m.division_code, scope))
    if status:
        query = query.where(m.status == status)
    if contact_id:
        query = query.where(m.contact_id == contact_id)
    return page(session, query, SMS_NEWEST_FIRST, limit=limit, cursor=cursor, convert=dict)


# -- reminders -------------------------------------------------------------------------------------------------

ca = consultation_audience.c


def _reminder_due(now: datetime, lead: timedelta) -> tuple:
    return (
        ca.cancelled.is_(False),
        ca.starts_at > now,
        ca.starts_at <= now + lead,
        ca.reminded_for.is_distinct_from(ca.starts_at),
    )


def due_reminders(session: Session, now: datetime, lead: timedelta) -> list[str]:
    """Consultations due a reminder, the soonest first."""
    query = select(ca.consultation_id).where(*_reminder_due(now, lead)).order_by(ca.starts_at)
    return list(session.scalars(query))


def claim_reminder(session: Session, consultation_id: str, now: datetime, lead: timedelta):
    """A consultation still due a reminder, locked (skipped if another worker holds it): its start,
    place and community; None if another worker holds or has reminded it, or it changed since."""
    query = select(ca.starts_at, ca.place, ca.community_code).where(
        ca.consultation_id == consultation_id, *_reminder_due(now, lead)
    )
    return session.execute(locked(session, query, skip_locked=True)).first()


def mark_reminded(session: Session, consultation_id: str, starts_at: datetime) -> None:
    session.execute(
        update(consultation_audience).where(ca.consultation_id == consultation_id).values(reminded_for=starts_at)
    )
