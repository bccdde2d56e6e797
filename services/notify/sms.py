"""SMS rules (a domain module, pure: no Flask, no SQL): the text as carriers count it, when a message
may go out or is held back, what a delivery report means (a resident's reply: ``replies.py``), and the
states a message moves through.

Length is counted as Chinese carriers count it: a message is sent in UCS-2, every character
(Chinese, Latin, digit or punctuation, the 【签名】 signature included) is one, a character outside
the Basic Multilingual Plane (an emoji) is two; up to 70 fit one SMS, a longer text is split into
parts of 67 (each part gives 3 characters to the concatenation header). Residents are charged per
part, so ``max_parts`` caps a text. A link (the board's, ``XIESHANG_PUBLIC_URL``) is ASCII but goes
in the same UCS-2 message: each of its characters counts one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from services.notify.domain import ContactEntry, Template, TemplateError, linked, shown, wants
from shared.clock import BEIJING

COMMIT_MARK = "sms"  # a commit that queued SMS wakes the sender of the same process
SINGLE = 70
PART = 67
ELLIPSIS = "…"

# -- states --------------------------------------------------------------------------------------
QUEUED = "queued"  # waiting for the sender (after a transient failure too, with a later not_before)
DEFERRED = "deferred"  # held back by the recipient's quiet hours until not_before
SENDING = "sending"  # claimed by a sender, handed to the provider or about to be
SENT = "sent"  # accepted by the provider / the carrier's SMSC
DELIVERED = "delivered"  # the handset received it (delivery report)
FAILED = "failed"  # given up: the provider's or carrier's reason is kept
SUPPRESSED = "suppressed"  # not sent: the number opted out or the contact left after queuing
STATUSES = (QUEUED, DEFERRED, SENDING, SENT, DELIVERED, FAILED, SUPPRESSED)
WAITING = (QUEUED, DEFERRED)
FINAL = (DELIVERED, FAILED, SUPPRESSED)
# A report never moves a message back: reports arrive in any order (Kannel's "delivered" may come
# before its "accepted by the SMSC").
_RANK = {QUEUED: 0, DEFERRED: 0, SENDING: 1, SENT: 2, DELIVERED: 3, FAILED: 3, SUPPRESSED: 3}


def advances(current: str, new: str) -> bool:
    return _RANK[new] > _RANK[current]


class TooLong(ValueError):
    """A text needs more parts than allowed."""


def units(text: str) -> int:
    """UCS-2 code units: what the carrier counts."""
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)


def parts(text: str) -> int:
    n = units(text)
    return 1 if n <= SINGLE else math.ceil(n / PART)


def capacity(max_parts: int) -> int:
    """How many characters ``max_parts`` parts carry."""
    return SINGLE if max_parts == 1 else PART * max_parts


def signed(signature: str, body: str) -> str:
    """The 【签名】 carriers require at the start of every message."""
    return f"【{signature}】{body}"


@dataclass(frozen=True)
class Text:
    body: str
    parts: int


def compose(template: Template, variables: dict[str, str], *, signature: str, max_parts: int) -> Text:
    """The signed text of a template, refused (``TooLong``) beyond ``max_parts`` parts."""
    return compose_fitted(template, variables, signature=signature, max_parts=max_parts, shortenable=())


def compose_fitted(
    template: Template,
    variables: dict[str, str],
    *,
    signature: str,
    max_parts: int,
    shortenable: tuple[str, ...],
    link: str | None = None,
    prompt: str = "",
) -> Text:
    """As ``compose``, but a text from an event is never refused: the free-text variables named in
    ``shortenable`` (a title, a reason) are cut, longest first, and end with an ellipsis until it fits.
    A ``link`` (the board's) ends the text (``domain.linked``) and counts as carriers count it, one
    per character (ASCII, but the message is UCS-2); it is never cut, and left out when even the
    shortened text has no room for it. A question's ``prompt`` (``replies.prompt``: how to answer
    it, with its code) follows the text, before the link, and is never cut or left out."""
    if link:
        try:
            return _fitted(template, variables, signature, max_parts, shortenable, link, prompt)
        except TooLong:
            pass  # no room for the link: the text without it
    return _fitted(template, variables, signature, max_parts, shortenable, None, prompt)


def _fitted(
    template: Template,
    variables: dict[str, str],
    signature: str,
    max_parts: int,
    shortenable: tuple[str, ...],
    link: str | None,
    prompt: str = "",
) -> Text:
    values = shown(variables)  # redacted before shortening: a number cut in half would still show
    while True:
        body = signed(signature, linked(template.render(values) + prompt, link))
        over = units(body) - capacity(max_parts)
        if over <= 0:
            return Text(body, parts(body))
        candidates = [name for name in shortenable if len(values.get(name, "")) > 1]
        if not candidates:
            raise TooLong(f"短信共{units(body)}字(含签名),超过{max_parts}条短信的上限{capacity(max_parts)}字")
        name = max(candidates, key=lambda candidate: len(values[candidate]))
        value = values[name].removesuffix(ELLIPSIS)
        values[name] = value[: max(0, len(value) - over - 1)] + ELLIPSIS  # strictly shorter each time


def check_variables(template: Template, variables: dict[str, str]) -> None:
    """Variables of a hand-sent message: exactly the template's, each non-empty one-line text."""
    template.render(variables)  # raises TemplateError for a missing or unknown name
    for name, value in variables.items():
        if not value.strip() or "\n" in value or "\r" in value:
            raise TemplateError(f"变量{name}须为非空的单行文本")


# -- quiet hours ---------------------------------------------------------------------------------


def _hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def quiet_until(quiet_start: str, quiet_end: str, moment: datetime) -> datetime | None:
    """When the recipient's quiet hours end, if ``moment`` falls within them (Beijing time; the
    hours may span midnight); None when a message may go out now."""
    start, end = _hhmm(quiet_start), _hhmm(quiet_end)
    local = moment.astimezone(BEIJING)
    now = local.time().replace(second=0, microsecond=0)
    if start == end:
        return None
    inside = start <= now < end if start < end else (now >= start or now < end)
    if not inside:
        return None
    ends = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if ends <= local:
        ends += timedelta(days=1)
    return ends


def held_back(contact: ContactEntry | None, category: str) -> str | None:
    """Why a claimed message is not sent after all, checked again at send time (a reply or a change
    may have come since it was queued), or None; ``contact`` is None once it left the directory."""
    if contact is None:
        return "联系人已删除"
    if contact.stopped:
        return "该号码已回复退订"
    if not wants(contact, "sms", category):
        return "联系人已退订此类通知"
    return None


def retry_at(attempts: int, delays: tuple[float, ...], now: datetime) -> datetime | None:
    """When to try again after ``attempts`` failed tries; None once the back-off is used up."""
    if attempts > len(delays):
        return None
    return now + timedelta(seconds=delays[attempts - 1])


# -- what a delivery report means (a reply: ``replies.py``) -----------------------------------------

# Kannel's delivery report types (%d of the dlr-url).
KANNEL_REPORTS = {
    1: (DELIVERED, None),
    2: (FAILED, "无法送达"),
    4: (SENT, None),  # buffered at the SMSC, still on its way
    8: (SENT, None),  # accepted by the SMSC
    16: (FAILED, "短信中心拒收"),
}


def kannel_outcome(report_type: int, answer: str | None) -> tuple[str, str | None] | None:
    """The status and reason a Kannel report moves a message to (None: a report type that moves
    nothing); the SMSC's answer goes with a failure's reason."""
    status, reason = KANNEL_REPORTS.get(report_type, (None, None))
    if status is None:
        return None
    answer = (answer or "").strip()
    return status, f"{reason}({answer})" if reason and answer else reason


def national(number: str) -> str:
    """Carriers give the sender as +86138…, 86138… or 138…; the directory keeps 138…."""
    digits = number.strip().removeprefix("+")
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits
