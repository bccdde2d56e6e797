"""What every request must be before a view reads it: a JSON body shallow and well formed, every text
plain Unicode, every query parameter one the route documents.

These are checked once, here, for every route of every service (``shared.http`` calls them before
the view) and, for the depth of a JSON body, at the gateway too, so no parser, database driver or
encoder further in meets input it cannot handle:

- **Depth**: a JSON body nested deeper than ``MAX_DEPTH`` is refused (400) from a scan of its
  brackets, before it is parsed; a deep body would exhaust the recursion of the parser and of
  marshmallow. No payload of the platform nests deeper than 5.
- **Text**: the text policy's ``FORBIDDEN`` characters (``shared.text``): lone surrogates (no
  encoder can write them), NUL and other control characters but tab and line breaks (PostgreSQL
  rejects NUL; the others corrupt SMS and logs), the bidirectional overrides (they make a text read
  differently from what it says) and the non-characters, refused (422) wherever they occur: a
  JSON key or value, a form or query value, a path segment. Line breaks in one-line texts are the
  text policy's business (``shared.text.plain_text``).
- **Query**: a parameter that the route does not document is refused (400, naming the accepted
  ones) instead of being silently ignored: ``?level=`` on a route that filters by ``levels`` is a
  client bug the client should hear of.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

from shared.problems import BadRequest, Invalid
from shared.text import FORBIDDEN

MAX_DEPTH = 32

_BRACKETS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_OPENING = frozenset(b"[{")


def is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or mimetype.endswith("+json")


def too_deep(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON text ``raw`` nests arrays and objects deeper than ``limit`` (brackets inside
    strings do not count). Cheap: most bodies have fewer brackets than the limit in all."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    for match in _BRACKETS.finditer(raw):
        token = match.group()
        if len(token) != 1:
            continue  # a string
        if token[0] in _OPENING:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def refuse_deep(raw: bytes) -> None:
    if too_deep(raw):
        raise BadRequest(f"JSON嵌套层数不能超过{MAX_DEPTH}层")


def json_body(raw: bytes):
    """The parsed JSON body ``raw``, refused when too deep, malformed or holding forbidden text."""
    refuse_deep(raw)
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("请求内容不是有效的JSON(须为UTF-8编码)") from None
    refuse_forbidden_text(_strings(document))
    return document


def refuse_forbidden_text(texts: Iterable[tuple[str, str]]) -> None:
    """Refuse the first ``(where, text)`` whose text holds a forbidden character."""
    for where, text in texts:
        if FORBIDDEN.search(text):
            raise Invalid(
                f"{where or '请求内容'}含有不允许的字符(控制字符、无效的Unicode或方向控制符)",
                field=where or None,
            )


def _strings(document) -> Iterable[tuple[str, str]]:
    """Every key and string value of a parsed JSON document, with its path (``a.b[2]``); iterative,
    so depth costs no recursion."""
    stack = [("", document)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            yield path, node
        elif isinstance(node, dict):
            for key, value in node.items():
                child = f"{path}.{key}" if path else key
                yield child, key
                stack.append((child, value))
        elif isinstance(node, list):
            stack.extend((f"{path}[{index}]", value) for index, value in enumerate(node))


def pairs(values: Mapping) -> Iterable[tuple[str, str]]:
    """``(name, value)`` of a werkzeug MultiDict (query or form), every value of a repeated name."""
    for name, value in values.items(multi=True):
        name = name or ""  # a multipart part may come without a name
        yield name, name
        if isinstance(value, str):
            yield name, value


def refuse_unknown_query(given, accepted: Mapping[str, bool]) -> None:
    """Refuse a query (a werkzeug MultiDict) naming a parameter not in ``accepted`` (name: whether it
    may be repeated), or repeating one that takes a single value (which of the two would count?)."""
    unknown = sorted(set(given.keys()) - set(accepted))
    if unknown:
        listed = "、".join(sorted(accepted)) if accepted else "无"
        raise BadRequest(f"不支持的查询参数:{'、'.join(unknown)};此接口接受:{listed}", unknown=unknown)
    repeated = sorted(name for name, values in given.lists() if len(values) > 1 and not accepted[name])
    if repeated:
        raise BadRequest(f"查询参数只能给出一次:{'、'.join(repeated)}", repeated=repeated)
