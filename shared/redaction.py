"""The one scrubber of personal data in free text: ``redact(text)`` replaces the personal numbers and
e-mail addresses someone typed into a title, a description, a note or a log line by ``[已隐去]``.

Residents write ``请联系13812345678张三`` into a proposal's title; officials write a contact into a
reason. Such text leaves for the public (Open311, the public board, the iCalendar feed), for other
residents (inbox messages and SMS), for other services (event payloads) and for the logs; each of
those places passes it through ``redact`` (the platform keeps the original only where it was typed,
for the people who handle the matter). Standard library only, so domain modules may import it.

What is hidden (after folding full-width characters, see below):

- **Mobile numbers**: 11 digits ``1[3-9]x xxxx xxxx``, contiguous or in groups of 3-4-4 separated by
  spaces, hyphens or dots (``138 1234 5678``, ``138-1234-5678``), with an optional country code
  ``+86``, ``0086``, ``86`` or ``(+86)`` (``+86-139-5678-5678``, ``8613812345678``).
- **Landlines with an area code**: ``010``, ``02x`` or ``0[3-9]xx``, then 7 or 8 digits, with or
  without a hyphen or space, the area code perhaps in brackets (``0566-2123456``, ``(0566)2123456``,
  ``010-12345678``), or after ``+86`` without its 0 (``+86 10 12345678``); an extension
  (``-801``, ``转801``, ``ext 801``, ``分机801``) goes with it.
- **Resident identity card numbers**: 18 characters — a 6-digit area (not starting with 0), a birth
  date ``(18|19|20)yymmdd`` of a real month and day, 3 digits and a check digit or ``X`` —
  contiguous or spaced 6-8-4. The check digit itself is not verified: a mistyped number is just as
  personal.
- **Bank card numbers**: 16 to 19 digits, contiguous or in groups of four, that pass the Luhn check.
- **E-mail addresses** (``zhangsan@example.com``, also with a full-width ``＠``).
- **QQ numbers and WeChat ids after their keyword**: ``QQ``/``扣扣`` then 6 to 11 digits,
  ``微信``/``微信号`` (or ``wx:``, ``vx:``, ``wechat:``) then a WeChat id (a letter and 5 to 19
  letters, digits, ``_`` or ``-``); the keyword stays (``QQ:[已隐去]``).

What is left alone, on purpose:

- Numbers that are not personal: dates and times (``2024-05-13``, ``08:30``), amounts
  (``12000元``), ordinals, counts, the 12-digit division codes (``341702001001``: they never start
  with 0, as a 12-digit landline does, and no other pattern has 12 digits), service hotlines
  (``400-…``, ``800-…``, ``12345``, ``110``), a local number without its area code (``2123456``: as
  likely a quantity as a phone).
- A number that runs into more digits (``213812341234999``): the patterns need a non-digit (or the
  text's edge) on both sides, so a longer number is never half-hidden.
- UUIDs and long hexadecimal strings (32 or more: digests, message ids), kept whole so an id in a
  log line is never mangled by the digits inside it.

Full-width characters (what Chinese input methods type: ``１３８``, ``＋８６``, ``（０５６６）``,
``＠``, ``．``, the ideographic space) and the other dashes (``‐``, ``–``, ``—``, ``−``) are folded to
their ASCII form for matching only, one character for one (NFKC's width folding, restricted to those
characters so positions stay put); the text outside a hidden span comes back exactly as it was.

A hidden span is never shorter than the mark (every pattern needs at least 6 characters), so
redacting never lengthens a text: a title within a length limit stays within it.

Fast, since it runs on every public text and log line: precompiled expressions; a text without a
digit, an at sign or a WeChat keyword is returned at once; an ASCII text is not folded; the
numbers' expression fails at most places of a text on their first character (a look-ahead), and
e-mail addresses are looked for only in a text with an at sign.
"""

from __future__ import annotations

import re
from typing import overload

MARK = "[已隐去]"

# Full-width forms U+FF01..U+FF5E are ASCII U+0021..U+007E shifted; spaces and dashes of other widths.
_FOLD = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_FOLD |= dict.fromkeys(map(ord, "\u3000\u00a0\u2002\u2003\u2009\u202f"), ord(" "))
_FOLD |= dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63"), ord("-"))
_FOLD[0xFE6B] = ord("@")  # small commercial at
_FOLDED = re.compile("[" + re.escape("".join(map(chr, _FOLD))) + "]+")

# Anything the patterns need: a digit (ASCII or full-width), an at sign, a WeChat keyword.
_HINT = re.compile(r"[0-9０-９@＠﹫]|微信|(?i:wechat|[vw]x)")

_SEP = r"[ \t.\-]{0,3}"  # between a mobile's groups: spaces, hyphens, dots (" - " too)
_AREA = r"(?:10|2[0-9]|[3-9][0-9]{2})"  # an area code without its leading 0
_EXTENSION = r"(?:[ ]?(?:-|转|分机|(?i:ext\.?|x))[ ]?[0-9]{1,6}(?![0-9]))?"
_COUNTRY = r"(?:\(?(?:\+|00)?86\)?[ \-]?)"

# The numbers, one alternative per kind, each with its own boundary; the leading look-ahead lets
# every other place of a text fail at its first character. A match's kind is its ``lastgroup``;
# the QQ and WeChat alternatives name only what follows their keyword, which stays.
_NUMBERS = re.compile(
    r"(?=[0-9+(QqVvWw扣微])(?:"
    + "|".join(
        (
            rf"(?P<mobile>(?<![0-9+]){_COUNTRY}?1[3-9][0-9]{_SEP}[0-9]{{4}}{_SEP}[0-9]{{4}}(?![0-9]))",
            r"(?P<identity>(?<![0-9])[1-9][0-9]{5}[ \-]?(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
            r"[ \-]?[0-9]{3}[0-9Xx](?![0-9A-Za-z]))",
            rf"(?P<landline>(?<![0-9+])(?:\(0{_AREA}\)[ ]?|0{_AREA}[ \-]?|(?:\+|00)86[ \-]?{_AREA}[ \-]?)"
            rf"[1-9][0-9]{{6,7}}(?![0-9]){_EXTENSION})",
            r"(?P<card>(?<![0-9])(?:[0-9]{4}(?:[ \-][0-9]{4}){3}(?:[ \-]?[0-9]{1,3})?|[0-9]{16,19})(?![0-9]))",
            r"(?<![A-Za-z])(?:[Qq]{2}|扣扣)(?:号码|号)?[ ]?:?[ ]?(?P<qq>[1-9][0-9]{5,10})(?![0-9])",
            r"(?:微信号?|(?<![A-Za-z])(?i:[vw]x|wechat)(?=[ ]?:))[ ]?:?[ ]?(?P<wechat>[A-Za-z][A-Za-z0-9_\-]{5,19})"
            r"(?![A-Za-z0-9_\-])",
        )
    )
    + ")"
)
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
# Ids, not personal data: a number found inside one is left alone.
_HEX = "[0-9A-Fa-f]"
_IDS = re.compile(rf"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}|{_HEX}{{32,}}")
_ID_CHARS = frozenset("0123456789abcdefABCDEF-")
_NOT_DIGITS = re.compile(r"[^0-9]")


def _fold(run: re.Match) -> str:
    return run.group().translate(_FOLD)


def _luhn(digits: str) -> bool:
    """The check of bank card numbers (ISO/IEC 7812)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _in_an_id(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` lies within a UUID or a long hexadecimal string."""
    left, right = start, end
    while left and text[left - 1] in _ID_CHARS:
        left -= 1
    while right < len(text) and text[right] in _ID_CHARS:
        right += 1
    return any(m.start() <= start and end <= m.end() for m in _IDS.finditer(text, left, right))


def _spans(folded: str) -> list[tuple[int, int]]:
    """Where the text has something to hide, in order, not overlapping."""
    spans = [m.span() for m in _EMAIL.finditer(folded)] if "@" in folded else []
    emails = len(spans)
    for match in _NUMBERS.finditer(folded):
        kind = match.lastgroup
        start, end = match.start(kind), match.end()
        if kind == "card" and not _luhn(_NOT_DIGITS.sub("", match.group())):
            continue
        if kind not in ("qq", "wechat") and _in_an_id(folded, start, end):
            continue
        if emails and any(s < end and start < e for s, e in spans[:emails]):
            continue  # a QQ mail's number: hidden with its address
        spans.append((start, end))
    return sorted(spans) if emails else spans


@overload
def redact(text: str) -> str: ...
@overload
def redact(text: None) -> None: ...
def redact(text: str | None) -> str | None:
    """``text`` with its personal numbers and e-mail addresses replaced by ``[已隐去]`` (the rules
    are the module's); None and texts with nothing to hide come back as they are."""
    if not text or not _HINT.search(text):
        return text
    folded = text if text.isascii() else _FOLDED.sub(_fold, text)
    spans = _spans(folded)
    if not spans:
        return text
    pieces: list[str] = []
    kept = 0
    for start, end in spans:
        pieces += (text[kept:start], MARK)
        kept = end
    pieces.append(text[kept:])
    return "".join(pieces)
