"""Group commit: the small writes of requests that arrive together applied in one transaction.

A caller hands over its item and waits until it is committed. One that finds no batch under way
applies everything pending (its own item and those queued meanwhile, up to ``max_batch``) and then
wakes the others; one that arrives while a batch is under way waits for it to end and, if its item
is still pending, applies the next batch itself. Idle, a caller applies its own item at once (no
timer, no added latency); under load, one transaction serves the requests that arrived while the
last one committed, where each had paid its own (a session, BEGIN, COMMIT and its WAL flush). No
caller returns before its item is committed: if a batch fails, each of its callers gets the error,
as it would have alone, and the next batch is tried afresh.

Items are independent writes (delivery reports, each moving one message on); validate each one
before handing it over, so that one bad item cannot fail the others' batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class _Ticket(Generic[T]):
    __slots__ = ("done", "error", "item")

    def __init__(self, item: T):
        self.item = item
        self.done = False
        self.error: BaseException | None = None


class GroupCommit(Generic[T]):
    def __init__(self, apply: Callable[[Sequence[T]], None], *, max_batch: int = 200):
        self.apply = apply  # one transaction: commits every item or raises
        self.max_batch = max_batch
        self._changed = threading.Condition()
        self._pending: list[_Ticket[T]] = []
        self._applying = False
        self.batches = 0  # applied (committed or failed), for tests and curious operators

    def __call__(self, item: T) -> None:
        ticket = _Ticket(item)
        with self._changed:
            self._pending.append(ticket)
        while True:
            with self._changed:
                while not ticket.done and self._applying:
                    self._changed.wait()
                if ticket.done:
                    break
                self._applying = True  # still pending: this caller applies the next batch (oldest first)
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            self._apply(batch)
        if ticket.error is not None:
            raise ticket.error

    def _apply(self, batch: list[_Ticket[T]]) -> None:
        error = None
        try:
            self.apply([ticket.item for ticket in batch])
        except BaseException as exc:  # noqa: BLE001 - every caller of the batch raises it, as if it had been alone
            error = exc
        finally:
            with self._changed:
                for ticket in batch:
                    ticket.done, ticket.error = True, error
                self._applying = False
                self.batches += 1
                self._changed.notify_all()
