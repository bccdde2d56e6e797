"""A community's consultations as an iCalendar feed (RFC 5545), for residents' calendar apps.

Pure: consultations in, text out. The rules of the format that matter here: lines end with CRLF;
a content line longer than 75 octets is folded (CRLF and one space), counting octets of UTF-8, not
characters, and never splitting a character; TEXT values escape backslash, semicolon, comma and
newlines; times are UTC (``…Z``), so no VTIMEZONE is needed.

The feed is public: the free text in it (titles, the reason of a cancellation, the venue, the
topics) is shown without the personal numbers and e-mail addresses someone typed into it
(``shared.redaction``), and an online link that would need hiding is not given as the ``URL``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.meetings.domain import FORMS, MODES, Consultation
from shared.redaction import redact

PRODID = "-//Xieshang//Meetings 1.0//ZH"
LINE_OCTETS = 75
# A consultation announced without an end time is shown with this length.
DEFAULT_DURATION = timedelta(hours=2)
CONTENT_TYPE = "text/calendar; charset=utf-8"


@dataclass(frozen=True)
class Event:
    uid: str
    stamp: datetime
    starts_at: datetime
    ends_at: datetime
    summary: str
    description: str
    status: str  # CONFIRMED or CANCELLED
    location: str | None = None
    url: str | None = None


def escape_text(value: str) -> str:
    """An RFC 5545 TEXT value (3.3.11): ``\\``, ``;``, ``,`` and newlines escaped."""
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return value.replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n")


def fold(line: str, limit: int = LINE_OCTETS) -> str:
    """Fold a content line (3.1): no line longer than ``limit`` octets, continuation lines
    starting with one space (which counts), multi-octet characters kept whole."""
    lines, current, size = [], [], 0
    for char in line:
        octets = len(char.encode("utf-8"))
        if size + octets > limit:
            lines.append("".join(current))
            current, size = [" "], 1
        current.append(char)
        size += octets
    lines.append("".join(current))
    return "\r\n".join(lines)


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def event_of(consultation: Consultation) -> Event:
    """The calendar entry of an announced (or since cancelled) consultation, its free text redacted."""
    c = consultation
    cancelled = c.status == "cancelled"
    title, venue, link = redact(c.title), redact(c.venue), redact(c.online_link)
    lines = []
    if cancelled:
        lines.append(f"已取消:{redact(c.cancel_reason)}" if c.cancel_reason else "已取消")
    lines += [f"协商形式:{FORMS.get(c.form, c.form)}", f"协商方式:{MODES.get(c.mode, c.mode)}"]
    if venue:
        lines.append(f"地点:{venue}")
    if link:
        lines.append(f"线上参会:{link}")
    if c.topics:
        lines.append("议题:")
        lines += [f"{n}. {redact(topic.title)}" for n, topic in enumerate(c.topics, start=1)]
    return Event(
        uid=f"consultation-{c.id}@xieshang",
        stamp=c.updated_at,
        starts_at=c.starts_at,
        ends_at=c.ends_at or c.starts_at + DEFAULT_DURATION,
        summary=f"[已取消] {title}" if cancelled else title,
        description="\n".join(lines),
        status="CANCELLED" if cancelled else "CONFIRMED",
        location=venue or link,
        url=c.online_link if link == c.online_link else None,
    )


def render(name: str, events: Iterable[Event]) -> str:
    """The whole VCALENDAR object, CRLF line endings, folded."""
    lines = [
        "BEGIN:VCALENDAR",
        f"PRODID:{PRODID}",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(name)}",
        "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
        "X-PUBLISHED-TTL:PT1H",
    ]
    for event in events:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{event.uid}",
            f"DTSTAMP:{utc(event.stamp)}",
            f"LAST-MODIFIED:{utc(event.stamp)}",
            f"DTSTART:{utc(event.starts_at)}",
            f"DTEND:{utc(event.ends_at)}",
            f"SUMMARY:{escape_text(event.summary)}",
        ]
        if event.location:
            lines.append(f"LOCATION:{escape_text(event.location)}")
        lines.append(f"DESCRIPTION:{escape_text(event.description)}")
        if event.url:
            lines.append(f"URL:{event.url}")
        lines += [f"STATUS:{event.status}", "TRANSP:OPAQUE", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)


def community_calendar(community_name: str, consultations: Iterable[Consultation]) -> str:
    """The feed of one community: its consultations and its street's that reach it."""
    return render(f"{community_name}协商日程", [event_of(c) for c in consultations])
