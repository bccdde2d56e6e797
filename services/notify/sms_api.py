"""Notify's SMS adapter (HTTP, thin: parse, one use case of ``services.py``, serialise): what
providers call back (delivery reports, residents' replies), the SMS log of the caller's scope, and
community notices sent by hand.

Provider callbacks are public routes (a provider cannot present a token); each URL carries an HMAC
signature (``phones.PhoneVault.sign``): a report URL is signed for its one message, a replies URL
for its provider. A bad signature is a 403 and changes nothing. ``xieshang sms callback-urls``
prints the replies URLs to configure (Kannel's ``sms-service`` ``get-url``).

Replies (``replies.py``, the grammar; ``services.reply``): T, TD, 退订 (any case or width) put the
number on the stop list (no SMS goes to it any more, from any community, whatever is already
queued); 订阅 or DY takes it off; an answer to a question an SMS asked (co-sign, RSVP, rate, a
duplicate's digit), 查询 and a matter raised by SMS are acted on once per number and question; the
rest get one help SMS a day. ``xieshang sms receive`` simulates one on the embedded default.
"""

from __future__ import annotations

from services.notify import domain, services
from services.notify.phones import vault_for
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
from shared.http import Blueprint, current_principal, public, requires
from shared.service import current_runtime

blp = Blueprint("sms", __name__, url_prefix="/api/v1/notify/sms", description="短信:回执、回复、记录与通知")


def _vault():
    return vault_for(current_runtime().settings)


# -- delivery reports ------------------------------------------------------------------------------


def _reports() -> services.ReportSink:
    """Reports that arrive together are committed together (two a message: accepted, delivered)."""
    return current_runtime().group_commit(services.apply_reports)


@blp.route("/reports/kannel", methods=["GET", "POST"])
@blp.arguments(KannelReportQuery, location="query")
@blp.response(204)
@blp.doc(security=[])
@public
def kannel_report(query):
    """Kannel's delivery report (its ``dlr-url``): %d as ``type``, %A as ``answer``."""
    services.kannel_report(
        _reports(), _vault(), message_id=query["id"], signature=query["sig"], report_type=query["type"],
        answer=query.get("answer"),
    )  # fmt: skip


@blp.post("/reports/http")
@blp.arguments(KannelReportQuery(only=("id", "sig")), location="query")
@blp.arguments(HttpReportIn)
@blp.response(204)
@blp.doc(security=[])
@public
def http_report(query, body):
    """The SMS platform's delivery report: ``{"status": "delivered"|"failed", "reason": ...}``."""
    services.platform_report(
        _reports(), _vault(), message_id=query["id"], signature=query["sig"], status=body["status"],
        reason=body.get("reason"),
    )  # fmt: skip


# -- replies ----------------------------------------------------------------------------------------


def _reply(provider: str, signature: str | None, sender: str, text: str) -> dict:
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        action = services.reply(
            uow, _vault(), provider=provider, signature=signature, sender=sender, text=text, now=runtime.now()
        )
    return {"action": action}


@blp.route("/replies/kannel", methods=["GET", "POST"])
@blp.arguments(KannelReplyQuery, location="query")
@blp.response(200, ReplyOut)
@blp.doc(security=[])
@public
def kannel_reply(query):
    """A resident's reply through Kannel (its ``sms-service`` get-url: %p as ``from``, %a as ``text``)."""
    return _reply("kannel", query["sig"], query["sender"], query["text"])


@blp.post("/replies/http")
@blp.arguments(KannelReplyQuery(only=("sig",)), location="query")
@blp.arguments(HttpReplyIn)
@blp.response(200, ReplyOut)
@blp.doc(security=[])
@public
def http_reply(query, body):
    """A resident's reply through the SMS platform: ``{"from": "138...", "text": "TD"}``."""
    return _reply("http", query["sig"], body["sender"], body["text"])


# -- the SMS log -------------------------------------------------------------------------------------


@blp.get("/messages")
@blp.arguments(SmsQuery, location="query")
@blp.response(200, SmsPage)
@requires(*domain.CONTACT_MANAGERS)
def list_messages(query):
    """SMS of the caller's scope, newest first: status, parts, the provider's reason for a failure."""
    with current_runtime().unit_of_work() as uow:
        return services.sms_log(
            uow, current_principal(), status=query.get("status"), contact_id=query.get("contact_id"),
            limit=query["limit"], cursor=query.get("cursor"),
        )  # fmt: skip


# -- hand-sent community notices ----------------------------------------------------------------------


@blp.post("/preview")
@blp.arguments(PreviewIn)
@blp.response(200, PreviewOut)
@requires(*domain.CONTACT_MANAGERS)
def preview(data):
    """The signed text of a community notice, its length and parts, or why it cannot be sent."""
    settings = current_runtime().settings
    return services.preview_notice(
        data["variables"], signature=settings.sms_signature, max_parts=settings.sms_max_parts
    )


@blp.post("/notices")
@blp.arguments(NoticeIn)
@blp.response(202, NoticeOut)
@requires(*domain.CONTACT_MANAGERS)
def send_notice(data):
    """Send a notice to every subscriber of a community in the caller's scope (app and SMS, as
    each subscriber's channels, opt-outs and quiet hours allow). Idempotent per ``notice_id``."""
    runtime = current_runtime()
    settings = runtime.settings
    with runtime.unit_of_work() as uow:
        return services.send_notice(
            uow, current_principal(), community_code=data["community_code"], variables=data["variables"],
            notice_id=data.get("notice_id"), signature=settings.sms_signature, max_parts=settings.sms_max_parts,
            now=runtime.now(), proposal_id=data.get("proposal_id"),
        )  # fmt: skip
