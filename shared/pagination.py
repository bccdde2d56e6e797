"""Keyset pagination for listings: pages stay stable while new rows arrive.

A page is ordered by (sort key, id); its ``next_cursor`` is the last row's (sort key, id), opaque
to clients (URL-safe base64 of JSON). The next page starts strictly after it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import Session

from shared.problems import BadRequest


def encode_cursor(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("分页游标无效", field="cursor") from None
    if not isinstance(values, list) or len(values) != 2:
        raise BadRequest("分页游标无效", field="cursor")
    return values


@dataclass(frozen=True)
class Keyset:
    """An order (``column``, then ``id_column`` to break ties) and the condition "after a cursor"."""

    column: Any
    id_column: Any
    descending: bool

    @property
    def order(self) -> list:
        if self.descending:
            return [self.column.desc(), self.id_column.desc()]
        return [self.column.asc(), self.id_column.asc()]

    def after(self, cursor: str):
        key, last_id = decode_cursor(cursor)
        if self.column.type.python_type is datetime:
            try:
                key = datetime.fromisoformat(key)
            except (TypeError, ValueError):
                raise BadRequest("分页游标无效", field="cursor") from None
        column, ids = self.column, self.id_column
        if self.descending:
            return or_(column < key, and_(column == key, ids < last_id))
        return or_(column > key, and_(column == key, ids > last_id))

    def cursor_of(self, row) -> str:
        return encode_cursor([row[self.column.key], row[self.id_column.key]])


def page(
    session: Session, query: Select, keyset: Keyset, *, limit: int, cursor: str | None, convert: Callable
) -> tuple[list, str | None]:
    """One page of ``query`` in ``keyset`` order after ``cursor``, each row through ``convert``;
    and the cursor of the next page (None on the last one)."""
    if cursor:
        query = query.where(keyset.after(cursor))
    rows = session.execute(query.order_by(*keyset.order).limit(limit + 1)).mappings().all()
    items = [convert(row) for row in rows[:limit]]
    return items, keyset.cursor_of(rows[limit - 1]) if len(rows) > limit else None
