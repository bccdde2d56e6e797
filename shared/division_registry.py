"""The division registry in a service's database: its table, upserts, look-ups in a unit of work,
and the handler that keeps a replica in step with tracking's ``tracking.divisions.changed``."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Boolean, Column, MetaData, String, Table, select
from sqlalchemy.orm import Session

from shared import reference_cache
from shared.clock import utcnow
from shared.db import UTCDateTime
from shared.divisions import BATCH_SIZE, Division, from_payload
from shared.sql import dialect_insert, locked


def division_table(metadata: MetaData) -> Table:
    return Table(
        "division",
        metadata,
        Column("code", String(12), primary_key=True),
        Column("name", String(100), nullable=False),
        Column("level", String(16), nullable=False),
        Column("parent_code", String(12), nullable=True, index=True),
        Column("source", String(32), nullable=False),
        Column("active", Boolean, nullable=False, default=True),
        Column("updated_at", UTCDateTime(), nullable=False),
    )


def upsert(session: Session, table: Table, divisions: Iterable[Division]) -> int:
    rows = [{**d.to_dict(), "updated_at": utcnow()} for d in divisions]
    if not rows:
        return 0
    reference_cache.changed(session)
    insert = dialect_insert(session)
    for start in range(0, len(rows), BATCH_SIZE):
        stmt = insert(table).values(rows[start : start + BATCH_SIZE])
        stmt = stmt.on_conflict_do_update(
            index_elements=["code"],
            set_={c: stmt.excluded[c] for c in ("name", "level", "parent_code", "source", "active", "updated_at")},
        )
        session.execute(stmt)
    return len(rows)


def division_from_row(row) -> Division:
    """A ``division`` table row (a mapping) as the registry's value."""
    return Division(row["code"], row["name"], row["level"], row["parent_code"], row["source"], row["active"])


class DivisionRegistry:
    """Look-ups against a service's copy of the registry, in one session."""

    def __init__(self, session: Session, table: Table):
        self.session = session
        self.table = table

    def get(self, code: str, *, for_update: bool = False) -> Division | None:
        """One division, as the process read it within ``shared.reference_cache.REFERENCE_SECONDS``;
        ``for_update`` reads the row and locks it until the transaction ends, so a use case that
        must not run twice at once in one division (a consultation recorded afterwards, checked
        against those already recorded there) queues up."""
        if for_update:
            return self._read(locked(self.session, self._query(code)))
        return reference_cache.cached(self.session, (self.table.name, code), lambda: self._read(self._query(code)))

    def _query(self, code: str):
        return select(self.table).where(self.table.c.code == code)

    def _read(self, query) -> Division | None:
        row = self.session.execute(query).mappings().first()
        return None if row is None else division_from_row(row)

    def active_community(self, code: str) -> Division | None:
        division = self.get(code)
        if division is None or not division.active or division.level != "community":
            return None
        return division


def replica_handler(table: Table):
    """Event handler keeping a service's replica of the registry in step with tracking's."""

    def handle_divisions_changed(uow, envelope) -> None:
        upsert(uow.session, table, from_payload(envelope.payload))

    return handle_divisions_changed
