"""Notify's use cases: plain functions ``(uow, …, now)`` that load (``repository``), let the rules
decide (``domain``, ``routing``, ``sms``, ``recipients``) and store, inside the caller's unit of work.
The HTTP adapters, the event handlers and the periodic parts call them; nothing here knows Flask,
a request or a runtime: settings (the SMS signature, the lead time…) and the phone vault come in as
arguments.

- the contact directory: create, list, read and change a contact (a manager's, within their scope,
  or a resident's own, ``/me``), remove one, import a CSV's rows; who is in it is told to meetings
  (``events.contacts_changed``, ids only) when a contact is added, removed or imported, and again
  for all of them by ``resync_contacts``;
- the inbox: the caller's list, marking read, the live stream's start and its next rows;
- delivery: a routed event (its messages, then the audience replica it keeps), and ``deliver``, a
  route's messages to its recipients as their contact entries allow;
- SMS: a community notice previewed and sent by hand, the log, providers' delivery reports and
  residents' replies (T/TD/退订 stop the number, 订阅 lifts it); the sender's steps (claim, check
  again and compose, record the provider's answer), the queue's gauge and retention;
- reminders before a consultation, and alerts when dead letters pile up.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.notify import domain, events, recipients, replies, repository, routing, sms
from services.notify.domain import Contact, ContactEntry, ContactGroup, ImportRow, Recipient
from services.notify.phones import PhoneVault, mask, valid
from services.notify.providers import Outgoing, ProviderError, SmsProvider
from services.notify.routing import Route
from shared import metrics
from shared.principal import Principal
from shared.problems import BadRequest, Conflict, Forbidden, Invalid, NotFound, Problem
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)

DUPLICATE = "该社区已有此手机号的联系人"
APP_USER_TAKEN = "该应用用户已有联系人"
NOT_VISIBLE = "联系人不存在或不在您的范围内"
NOT_REGISTERED = "您还没有登记联系方式"


# -- the contact directory ----------------------------------------------------------------------------


def shown(contact: Contact, phone: str | None) -> dict:
    """A contact as its readers see it: the number masked (None once erased), quiet hours' zone."""
    return {
        **vars(contact),
        "phone": mask(phone),
        "channels": list(contact.channels),
        "opt_outs": list(contact.opt_outs),
        "quiet_timezone": "Asia/Shanghai",
    }


def _shown(vault: PhoneVault, contact: Contact, cipher: bytes | None) -> dict:
    return shown(contact, vault.decrypt(cipher, contact.id) if cipher else None)


def _visible(principal: Principal, found: tuple[Contact, bytes | None] | None) -> tuple[Contact, bytes | None]:
    if found is None or not domain.visible_to(principal, found[0]):
        raise NotFound(NOT_VISIBLE)
    return found


def _own(uow: UnitOfWork, principal: Principal) -> tuple[Contact, bytes | None]:
    found = repository.by_app_user(uow.session, principal.subject)
    if found is None:
        raise NotFound(NOT_REGISTERED)
    return found


def _require_changes(changes: dict) -> None:
    if not changes:
        raise Invalid("没有要修改的内容")


def _add(uow: UnitOfWork, vault: PhoneVault, data: dict, hashes: tuple[str, ...], now: datetime) -> Contact:
    """Store a new contact from checked ContactIn data; it keeps the opt-outs of a removed contact
    with the same number in the community."""
    contact = domain.new_contact(
        kind=data["kind"],
        community_code=data["community_code"],
        department_id=data.get("department_id"),
        app_user_id=data.get("app_user_id"),
        channels=data.get("channels"),
        quiet_start=data.get("quiet_start"),
        quiet_end=data.get("quiet_end"),
        opt_outs=data.get("opt_outs"),
        remembered_opt_outs=repository.remembered_opt_outs(uow.session, data["community_code"], hashes),
        now=now,
    )
    repository.add(uow.session, vault, contact, data["phone"])
    return contact


def create_contact(uow: UnitOfWork, principal: Principal, vault: PhoneVault, data: dict, now: datetime) -> dict:
    """Add a resident, department or operator contact (ContactIn data) to a community of the caller's scope."""
    principal.require_scope(data["community_code"])
    if uow.divisions.active_community(data["community_code"]) is None:
        raise Invalid("社区不存在或已撤销", field="community_code")
    errors = domain.contact_errors(data["kind"], data.get("department_id"))
    if errors:
        raise Invalid(errors[0], field="department_id")
    hashes = vault.digests(data["phone"])
    if repository.by_phone(uow.session, data["community_code"], hashes) is not None:
        raise Conflict(DUPLICATE, field="phone")
    if repository.app_user_taken(uow.session, data.get("app_user_id")):
        raise Conflict(APP_USER_TAKEN, field="app_user_id")
    try:
        contact = _add(uow, vault, data, hashes, now)
    except repository.Duplicate as exc:  # a concurrent insert of the same number or account
        if exc.key == "app_user":
            raise Conflict(APP_USER_TAKEN, field="app_user_id") from None
        raise Conflict(DUPLICATE, field="phone") from None
    events.contacts_changed(uow, [contact])
    return shown(contact, data["phone"])


def list_contacts(
    uow: UnitOfWork,
    principal: Principal,
    vault: PhoneVault,
    *,
    community: str | None,
    kind: str | None,
    limit: int,
    cursor: str | None,
) -> dict:
    """Contacts of the caller's scope, newest first, one page at a time (``next_cursor``)."""
    items, next_cursor = repository.search(
        uow.session, scope=principal.scope, community=community, kind=kind, limit=limit, cursor=cursor
    )
    return {"items": [_shown(vault, *item) for item in items], "next_cursor": next_cursor}


def get_contact(uow: UnitOfWork, principal: Principal, vault: PhoneVault, contact_id: str) -> dict:
    return _shown(vault, *_visible(principal, repository.get(uow.session, contact_id)))


def change_contact(
    uow: UnitOfWork, principal: Principal, vault: PhoneVault, contact_id: str, changes: dict, now: datetime
) -> dict:
    """Change a contact's channels, quiet hours and opt-outs (PreferencesIn data)."""
    _require_changes(changes)
    contact, cipher = _visible(principal, repository.get(uow.session, contact_id, for_update=True))
    contact = domain.change_preferences(contact, changes, now)
    repository.save(uow.session, contact)
    return _shown(vault, contact, cipher)


def remove_contact(uow: UnitOfWork, principal: Principal, contact_id: str, now: datetime) -> dict:
    """Remove a contact: its number is erased now; only its hash and opt-outs are kept."""
    contact, _ = _visible(principal, repository.get(uow.session, contact_id, for_update=True))
    repository.remove(uow.session, contact.id, now)
    removed = Contact(**{**vars(contact), "updated_at": now, "removed_at": now})
    events.contacts_changed(uow, [removed])
    return shown(removed, None)


def get_mine(uow: UnitOfWork, principal: Principal, vault: PhoneVault) -> dict:
    """The caller's own contact (by their account)."""
    return _shown(vault, *_own(uow, principal))


def change_mine(uow: UnitOfWork, principal: Principal, vault: PhoneVault, changes: dict, now: datetime) -> dict:
    """Change one's own channels, quiet hours and opt-outs."""
    _require_changes(changes)
    contact, cipher = _own(uow, principal)
    contact = domain.change_preferences(contact, changes, now)
    repository.save(uow.session, contact)
    return _shown(vault, contact, cipher)


def import_contacts(
    uow: UnitOfWork, principal: Principal, vault: PhoneVault, rows: list[ImportRow], now: datetime
) -> dict:
    """Import a CSV's rows (``schemas.import_rows``): good rows kept, bad ones reported by line
    number with their Chinese reasons; a number already in the community updates that contact. The
    contacts kept are told (``events.contacts_changed``). Refused, writing nothing, when no row was
    kept: 403 when every row names a community outside the caller's scope, else 422 with the
    rejected rows."""
    counts = {"imported": 0, "updated": 0, "outside": 0}
    rejected: list[dict] = []
    seen: dict[tuple[str, str], int] = {}  # (community, number's hash) -> the line that kept it
    kept: list[Contact] = []
    for row in rows:
        outcome, errors = _import_row(uow, principal, vault, row, seen, kept, now)
        if errors:
            rejected.append({"line": row.line, "errors": errors})
        if outcome:
            counts[outcome] += 1
    if counts["imported"] + counts["updated"] == 0:
        if counts["outside"] == len(rows):
            raise Forbidden("CSV中的社区均不在您的管辖范围内")
        raise Invalid("没有可导入的行", imported=0, updated=0, rejected=rejected)
    events.contacts_changed(uow, kept)
    return {"imported": counts["imported"], "updated": counts["updated"], "rejected": rejected}


def _import_row(
    uow: UnitOfWork, principal: Principal, vault: PhoneVault, row: ImportRow, seen: dict, kept: list, now: datetime
) -> tuple[str | None, list[str]]:
    """One row: ("imported" | "updated" | "outside" | None, its errors); the contact it added or
    changed appended to ``kept``."""
    if row.data is None:
        return None, row.errors
    data = row.data
    if not principal.covers(data["community_code"]):
        return "outside", ["社区代码:该社区不在您的管辖范围内"]
    errors = domain.contact_errors(data["kind"], data.get("department_id"))
    if uow.divisions.active_community(data["community_code"]) is None:
        errors.append("社区代码:社区不存在或已撤销")
    key = (data["community_code"], vault.digests(data["phone"]))
    if key in seen:
        errors.append(f"与第{seen[key]}行的手机号重复")
    if errors:
        return None, errors
    existing = repository.by_phone(uow.session, *key)
    if repository.app_user_taken(uow.session, data.get("app_user_id"), existing.id if existing else None):
        return None, [f"应用用户:{APP_USER_TAKEN}"]
    seen[key] = row.line
    if existing is None:
        kept.append(_add(uow, vault, data, key[1], now))
        return "imported", []
    if existing.kind != data["kind"]:
        return None, ["类型:与已有联系人的类型不同"]
    changes = {name: data[name] for name in ("channels", "quiet_start", "quiet_end", "app_user_id") if name in data}
    if "department_id" in data:
        changes["department_id"] = data["department_id"]
    changed = domain.change_preferences(existing, changes, now)
    repository.save(uow.session, changed)
    kept.append(changed)
    return "updated", []


@dataclass
class Rekeyed:
    """What a phone-key rotation changed (``rekey_contacts``, ``rekey_answers``): counts only."""

    contacts: int = 0  # contacts whose number was encrypted again under the current key
    hashes: int = 0  # numbers whose look-up hash moved (with the contacts, stops and replies keyed by it)
    answers: int = 0  # queued answers to numbers without a contact, encrypted again
    unreadable: int = 0  # ciphertexts neither key opens (a wrong XIESHANG_NOTIFY_PHONE_KEY_PREVIOUS)

    def add(self, other: Rekeyed) -> None:
        for name in ("contacts", "hashes", "answers", "unreadable"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def rekey_contacts(uow: UnitOfWork, vault: PhoneVault, *, after: str, batch: int) -> tuple[str | None, Rekeyed]:
    """One batch of the phone-key rotation over the directory: each contact's number (after id
    ``after``) encrypted under the current key and its hash recomputed, rows already there left as
    they are (a rerun after a crash goes on where the last committed batch ended, changing nothing
    twice). Returns the last id of the batch (None: the directory is done) and what changed."""
    rows = repository.numbers_after(uow.session, "contacts", after, batch)
    done = Rekeyed()
    for row in rows:
        read = vault.reading(row.phone_cipher, row.id)
        if read is None:
            done.unreadable += 1
            continue
        phone, current = read
        if not current:
            repository.set_cipher(uow.session, "contacts", row.id, vault.encrypt(phone, row.id))
            done.contacts += 1
        if row.phone_hash != (digest := vault.digest(phone)):
            repository.move_hash(uow.session, row.phone_hash, digest)
            done.hashes += 1
    return (rows[-1].id if len(rows) == batch else None), done


def rekey_answers(uow: UnitOfWork, vault: PhoneVault, *, after: str, batch: int) -> tuple[str | None, Rekeyed]:
    """One batch of the rotation over the queued answers that carry a number (how to register):
    encrypted again under the current key (their message id is the associated data)."""
    rows = repository.numbers_after(uow.session, "answers", after, batch)
    done = Rekeyed()
    for row in rows:
        read = vault.reading(row.phone_cipher, row.id)
        if read is None:
            done.unreadable += 1
        elif not read[1]:
            repository.set_cipher(uow.session, "answers", row.id, vault.encrypt(read[0], row.id))
            done.answers += 1
    return (rows[-1].id if len(rows) == batch else None), done


def resync_contacts(uow: UnitOfWork) -> int:
    """Tell every contact of the directory again, the removed ones as removed (to fill a new
    replica or mend a restored one); how many were told."""
    every = repository.every_contact(uow.session)
    events.contacts_changed(uow, every)
    return len(every)


# -- the inbox ------------------------------------------------------------------------------------------

INBOX_SIZE = 50


def inbox(uow: UnitOfWork, principal: Principal) -> dict:
    """The caller's newest app notifications and how many are unread."""
    me = principal.subject
    items = repository.newest_notifications(uow.session, me, INBOX_SIZE)
    return {"unread": repository.unread(uow.session, me), "items": items}


def mark_read(uow: UnitOfWork, principal: Principal, notification_id: str, now: datetime) -> dict:
    """Mark one of the caller's notifications read (a second time changes nothing)."""
    found = repository.mark_read(uow.session, notification_id, principal.subject, now)
    if found is None:
        raise NotFound("消息不存在")
    return found


def open_stream(uow: UnitOfWork, principal: Principal, cursor: str | None) -> tuple[int, str | None]:
    """Where the caller's live stream starts: their unread count, and the position after which new
    notifications are sent (``cursor``, refused if it is not one of the stream's; without one, after
    their newest notification)."""
    if cursor is not None:
        check_stream_position(cursor)
    unread = repository.unread(uow.session, principal.subject)
    return unread, cursor if cursor is not None else repository.newest_position(uow.session, principal.subject)


def check_stream_position(cursor: str) -> None:
    """Refuse (400) what is not a position the stream gave."""
    try:
        repository.check_position(cursor)
    except BadRequest:
        raise BadRequest("消息位置无效:Last-Event-ID 或 after 须为消息流给出的 id", field="Last-Event-ID") from None


def stream_after(uow: UnitOfWork, principal: Principal, cursor: str | None, limit: int) -> list[tuple[str, dict]]:
    """The caller's notifications after a position, oldest first, each with its position."""
    return repository.notifications_after(uow.session, principal.subject, cursor, limit)


# -- delivery --------------------------------------------------------------------------------------------


def take_event(
    uow: UnitOfWork, event_type: str, event_id: str, payload: dict, division_code: str | None, now: datetime
) -> None:
    """A consumed event: its messages first (a merge tells the duplicate's co-signers before they
    move), then the audience replica it keeps."""
    if event_type in routing.ROUTES:
        deliver_event(uow, event_type, event_id, payload, division_code, now)
    keep = recipients.KEEPERS.get(event_type)
    if keep is not None:
        keep(uow, payload)
    status = routing.MATTER_STATUS.get(event_type)
    if status is not None:
        ids = payload["proposal_ids"] if "proposal_ids" in payload else [payload["proposal_id"]]
        if ids:
            repository.set_matter_status(uow, ids, status)


def deliver_event(
    uow: UnitOfWork, event_type: str, event_id: str, payload: dict, division_code: str | None, now: datetime
) -> None:
    """Fan a routed event out along its routes (``routing.ROUTES``, those for this payload: an
    extension approved or refused, an escalation's level): per recipient, the app message and SMS
    its entry allows, once per (event, recipient, channel)."""
    facts = recipients.FACTS[event_type](uow, payload)
    division_code = payload.get("community_code") or division_code
    for route in routing.ROUTES[event_type]:
        if not route.applies(payload):
            continue
        deliver(
            uow,
            route=route,
            to=recipients.RECIPIENTS[route.recipients](uow, payload),
            facts=facts,
            event_id=event_id,
            division_code=division_code,
            now=now,
            question=recipients.question(route.template, payload, event_id, now),
        )


DEFERRED_KEY = "notify.accounts"


def deliver(
    uow: UnitOfWork,
    *,
    route: Route,
    to: list[Recipient] | ContactGroup,
    facts: dict[str, str],
    event_id: str,
    division_code: str | None,
    now: datetime,
    question: dict | None = None,
) -> None:
    """Write a route's messages: for each recipient, the in-app message and the queued SMS its
    contact entry allows (channels, opt-out of the template's category, a number that replied 退订,
    quiet hours: an SMS waits until they end unless the template is urgent), once per (event,
    recipient, channel). Accounts are looked up once for a whole burst, at the next flush; a group of
    contacts is expanded inside the database. The SMS row holds the template's variables; the
    sender composes the signed text when it sends. A ``question`` (``recipients.question``: what
    the SMS asks, answered by a reply) is written once and named by each of the route's SMS, whose
    text then ends with its prompt; the in-app message asks nothing (the app has its own buttons).
    A ``contact:<id>`` person (no account) is told by SMS only."""
    question_id = None
    if question is not None:
        repository.ask(uow, question)
        question_id = question["id"]
    if isinstance(to, ContactGroup):
        return _deliver_to_group(uow, route, to, facts, event_id, division_code, now, question_id)
    template = domain.TEMPLATES[route.template]
    bodies: dict[tuple, str] = {}  # most recipients of a route share their variables: render once
    told = []
    for recipient in to:
        variables = {**recipient.variables, **facts}
        key = tuple(sorted(variables.items()))
        if key not in bodies:
            bodies[key] = template.render(variables)  # refuses a missing or unknown variable, now
        told.append((recipient.user_id, variables, bodies[key]))
    # Whose contact entry allows what is looked up once for the whole burst, at the next flush.
    uow.deferred(DEFERRED_KEY, lambda batches: _deliver_to_accounts(uow, batches)).append(
        (route, told, event_id, division_code, now, question_id)
    )
    return None


def _deliver_to_accounts(uow: UnitOfWork, batches: list) -> None:
    by_account = repository.entries_of_accounts(
        uow.session, [user_id for _, told, *_ in batches for user_id, _, _ in told]
    )
    written = {"app": 0, sms.QUEUED: 0, sms.DEFERRED: 0}
    quiet: dict[tuple, datetime | None] = {}
    for route, told, event_id, division_code, now, question_id in batches:
        category = domain.category(route.template)
        urgent = route.template in domain.URGENT
        for user_id, variables, body in told:
            contact = by_account.get(user_id)
            has_account = domain.contact_of_person(user_id) is None
            if has_account and domain.wants(contact, "app", category):
                repository.queue_notification(uow, user_id, route.template, body, division_code, event_id, now)
                written["app"] += 1
            if contact is None or contact.stopped or not domain.wants(contact, "sms", category):
                continue
            hours = (contact.quiet_start, contact.quiet_end, now)
            if hours not in quiet:
                quiet[hours] = sms.quiet_until(*hours)
            until = None if urgent else quiet[hours]
            status = sms.DEFERRED if until else sms.QUEUED
            repository.queue_sms(
                uow, event_id, contact.id, route.template, category, variables, urgent, division_code, status,
                until or now, now, question_id=question_id,
            )  # fmt: skip
            written[status] += 1
    _written(uow, written)


def _deliver_to_group(
    uow: UnitOfWork,
    route: Route,
    group: ContactGroup,
    facts: dict[str, str],
    event_id: str,
    division_code: str | None,
    now: datetime,
    question_id: str | None = None,
) -> None:
    """One statement for the inbox and one per distinct quiet-hours setting for the SMS."""
    category = domain.category(route.template)
    urgent = route.template in domain.URGENT
    variables = {**group.variables, **facts}
    body = domain.TEMPLATES[route.template].render(variables)  # refuses a missing or unknown variable
    app = repository.fan_out_app(uow, group, category, route.template, body, event_id, division_code, now)
    written = {"app": app, sms.QUEUED: 0, sms.DEFERRED: 0}
    for hours in repository.quiet_hours_of(uow.session, group, category):
        until = None if urgent else sms.quiet_until(*hours, now)
        status = sms.DEFERRED if until else sms.QUEUED
        written[status] += repository.fan_out_sms(
            uow.session, group, hours, category=category, template=route.template, variables=variables,
            urgent=urgent, status=status, not_before=until or now, event_id=event_id, division_code=division_code,
            now=now, question_id=question_id,
        )  # fmt: skip
    _written(uow, written)


def _written(uow: UnitOfWork, written: dict[str, int]) -> None:
    if written[sms.QUEUED]:
        repository.wake_sender(uow.session)
    for status, count in written.items():
        if count:
            channel = "app" if status == "app" else "sms"
            metrics.NOTIFY_MESSAGES.labels(channel, "written" if channel == "app" else status).inc(count)


# -- SMS: community notices sent by hand ------------------------------------------------------------------


def compose_notice(variables: dict[str, str], *, signature: str, max_parts: int, prompt: str = "") -> sms.Text:
    """The signed text of a community notice (with a question's ``prompt``); refused (422) when its
    variables are not the template's or it needs more than ``max_parts`` parts."""
    template = domain.TEMPLATES[routing.NOTICE.template]
    try:
        sms.check_variables(template, variables)
        return sms.compose_fitted(template, variables, signature=signature, max_parts=max_parts, shortenable=(),
                                  prompt=prompt)  # fmt: skip
    except (domain.TemplateError, sms.TooLong) as exc:
        raise Invalid(str(exc), field="variables") from None


def preview_notice(variables: dict[str, str], *, signature: str, max_parts: int) -> dict:
    """The signed text of a community notice, its length as carriers count it, and its parts."""
    text = compose_notice(variables, signature=signature, max_parts=max_parts)
    return {"text": text.body, "characters": sms.units(text.body), "parts": text.parts}


def send_notice(
    uow: UnitOfWork,
    principal: Principal,
    *,
    community_code: str,
    variables: dict[str, str],
    notice_id: str | None,
    signature: str,
    max_parts: int,
    now: datetime,
    proposal_id: str | None = None,
) -> dict:
    """Send a notice to every subscriber of a community in the caller's scope (app and SMS, as each
    subscriber's channels, opt-outs and quiet hours allow). Idempotent per ``notice_id``. A notice
    about a matter of the community (``proposal_id``, one notify knows from intake's events) asks
    for co-signatures: its SMS end with 回复1附议 and the question's code."""
    principal.require_scope(community_code)
    notice_id = str(notice_id or uuid.uuid4())
    question = None
    if proposal_id is not None:
        matter = repository.proposal_audiences(uow, [proposal_id]).get(proposal_id)
        if matter is None or matter["community_code"] != community_code:
            raise Invalid("该社区没有此建议", field="proposal_id")
        question = recipients.asking(
            replies.SUPPORT, proposal_id, community_code, notice_id, routing.NOTICE.template, now,
            expires_at=now + recipients.SUPPORT_OPEN,
        )  # fmt: skip
    prompt = replies.prompt(replies.SUPPORT, question["code"]) if question else ""
    compose_notice(variables, signature=signature, max_parts=max_parts, prompt=prompt)
    audience = recipients.subscribers(community_code, {})
    count = repository.count_group(uow.session, audience)
    if not count:
        raise Invalid("该社区还没有登记的居民联系人", field="community_code")
    deliver(
        uow,
        route=routing.NOTICE,
        to=audience,
        facts=variables,
        event_id=notice_id,
        division_code=community_code,
        now=now,
        question=question,
    )
    counts = repository.sms_counts(uow.session, event_id=notice_id)
    return {
        "notice_id": notice_id,
        "subscribers": count,
        "sms": sum(counts.values()),
        "sms_deferred": counts.get(sms.DEFERRED, 0),
    }


def sms_log(
    uow: UnitOfWork,
    principal: Principal,
    *,
    status: str | None,
    contact_id: str | None,
    limit: int,
    cursor: str | None,
) -> dict:
    """SMS of the caller's scope, newest first: status, parts, the provider's reason for a failure."""
    items, next_cursor = repository.sms_page(
        uow.session, scope=principal.scope, status=status, contact_id=contact_id, limit=limit, cursor=cursor
    )
    return {"items": items, "next_cursor": next_cursor}


# -- SMS: what providers call back (signed URLs: ``PhoneVault.sign``) ----------------------------------------


def _require_signed(vault: PhoneVault, subject: str, signature: str | None) -> None:
    if not vault.verify(subject, signature):
        raise Forbidden("回调签名无效")


@dataclass(frozen=True)
class DeliveryReport:
    """What a provider reported of one message: the status it moves to, a failure's reason."""

    message_id: str
    status: str
    reason: str | None = None


def apply_reports(uow: UnitOfWork, reports: Iterable[DeliveryReport], *, now: datetime) -> None:
    """Move each message on by its report, in one transaction (the reports of requests that arrive
    together: ``ServiceRuntime.group_commit``); a report never moves a message back
    (``sms.advances``), so a message's two reports (accepted, delivered) give the same end in either
    order, in one batch or two."""
    reports = list(reports)
    if len({report.message_id for report in reports}) > 1:
        # Another batch (the other API process's) may hold some of these rows: each takes its rows
        # in the same order, so neither waits for one the other holds while it holds one the other
        # waits for (a deadlock, which PostgreSQL breaks by failing one batch after a second).
        repository.lock_sms(uow.session, [report.message_id for report in reports])
    alike: dict[tuple[str, str | None], list[str]] = {}
    for report in reports:
        error = (report.reason or "运营商报告发送失败") if report.status == sms.FAILED else None
        alike.setdefault((report.status, error), []).append(report.message_id)
    for (status, error), message_ids in alike.items():
        beyond = [s for s in sms.STATUSES if not sms.advances(s, status)]  # states this report cannot move on
        moved = repository.report_sms(uow.session, message_ids, status, beyond=beyond, error=error, now=now)
        if moved:
            metrics.NOTIFY_MESSAGES.labels("sms", status).inc(moved)


ReportSink = Callable[[DeliveryReport], None]  # applies a report and returns once it is committed


def kannel_report(
    reports: ReportSink,
    vault: PhoneVault,
    *,
    message_id: str,
    signature: str | None,
    report_type: int,
    answer: str | None,
) -> None:
    """Kannel's delivery report of one message (its ``dlr-url``, signed for that message)."""
    _require_signed(vault, f"report:{message_id}", signature)
    outcome = sms.kannel_outcome(report_type, answer)
    if outcome is not None:
        reports(DeliveryReport(message_id, *outcome))


def platform_report(
    reports: ReportSink,
    vault: PhoneVault,
    *,
    message_id: str,
    signature: str | None,
    status: str,
    reason: str | None,
) -> None:
    """The SMS platform's delivery report of one message: delivered or failed (with its reason)."""
    _require_signed(vault, f"report:{message_id}", signature)
    reports(DeliveryReport(message_id, status, reason))


def reply(
    uow: UnitOfWork,
    vault: PhoneVault,
    *,
    provider: str,
    signature: str | None,
    sender: str,
    text: str,
    now: datetime,
) -> str:
    """A resident's SMS to the service number, through a provider, read by the reply grammar
    (``replies.read``) and matched to the question it answers by the number's keyed hash: its code,
    else the newest open question sent to the number. What it did:

    - ``stop`` / ``resume``: T, TD, 退订… put the number on the stop list (no SMS goes to it any more,
      from any community, whatever is queued; a bare N only when no invitation waits for an answer),
      订阅 or DY take it off;
    - ``answered``: an answer to a question (co-sign, RSVP, rate, pick a duplicate to co-sign), told to
      the service whose use case it calls (``events.reply_received``); ``raised``: a text that raises
      a matter in the community of the number's resident contact; ``queried``: 查询 answered by SMS
      with the matter's status and next step; ``repeated``: the same reply again, or another answer to
      a question already answered (one effect per number and question: Kannel may deliver an MO twice);
    - ``help``: not understood (or no question open), answered by the help SMS, at most once per
      number and day; ``register``: a number without a contact, told how to register (at most once a
      day; nothing is kept but the hash and, until it is sent, that answer's encrypted number);
      ``ignored``: not a number, or already answered today.

    The text itself is kept only as a matter's title and description (redacted in the event)."""
    _require_signed(vault, f"replies:{provider}", signature)
    phone = sms.national(sender)
    if not valid(phone):
        return "ignored"
    hashes = vault.digests(phone)  # the current key's first; the previous key's during a rotation
    said = replies.read(text)
    if said.action == replies.RESUME:
        repository.resume_number(uow.session, hashes)
        metrics.NOTIFY_MESSAGES.labels("sms", "opted_in").inc()
        return replies.RESUME
    contacts = repository.live_contacts_of_number(uow.session, hashes)
    asked = (
        repository.questions_to(uow.session, [c.id for c in contacts], now, kinds=replies.KINDS, code=said.code)
        if contacts and said.action in (replies.ANSWER, replies.QUERY)
        else []
    )
    answerable = [a for a in asked if a["kind"] in replies.ANSWERABLE]
    bare_no = said.action == replies.ANSWER and said.word == replies.NO and said.code is None
    if said.action == replies.STOP or (bare_no and not (answerable and answerable[0]["kind"] == replies.RSVP)):
        repository.stop_number(uow.session, hashes, text.strip()[:16], now)
        metrics.NOTIFY_MESSAGES.labels("sms", "opted_out").inc()
        return replies.STOP
    if not contacts:
        return _answer_unknown(uow, vault, phone, hashes, now)
    by_id = {c.id: c for c in contacts}
    if said.action == replies.ANSWER and answerable:
        return _answer(uow, hashes, answerable[0], by_id[answerable[0]["contact_id"]], said.word, contacts, now)
    if said.action == replies.QUERY:
        matters = [a for a in asked if a["kind"] in (replies.STATUS, replies.PICK, replies.SUPPORT)]
        if matters:
            return _status(uow, hashes, matters[0], by_id[matters[0]["contact_id"]], now)
    if said.action == replies.MATTER:
        residents = [c for c in contacts if c.kind == "resident"]
        if residents:
            return _raise(uow, hashes, residents[-1], text, now)
    return _help(uow, hashes, contacts, now)


def _answer(
    uow: UnitOfWork,
    hashes: tuple[str, ...],
    asked: dict,
    contact: Contact,
    word: str,
    contacts: list[Contact],
    now: datetime,
) -> str:
    options = asked["options"] or []
    value = replies.meaning(asked["kind"], word, len(options))
    if value is None:
        return _help(uow, hashes, contacts, now)
    if not repository.record_reply(uow.session, hashes, asked["id"], asked["kind"], now):
        return "repeated"
    if asked["kind"] == replies.PICK:
        kind, target, answer = replies.SUPPORT, options[value]["proposal_id"], None
    else:
        kind, target = asked["kind"], asked["target_id"]
        answer = None if asked["kind"] == replies.SUPPORT else value
    events.reply_received(uow, asked["id"], kind, contact, target_id=target, answer=answer)
    metrics.NOTIFY_MESSAGES.labels("sms", "answered").inc()
    return "answered"


def _raise(uow: UnitOfWork, hashes: tuple[str, ...], contact: Contact, text: str, now: datetime) -> str:
    """A matter raised by SMS, once per number and text (a redelivered MO raises nothing more)."""
    key = domain.reply_message_id("matter", replies.normalise(text))
    if not repository.record_reply(uow.session, hashes, key, "matter", now):
        return "repeated"
    title, description = replies.matter_texts(text)
    events.reply_received(uow, key, "matter", contact, title=title, description=description)
    metrics.NOTIFY_MESSAGES.labels("sms", "raised").inc()
    return "raised"


def _answer_row(message_id: str, event_id: str, contact_id: str, template: str, variables: dict, division_code,
                now: datetime, phone_cipher: bytes | None = None) -> dict:  # fmt: skip
    return {
        "id": message_id, "event_id": event_id, "contact_id": contact_id, "template": template,
        "category": domain.category(template), "variables": variables, "body": None, "parts": None, "urgent": True,
        "division_code": division_code, "status": sms.QUEUED, "not_before": now, "attempts": 0,
        "lease_until": None, "provider": None, "provider_reference": None, "error": None, "created_at": now,
        "sent_at": None, "delivered_at": None, "updated_at": now, "question_id": None, "phone_cipher": phone_cipher,
    }  # fmt: skip


def _queue_answer(uow: UnitOfWork, row: dict) -> bool:
    if not repository.queue_answer(uow.session, row):
        return False
    repository.wake_sender(uow.session)
    metrics.NOTIFY_MESSAGES.labels("sms", sms.QUEUED).inc()
    return True


def _status(uow: UnitOfWork, hashes: tuple[str, ...], asked: dict, contact: Contact, now: datetime) -> str:
    """查询: the matter's status and next step, by SMS, once per number, matter and day."""
    matter = repository.proposal_audiences(uow, [asked["target_id"]]).get(asked["target_id"])
    if matter is None:
        return _help(uow, hashes, [contact], now)
    status, next_step = domain.MATTER_STATUS.get(matter["status"], (matter["status"], ""))
    variables = {"title": matter["title"], "code": asked["code"], "status": status, "next_step": next_step}
    event_id = domain.reply_message_id("status", hashes[0], asked["id"], domain.beijing_day(now), matter["status"])
    row = _answer_row(str(uuid.uuid4()), event_id, contact.id, "reply_status", variables, contact.community_code, now)
    return "queried" if _queue_answer(uow, row) else "repeated"


def _help(uow: UnitOfWork, hashes: tuple[str, ...], contacts: list[Contact], now: datetime) -> str:
    """The help SMS (how to reply), at most once per number and Beijing day, to its oldest contact."""
    if repository.is_stopped(uow.session, hashes):
        return "ignored"
    contact = contacts[0]
    event_id = domain.reply_message_id("help", hashes[0], domain.beijing_day(now))
    row = _answer_row(str(uuid.uuid4()), event_id, contact.id, "reply_help", {}, contact.community_code, now)
    return "help" if _queue_answer(uow, row) else "ignored"


def _answer_unknown(uow: UnitOfWork, vault: PhoneVault, phone: str, hashes: tuple[str, ...], now: datetime) -> str:
    """A number without a contact: how to register, at most once a day. Its number is kept encrypted
    in that one answer until it is sent (the sender erases it); nothing else but the hash."""
    if repository.is_stopped(uow.session, hashes):
        return "ignored"
    message_id = str(uuid.uuid4())
    stand_in = domain.reply_message_id("number", hashes[0])  # the answer's contact_id: no contact exists
    event_id = domain.reply_message_id("register", hashes[0], domain.beijing_day(now))
    row = _answer_row(message_id, event_id, stand_in, "reply_register", {}, None, now,
                      phone_cipher=vault.encrypt(phone, message_id))  # fmt: skip
    return "register" if _queue_answer(uow, row) else "ignored"


# -- SMS: the sender's steps ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ready:
    """A claimed message that may go now: the number and the signed text."""

    phone: str
    text: sms.Text


def claim_ready_sms(
    uow: UnitOfWork,
    vault: PhoneVault,
    *,
    batch: int,
    lease: timedelta,
    signature: str,
    max_parts: int,
    public_url: str | None,
    now: datetime,
) -> list[tuple[Any, Ready | None]]:
    """Claim up to ``batch`` due messages for a sender, under a lease (several senders share the
    work, none waits for another's), and check each again before it goes, in the same transaction:
    the stop list, opt-outs and quiet hours (a reply may have come since it was queued), and its text
    composed with the signature, parts limit and public URL in force (a long title shortened; a
    board-linked template, ``domain.BOARD_LINKED``, ends with its community's board link when
    ``public_url`` is set). Returns each claimed message with its number and text, or None for one
    settled here instead: suppressed, failed (no text can be made) or put back until the quiet hours
    end (not counted as a try). One transaction and one look-up of recipients and questions for the
    batch, rather than one of each per message."""
    claimed = repository.claim_due_sms(uow.session, batch=batch, lease_until=now + lease, now=now)
    recipients = repository.sms_recipients(uow.session, {m.contact_id for m in claimed if m.phone_cipher is None})
    asked = repository.questions(uow.session, {m.question_id for m in claimed if m.question_id})
    return [
        (message, _checked(
            uow, vault, message, recipients.get(message.contact_id), asked.get(message.question_id),
            signature=signature, max_parts=max_parts, public_url=public_url, now=now,
        ))
        for message in claimed
    ]  # fmt: skip


def release_sms(uow: UnitOfWork, claims: Iterable[tuple], *, lease: timedelta, now: datetime) -> int:
    """A stopping sender's claims it has not handed to the provider (each with the time it was
    claimed), put back at once as they were (``queued``/``deferred``, not counted as a try) rather
    than ``sending`` until their lease ends; how many were put back."""
    return repository.release_sms(uow.session, [(claim, claimed_at + lease) for claim, claimed_at in claims], now=now)


def _checked(
    uow: UnitOfWork,
    vault: PhoneVault,
    message,
    recipient: tuple[ContactEntry, bytes | None] | None,
    asked: dict | None,
    *,
    signature: str,
    max_parts: int,
    public_url: str | None,
    now: datetime,
) -> Ready | None:
    """One claimed message checked again (``claim_ready_sms``): its number and text, None when it
    was settled instead."""
    if message.phone_cipher is not None:  # an answer to a number without a contact (how to register)
        template = domain.TEMPLATES[message.template]
        text = sms.compose_fitted(template, message.variables, signature=signature, max_parts=max_parts,
                                  shortenable=())  # fmt: skip
        return Ready(vault.decrypt(message.phone_cipher, message.id), text)
    contact, cipher = recipient if recipient is not None and recipient[1] is not None else (None, None)
    held = sms.held_back(contact, message.category)
    if held is not None:
        _finish(uow, message.id, sms.SUPPRESSED, error=held, now=now)
        return None
    until = None if message.urgent else sms.quiet_until(contact.quiet_start, contact.quiet_end, now)
    if until:
        _put_back(uow, message.id, sms.DEFERRED, until, attempts=message.attempts, now=now)
        return None
    linked = message.template in domain.BOARD_LINKED
    link = domain.board_link(public_url, message.division_code) if linked else None
    prompt = replies.prompt(asked["kind"], asked["code"], asked["options"]) if asked else ""
    try:
        text = sms.compose_fitted(
            domain.TEMPLATES[message.template],
            message.variables,
            signature=signature,
            max_parts=max_parts,
            shortenable=domain.SHORTENABLE,
            link=link,
            prompt=prompt,
        )
    except (sms.TooLong, domain.TemplateError, KeyError) as exc:
        _finish(uow, message.id, sms.FAILED, error=f"无法生成短信:{exc}", now=now)
        return None
    return Ready(vault.decrypt(cipher, contact.id), text)


@dataclass(frozen=True)
class Accepted:
    """The provider took a message (``delivered``: it is the end of the line, as the file provider)."""

    message_id: str
    text: sms.Text
    provider: str
    reference: str | None
    delivered: bool


def sms_accepted(uow: UnitOfWork, accepted: Iterable[Accepted], *, now: datetime) -> None:
    """The provider took these messages: the answers the sender's threads had at once, in one
    transaction (the sender's group commit), rows in id order as report batches take theirs
    (``apply_reports``), so that neither holds a row the other waits for while waiting for one it holds."""
    finished = [
        repository.Finished(one.message_id, sms.DELIVERED if one.delivered else sms.SENT, text=one.text,
                            provider=one.provider, reference=one.reference)
        for one in sorted(accepted, key=lambda a: a.message_id)
    ]  # fmt: skip
    _finish_all(uow, finished, now=now)


def sms_refused(
    uow: UnitOfWork,
    message,
    *,
    reason: str,
    permanent: bool,
    retry_delays: tuple[float, ...],
    text: sms.Text,
    provider: str,
    now: datetime,
) -> None:
    """The provider refused the message: tried again after the back-off unless the refusal is
    permanent or the back-off is used up, then failed with the provider's reason."""
    attempts = message.attempts + 1
    again = None if permanent else sms.retry_at(attempts, retry_delays, now)
    if again is None:
        log.warning("sms failed", extra={"message_id": message.id, "reason": reason})
        _finish(uow, message.id, sms.FAILED, error=reason, text=text, provider=provider, now=now)
        return
    metrics.NOTIFY_MESSAGES.labels("sms", "retried").inc()
    _put_back(uow, message.id, sms.QUEUED, again, attempts=attempts, error=reason, now=now)


def _finish(uow: UnitOfWork, message_id: str, status: str, *, now: datetime, **outcome) -> None:
    """Record a claimed message's outcome (``repository.Finished``'s fields); a report that already
    moved it further wins."""
    _finish_all(uow, [repository.Finished(message_id, status, **outcome)], now=now)


def _finish_all(uow: UnitOfWork, finished: list[repository.Finished], *, now: datetime) -> None:
    repository.finish_sms(uow.session, finished, now=now)
    for one in finished:
        metrics.NOTIFY_MESSAGES.labels("sms", one.status).inc()
        if one.status == sms.DELIVERED:
            metrics.NOTIFY_MESSAGES.labels("sms", sms.SENT).inc()
        if one.status in (sms.SENT, sms.DELIVERED) and one.text is not None:
            metrics.NOTIFY_SMS_PARTS.inc(one.text.parts)


def _put_back(
    uow: UnitOfWork, message_id: str, status: str, when: datetime, *, attempts: int, now: datetime, error=None
) -> None:
    repository.put_back_sms(uow.session, message_id, status, when, attempts=attempts, error=error, now=now)
    if status == sms.DEFERRED:
        metrics.NOTIFY_MESSAGES.labels("sms", sms.DEFERRED).inc()


def observe_sms_queue(uow: UnitOfWork) -> dict[str, int]:
    """How many messages wait and are being sent, by status (also set as the gauge)."""
    watched = (*sms.WAITING, sms.SENDING)
    counts = repository.sms_counts(uow.session, statuses=watched)
    for status in watched:
        metrics.NOTIFY_SMS_WAITING.labels(status).set(counts.get(status, 0))
    return counts


def purge_sms(uow: UnitOfWork, *, retention: timedelta, now: datetime) -> int:
    """Retention: settled messages (delivered, failed, suppressed) older than the retention go; the
    log keeps no number, but a title and a time still say who was told what."""
    repository.purge_questions(uow.session, now - retention)
    return repository.purge_sms(uow.session, sms.FINAL, now - retention)


# -- reminders before a consultation, and dead-letter alerts -------------------------------------------------


def reminders_due(uow: UnitOfWork, *, lead: timedelta, now: datetime) -> list[str]:
    """Consultations not cancelled, starting within ``lead``, not yet reminded for their current start."""
    return repository.due_reminders(uow.session, now, lead)


def remind(uow: UnitOfWork, consultation_id: str, *, lead: timedelta, now: datetime) -> bool:
    """Remind everyone invited to a consultation still due (``routing.REMINDER``), under an id of the
    consultation and its start, so a reminder delivered again adds nothing; whether it was reminded
    here (False: another worker holds or has sent it, or it changed since it was found due)."""
    due = repository.claim_reminder(uow.session, consultation_id, now, lead)
    if due is None:
        return False
    deliver(
        uow,
        route=routing.REMINDER,
        to=recipients.invited(uow, consultation_id),
        facts={"starts_at": domain.local_time(due.starts_at), "place": due.place or domain.UNANNOUNCED_PLACE},
        event_id=domain.reminder_id(consultation_id, due.starts_at),
        division_code=due.community_code,
        now=now,
    )
    repository.mark_reminded(uow.session, consultation_id, due.starts_at)
    return True


def alert_dead_letters(uow: UnitOfWork, piled: dict[str, int], now: datetime) -> None:
    """Tell the operator contacts of each dead-letter queue that piled up, once per queue and hour."""
    operators = recipients.operators()
    for service, count in piled.items():
        deliver(
            uow,
            route=routing.DEAD_LETTERS,
            to=operators,
            facts={"service": service, "count": str(count)},
            event_id=domain.alert_id(service, now),
            division_code=None,
            now=now,
        )


# -- registration's verification codes ---------------------------------------------------------------

VERIFICATION_TEXT = "您的验证码为{code},10分钟内有效。如非本人操作,请忽略本短信。"


class Unavailable(Problem):
    status = 503


def send_verification_code(
    provider: SmsProvider, principal: Principal, *, phone: str, code: str, signature: str
) -> None:
    """A resident's registration code, handed to the SMS provider at once (the gateway asks, as the
    platform's ``system``): not queued and not kept, since a code lives minutes and concerns no
    matter; the provider's refusal is the caller's 503, so no code counts as sent that was not."""
    principal.require_role("system")
    if not valid(phone):
        raise Invalid("手机号须为11位中国大陆手机号", field="phone")
    text = sms.signed(signature, VERIFICATION_TEXT.format(code=code))
    try:
        provider.send(Outgoing(str(uuid.uuid4()), phone, text, parts=1, report_url=None))
    except ProviderError as exc:
        log.warning("verification code not sent", extra={"reason": exc.reason})
        raise Unavailable("短信暂时无法发送,请稍后再试") from None
