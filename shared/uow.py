"""Unit of work: one transaction in which a service changes its state and records its events."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from shared.bus.outbox import Outbox
from shared.db import Database
from shared.division_registry import DivisionRegistry
from shared.events import Envelope, new_event
from shared.sql import insert_ignoring_duplicates


class UnitOfWork:
    """What a use case works through: the session of its one transaction, ``emit`` for its events,
    ``divisions`` for look-ups in the service's copy of the division registry."""

    def __init__(self, session: Session, outbox: Outbox, producer: str, division_table: Table | None = None):
        self.session = session
        self.outbox = outbox
        self.producer = producer
        self._division_table = division_table
        self.events: list[Envelope] = []
        self._once: dict = {}  # table -> rows for insert_once
        self._deferred: dict = {}  # key -> (items, resolve)

    @property
    def divisions(self) -> DivisionRegistry:
        if self._division_table is None:
            raise RuntimeError(f"{self.producer} keeps no division registry")
        return DivisionRegistry(self.session, self._division_table)

    def insert_once(self, table, row: dict) -> None:
        """Insert ``row`` unless its unique key already exists; rows are written together, in bulk,
        when the unit of work commits (one statement per table, not one round trip per row)."""
        self._once.setdefault(table, []).append(row)

    def deferred(self, key: str, resolve: Callable[[list], None]) -> list:
        """A list collecting work of one kind until the next flush, where ``resolve(items)`` handles
        it all at once: a burst of events then costs one look-up, not one per event."""
        return self._deferred.setdefault(key, ([], resolve))[0]

    def flush(self) -> None:
        while self._deferred:  # resolving queues rows (and may defer more work)
            items, resolve = self._deferred.pop(next(iter(self._deferred)))
            resolve(items)
        for table, rows in self._once.items():
            insert_ignoring_duplicates(self.session, table, rows)
        self._once.clear()

    def emit(
        self, event_type: str, payload: dict[str, Any], *, division_code: str | None, version: int = 1
    ) -> Envelope:
        """Validate an event and write it to the outbox in this transaction."""
        envelope = new_event(event_type, payload, producer=self.producer, division_code=division_code, version=version)
        self.outbox.add(self.session, envelope)
        self.events.append(envelope)
        return envelope


@contextlib.contextmanager
def unit_of_work(
    db: Database, outbox: Outbox, producer: str, division_table: Table | None = None, *, read_only: bool = False
) -> Iterator[UnitOfWork]:
    """``read_only``: a long pass that writes nothing (``Database.transaction``), such as gauges read
    at scrape time; it emits nothing either."""
    with db.transaction(read_only=read_only) as session:
        uow = UnitOfWork(session, outbox, producer, division_table)
        yield uow
        uow.flush()
