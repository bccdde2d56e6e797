"""Notify's SMS surface: what providers call back (delivery reports, residents' replies), the SMS
log of the caller's scope, and community notices sent by hand.

Provider callbacks are public routes (a provider cannot present a token); each URL carries an HMAC
signature (``phones.PhoneVault.sign``): a report URL is signed for its one message, a replies URL
for its provider. A bad signature is a 403 and changes nothing. ``xieshang sms callback-urls``
prints the replies URLs to configure (Kannel's ``sms-service`` ``get-url``).

Replies: T, TD, 退订 (any case or width, ``sms.reply_intent``) put the number on the stop list:
no SMS goes to it any more, from any community, whatever is already queued; 订阅 or DY takes it off.
Other replies are acknowledged and not kept (they would hold personal text with a number).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from flask_smorest import Blueprint
from sqlalchemy import delete, func, select, update

from services.notify import domain, sms
from services.notify.delivery import deliver
from services.notify.events import subscribers
from services.notify.models import contacts, sms_messages, sms_stops
from services.notify.phones import valid, vault_for
from services.notify.routing import SUBSCRIBERS, Route
from services.notify.schemas import (
    HttpReplyIn,
    HttpReportIn,
    KannelReplyQuery,
    KannelReportQuery,
    NoticeIn,
    NoticeOut,
    PreviewIn,
    PreviewOut,
    ReplyOut,
    SmsPage,
    SmsQuery,
)
from shared import metrics
from shared.http import current_principal, public, requires
from shared.pagination import Keyset, page
from shared.problems import Forbidden, Invalid
from shared.service import current_runtime
from shared.sql import insert_ignoring_duplicates

blp = Blueprint("sms", __name__, url_prefix="/api/v1/notify/sms", description="短信:回执、回复、记录与通知")
m = sms_messages.c
NEWEST_FIRST = Keyset(m.created_at, m.id, descending=True)
NOTICE = Route("community_notice", SUBSCRIBERS, ("content",))


def _vault():
    return vault_for(current_runtime().settings)


def _signed(subject: str, signature: str | None) -> None:
    if not _vault().verify(subject, signature):
        raise Forbidden("回调签名无效")


# -- delivery reports ------------------------------------------------------------------------------


def _report(message_id: str, status: str, reason: str | None) -> None:
    """Move a message on by a report; a report never moves it back (``sms.advances``)."""
    now = datetime.now(UTC)
    beyond = [s for s in sms.STATUSES if not sms.advances(s, status)]  # states this report cannot move on
    values = {"status": status, "updated_at": now, "lease_until": None}
    if status in (sms.SENT, sms.DELIVERED):
        values["sent_at"] = func.coalesce(m.sent_at, now)
    if status == sms.DELIVERED:
        values["delivered_at"] = now
    if status == sms.FAILED:
        values["error"] = reason or "运营商报告发送失败"
    with current_runtime().db.transaction() as session:
        moved = session.execute(
            update(sms_messages).where(m.id == message_id, m.status.not_in(beyond)).values(**values)
        ).rowcount
    if moved:
        metrics.NOTIFY_MESSAGES.labels("sms", status).inc()


@blp.route("/reports/kannel", methods=["GET", "POST"])
@blp.arguments(KannelReportQuery, location="query")
@blp.response(204)
@blp.doc(security=[])
@public
def kannel_report(query):
    """Kannel's delivery report (its ``dlr-url``): %d as ``type``, %A as ``answer``."""
    _signed(f"report:{query['id']}", query["sig"])
    status, reason = sms.KANNEL_REPORTS.get(query["type"], (None, None))
    if status is not None:
        answer = (query.get("answer") or "").strip()
        _report(query["id"], status, f"{reason}({answer})" if reason and answer else reason)


@blp.post("/reports/http")
@blp.arguments(KannelReportQuery(only=("id", "sig")), location="query")
@blp.arguments(HttpReportIn)
@blp.response(204)
@blp.doc(security=[])
@public
def http_report(query, body):
    """The SMS platform's delivery report: ``{"status": "delivered"|"failed", "reason": ...}``."""
    _signed(f"report:{query['id']}", query["sig"])
    _report(query["id"], body["status"], body.get("reason"))


# -- replies ----------------------------------------------------------------------------------------


def _reply(provider: str, signature: str | None, phone: str, text: str) -> dict:
    _signed(f"replies:{provider}", signature)
    intent = sms.reply_intent(text)
    if intent is None or not valid(phone):
        return {"action": "ignored"}
    digest = _vault().digest(phone)
    with current_runtime().db.transaction() as session:
        if intent == sms.STOP:
            row = {"phone_hash": digest, "keyword": text.strip()[:16], "stopped_at": datetime.now(UTC)}
            insert_ignoring_duplicates(session, sms_stops, row)
        else:
            session.execute(delete(sms_stops).where(sms_stops.c.phone_hash == digest))
    metrics.NOTIFY_MESSAGES.labels("sms", "opted_out" if intent == sms.STOP else "opted_in").inc()
    return {"action": intent}


@blp.route("/replies/kannel", methods=["GET", "POST"])
@blp.arguments(KannelReplyQuery, location="query")
@blp.response(200, ReplyOut)
@blp.doc(security=[])
@public
def kannel_reply(query):
    """A resident's reply through Kannel (its ``sms-service`` get-url: %p as ``from``, %a as ``text``)."""
    return _reply("kannel", query["sig"], _national(query["sender"]), query["text"])


@blp.post("/replies/http")
@blp.arguments(KannelReplyQuery(only=("sig",)), location="query")
@blp.arguments(HttpReplyIn)
@blp.response(200, ReplyOut)
@blp.doc(security=[])
@public
def http_reply(query, body):
    """A resident's reply through the SMS platform: ``{"from": "138...", "text": "TD"}``."""
    return _reply("http", query["sig"], _national(body["sender"]), body["text"])


def _national(number: str) -> str:
    """Carriers give the sender as +86138…, 86138… or 138…; the directory keeps 138…."""
    digits = number.strip().removeprefix("+")
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


# -- the SMS log -------------------------------------------------------------------------------------


@blp.get("/messages")
@blp.arguments(SmsQuery, location="query")
@blp.response(200, SmsPage)
@requires(*domain.CONTACT_MANAGERS)
def list_messages(query):
    """SMS of the caller's scope, newest first: status, parts, the provider's reason for a failure."""
    principal = current_principal()
    select_messages = select(sms_messages).where(m.division_code.like(f"{principal.scope}%"))
    if query.get("status"):
        select_messages = select_messages.where(m.status == query["status"])
    if query.get("contact_id"):
        select_messages = select_messages.where(m.contact_id == query["contact_id"])
    with current_runtime().db.sessions() as session:
        items, next_cursor = page(
            session, select_messages, NEWEST_FIRST, limit=query["limit"], cursor=query.get("cursor"), convert=dict
        )
    return {"items": items, "next_cursor": next_cursor}


# -- hand-sent community notices ----------------------------------------------------------------------


def _compose(variables: dict[str, str]) -> sms.Text:
    template, settings = domain.TEMPLATES[NOTICE.template], current_runtime().settings
    try:
        sms.check_variables(template, variables)
        return sms.compose(template, variables, signature=settings.sms_signature, max_parts=settings.sms_max_parts)
    except (domain.TemplateError, sms.TooLong) as exc:
        raise Invalid(str(exc), field="variables") from None


@blp.post("/preview")
@blp.arguments(PreviewIn)
@blp.response(200, PreviewOut)
@requires(*domain.CONTACT_MANAGERS)
def preview(data):
    """The signed text of a community notice, its length and parts, or why it cannot be sent."""
    text = _compose(data["variables"])
    return {"text": text.body, "characters": sms.units(text.body), "parts": text.parts}


@blp.post("/notices")
@blp.arguments(NoticeIn)
@blp.response(202, NoticeOut)
@requires(*domain.CONTACT_MANAGERS)
def send_notice(data):
    """Send a notice to every subscriber of a community in the caller's scope (app and SMS, as
    each subscriber's channels, opt-outs and quiet hours allow). Idempotent per ``notice_id``."""
    principal = current_principal()
    principal.require_scope(data["community_code"])
    _compose(data["variables"])
    runtime = current_runtime()
    notice_id = str(data.get("notice_id") or uuid.uuid4())
    audience = subscribers(data["community_code"], {})
    with runtime.unit_of_work() as uow:
        count = uow.session.scalar(
            select(func.count()).select_from(contacts).where(contacts.c.live.is_(True), *audience.where)
        )
        if not count:
            raise Invalid("该社区还没有登记的居民联系人", field="community_code")
        deliver(
            uow,
            route=NOTICE,
            recipients=audience,
            facts=data["variables"],
            event_id=notice_id,
            division_code=data["community_code"],
            now=datetime.now(UTC),
        )
    with runtime.db.sessions() as session:
        counts = dict(
            session.execute(select(m.status, func.count()).where(m.event_id == notice_id).group_by(m.status)).all()
        )
    return {
        "notice_id": notice_id,
        "subscribers": count,
        "sms": sum(counts.values()),
        "sms_deferred": counts.get(sms.DEFERRED, 0),
    }
