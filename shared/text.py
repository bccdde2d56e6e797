"""Checks of what people type: plain text and links, with Chinese messages naming the field.

Residents' and officials' text is shown back on public pages, in SMS and in apps, so it must be
plain: no markup, no script URLs.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from shared.problems import Invalid

MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z!?][^>]*>|javascript:|data:text/html", re.IGNORECASE)
MAX_LINK = 500


def plain_text(field_name: str, label: str, value: str | None, limit: int) -> str:
    """``value`` stripped, or an ``Invalid`` saying it is empty, too long or not plain text."""
    text = (value or "").strip()
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
