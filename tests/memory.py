"""Use cases without HTTP: a service's tables in an in-memory SQLite database (created from its
models, no migrations), the division registry filled, and units of work as its runtime gives them.
A use-case test then takes milliseconds; events emitted are kept in ``events``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from shared.bus.outbox import Outbox
from shared.db import Database
from shared.division_registry import upsert
from shared.divisions import Division
from shared.service import ServiceSpec
from shared.uow import UnitOfWork, unit_of_work


class InMemoryService:
    def __init__(self, spec: ServiceSpec, divisions: list[Division]):
        self.spec = spec
        self.db = Database("sqlite://", spec.name)
        spec.metadata.create_all(self.db.engine)
        self.outbox = Outbox(self.db, spec.tables)
        self.division_table = spec.metadata.tables.get("division")
        self.events: list = []
        if spec.name == "tracking":  # the owner of the registry loads it as `xieshang divisions load` does
            from services.tracking import services

            with self.unit_of_work() as uow:
                services.load_divisions(uow, divisions)
            self.events.clear()
        elif self.division_table is not None:
            with self.db.transaction() as session:
                upsert(session, self.division_table, divisions)

    @contextlib.contextmanager
    def unit_of_work(self, *, read_only: bool = False) -> Iterator[UnitOfWork]:
        with unit_of_work(self.db, self.outbox, self.spec.name, self.division_table, read_only=read_only) as uow:
            yield uow
        self.events.extend(uow.events)

    def emitted(self, event_type: str) -> list:
        """Payloads of the committed events of one type, oldest first."""
        return [e.payload for e in self.events if e.type == event_type]

    def close(self) -> None:
        self.db.dispose()
