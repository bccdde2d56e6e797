"""The text policy: what people type, checked and normalised once, with Chinese messages naming the
field.

Residents' and officials' text is shown back on public pages, in SMS, in apps and in calendars, so
it must be plain: no markup, no script URLs, none of the ``FORBIDDEN`` characters (which the HTTP
layer refuses in every request already, see ``shared.inbound``). A one-line text (a title, a venue,
a name, a reason) has its line breaks, tabs and runs of spaces folded into one space, so it cannot
break an SMS, an inbox line or an iCalendar property; a multi-line text (a description, minutes, a
note) keeps its lines, with every line break made ``\n``.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from shared.problems import Invalid

# C0 controls but tab, LF, CR; DEL and the C1 controls; surrogates (only lone ones survive JSON
# decoding: a valid pair becomes one character); bidirectional embeddings, overrides and isolates;
# the non-characters U+FFFE and U+FFFF.
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069\ufffe\uffff]")
_LINE_BREAKS = re.compile(r"\r\n?|[\u2028\u2029\x85]")
MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z!?][^>]*>|javascript:|data:text/html", re.IGNORECASE)
MAX_LINK = 500


def normalised(value: str, *, multiline: bool = False) -> str:
    """``value`` under the text policy's spacing: one line with single spaces, or lines joined by
    ``\n`` (each line's trailing spaces dropped); stripped either way."""
    if not multiline:
        return " ".join(value.split())
    return "\n".join(line.rstrip() for line in _LINE_BREAKS.sub("\n", value).split("\n")).strip()


def plain_text(field_name: str, label: str, value: str | None, limit: int, *, multiline: bool = False) -> str:
    """``value`` normalised (``normalised``), or an ``Invalid`` saying it is empty, too long or not
    plain text."""
    if value and FORBIDDEN.search(value):
        raise Invalid(f"{label}含有不允许的字符(控制字符、无效的Unicode或方向控制符)", field=field_name)
    text = normalised(value or "", multiline=multiline)
    if not text:
        raise Invalid(f"{label}不能为空", field=field_name)
    if len(text) > limit:
        raise Invalid(f"{label}不能超过{limit}个字", field=field_name)
    if MARKUP.search(text):
        raise Invalid(f"{label}只能是纯文本,不能包含HTML或脚本", field=field_name)
    return text


def http_link(field_name: str, label: str, link: str) -> str:
    """``link`` stripped, or an ``Invalid`` unless it is an http(s) URL of reasonable length."""
    parts = urlsplit(link.strip()) if isinstance(link, str) else None
    if parts is None or parts.scheme not in {"http", "https"} or not parts.netloc or len(link) > MAX_LINK:
        raise Invalid(f"{label}必须是http或https链接", field=field_name)
    return link.strip()
