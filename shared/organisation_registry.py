"""A service's replica of tracking's organisations in its database: the table, the upsert by id
(a telling that arrives late changes nothing), the look-ups, and the handler that keeps the
replica in step with ``tracking.organisations.changed``. The plain values and the rule of whom
an organisation serves are in ``shared.organisations``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from datetime import UTC, datetime

from sqlalchemy import Boolean, Column, MetaData, String, Table, select
from sqlalchemy.orm import Session

from shared.db import UTCDateTime
from shared.organisations import Organisation, from_payload
from shared.sql import dialect_insert


def organisation_table(metadata: MetaData) -> Table:
    """Tracking's registered organisations (upserted by id). ``changed_at``: when tracking told
    it, so an older telling that arrives late does not undo a newer one."""
    return Table(
        "organisation",
        metadata,
        Column("id", String(64), primary_key=True),
        Column("kind", String(32), nullable=False),
        Column("name", String(100), nullable=False),
        Column("scope", String(12), nullable=False),
        Column("active", Boolean, nullable=False),
        Column("changed_at", UTCDateTime(), nullable=False),
    )


def upsert(session: Session, table: Table, found: Iterable[Organisation], changed_at: datetime) -> None:
    """Store what tracking told of these organisations at ``changed_at``, by id; a row told of later
    is kept (a telling that arrives late changes nothing)."""
    latest = {o.id: o for o in found}  # one row per id in one statement (the last told wins)
    if not latest:
        return
    rows = [{**asdict(o), "changed_at": changed_at} for o in latest.values()]
    stmt = dialect_insert(session)(table).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=["id"],
        set_={c: stmt.excluded[c] for c in ("kind", "name", "scope", "active", "changed_at")},
        where=table.c.changed_at <= stmt.excluded.changed_at,
    )
    session.execute(stmt)


def _wanted(ids: Iterable[str | None]) -> list[str]:
    return sorted({i for i in ids if isinstance(i, str)})


def _record(table: Table):
    o = table.c
    return select(o.id, o.kind, o.name, o.scope, o.active)


def get(session: Session, table: Table, organisation_id: str) -> Organisation | None:
    """The replica's record of one organisation, None if it has none."""
    row = session.execute(_record(table).where(table.c.id == organisation_id)).mappings().first()
    return Organisation(**row) if row else None


def by_ids(session: Session, table: Table, ids: Iterable[str | None]) -> dict[str, Organisation]:
    """The records of those of ``ids`` the replica knows (retired ones too), by id; None ignored."""
    wanted = _wanted(ids)
    if not wanted:
        return {}
    query = _record(table).where(table.c.id.in_(wanted))
    return {row["id"]: Organisation(**row) for row in session.execute(query).mappings()}


def names(session: Session, table: Table, ids: Iterable[str | None]) -> dict[str, str]:
    """The names of those of ``ids`` the replica knows (retired ones too), by id; None ignored."""
    wanted = _wanted(ids)
    if not wanted:
        return {}
    return dict(session.execute(select(table.c.id, table.c.name).where(table.c.id.in_(wanted))).all())


def replica_handler(table: Table):
    """Event handler keeping a service's replica of the organisations in step with tracking's:
    each record as of the event (``occurred_at``), so a late telling does not undo a newer one."""

    def handle_organisations_changed(uow, envelope) -> None:
        changed_at = datetime.fromisoformat(envelope.occurred_at).astimezone(UTC)
        upsert(uow.session, table, from_payload(envelope.payload), changed_at)

    return handle_organisations_changed
