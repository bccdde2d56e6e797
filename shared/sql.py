"""Query helpers that every service needs and each dialect spells differently: the scope filter,
insert-or-ignore, and claiming rows under a lock. Written once here, used everywhere."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

COMMUNITY_DIGITS = 12


def within(column, scope: str) -> ColumnElement[bool]:
    """Rows whose division code lies in ``scope`` (a code prefix): a whole community is an equality
    (an index look-up), a wider area a prefix match. Scopes are digits (tokens and query schemas
    check them), so the prefix holds no LIKE wildcard."""
    if len(scope) == COMMUNITY_DIGITS:
        return column == scope
    return column.startswith(scope)


def mentions(column, text: str) -> ColumnElement[bool]:
    """Rows whose ``column`` holds ``text`` as typed: ``%`` and ``_`` in it are characters to find,
    not LIKE wildcards (``?q=%`` must not match everything)."""
    return column.contains(text, autoescape=True)


def dialect_insert(session: Session):
    """``insert`` of the session's dialect, the one with ``on_conflict_do_nothing/_update``."""
    return sqlite.insert if session.bind.dialect.name == "sqlite" else postgresql.insert


_IGNORE_DUPLICATES: dict[tuple[str, int], object] = {}


def insert_ignoring_duplicates(session: Session, table, rows: dict | list[dict]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING, for effects that must happen once however often asked.

    The statement is built once per table and dialect and rows are passed as parameters, so
    SQLAlchemy compiles it once instead of on every call (a hot path in event handlers).
    """
    key = (session.bind.dialect.name, id(table))
    stmt = _IGNORE_DUPLICATES.get(key)
    if stmt is None:
        stmt = _IGNORE_DUPLICATES[key] = dialect_insert(session)(table).on_conflict_do_nothing()
    session.execute(stmt, rows)


def locked(session: Session, query: Select, *, skip_locked: bool = False) -> Select:
    """``query`` taking row locks until the transaction ends: ``FOR UPDATE`` (state changes of one
    row queue up), or ``FOR UPDATE SKIP LOCKED`` (replicas claiming work share it, none waits).
    SQLite has no row locks; there every transaction takes the database's write lock as it begins
    (``shared.db``), so writers queue up as they would on the locked rows."""
    if session.bind.dialect.name == "sqlite":
        return query
    return query.with_for_update(skip_locked=skip_locked)
