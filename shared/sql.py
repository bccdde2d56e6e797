"""Query helpers that every service needs and each dialect spells differently: the scope filter,
insert-or-ignore, claiming rows under a lock, and hot statements built once. Written once here,
used everywhere."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

COMMUNITY_DIGITS = 12
T = TypeVar("T")


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


_BUILT: dict[Hashable, Any] = {}


def built(key: Hashable, build: Callable[[], T]) -> T:
    """The statement ``build()`` makes, built once per process for ``key`` (its shape: the dialect,
    the columns it sets) and then executed with its values bound (``bindparam``). Building a
    statement anew on each call costs about as much CPU as a simple statement's round trip on this
    stack (its clauses, then its cache key); a statement built once has its cache key computed once."""
    statement = _BUILT.get(key)
    if statement is None:
        statement = _BUILT.setdefault(key, build())
    return statement


def insert_ignoring_duplicates(session: Session, table, rows: dict | list[dict]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING, for effects that must happen once however often asked
    (a hot path in event handlers: the statement is ``built`` once per table and dialect)."""
    dialect = session.bind.dialect.name
    statement = built(
        ("insert ignoring duplicates", dialect, id(table)),
        lambda: dialect_insert(session)(table).on_conflict_do_nothing(),
    )
    session.execute(statement, rows)


def locked(session: Session, query: Select, *, skip_locked: bool = False) -> Select:
    """``query`` taking row locks until the transaction ends: ``FOR UPDATE`` (state changes of one
    row queue up), or ``FOR UPDATE SKIP LOCKED`` (replicas claiming work share it, none waits).
    SQLite has no row locks; there every transaction takes the database's write lock as it begins
    (``shared.db``), so writers queue up as they would on the locked rows."""
    if session.bind.dialect.name == "sqlite":
        return query
    return query.with_for_update(skip_locked=skip_locked)
