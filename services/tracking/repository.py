"""The division registry in tracking's tables (the adapter between the domain and SQL)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.tracking.models import divisions
from shared.division_registry import upsert
from shared.divisions import Division
from shared.sql import within

LIST_LIMIT = 1000


def _division(row) -> Division:
    return Division(row["code"], row["name"], row["level"], row["parent_code"], row["source"], row["active"])


def active_divisions(session: Session, *, scope: str, parent: str | None) -> list[Division]:
    """Active divisions within ``scope`` (``domain.division_visible`` without the areas above the
    scope, which a list under a parent never needs), under ``parent`` if given, by code."""
    d = divisions.c
    query = select(divisions).where(d.active.is_(True), within(d.code, scope)).order_by(d.code).limit(LIST_LIMIT)
    if parent:
        query = query.where(d.parent_code == parent)
    return [_division(row) for row in session.execute(query).mappings()]


def stored(session: Session, codes: list[str]) -> dict[str, Division]:
    """The registry's current entries of ``codes``, by code."""
    found: dict[str, Division] = {}
    for start in range(0, len(codes), 500):
        query = select(divisions).where(divisions.c.code.in_(codes[start : start + 500]))
        found.update((row["code"], _division(row)) for row in session.execute(query).mappings())
    return found


def store(session: Session, changed: list[Division]) -> None:
    upsert(session, divisions, changed)
