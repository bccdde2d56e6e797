"""Reference data that nearly every request reads and that changes a few times a year: a division of
the registry, intake's categories. A submission read both, two of its six round trips to the
database; now a process keeps what it read for ``REFERENCE_SECONDS``.

Bounded staleness and size, stated: a change committed in this process is seen at once (the write
says so, ``changed``: its transaction reads through from then on and its commit empties the cache,
so nothing it has not committed is kept); one committed elsewhere
(tracking's registry reaching a replica through intake's worker, a category changed through another
gunicorn worker) is seen by every process within ``REFERENCE_SECONDS``. Nothing absent is kept: a
division or category just added is found by the next read. Look-ups that lock (``FOR UPDATE``)
always read the database. A process keeps at most ``REFERENCE_ENTRIES`` values, the oldest read
leaving first.

``Database`` gives every session its process's cache (``session.info``); a session made elsewhere
(a script, a test's own) reads through, uncached.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session

REFERENCE_SECONDS = 5.0
# At most this many values a process (the oldest read leave first): a province has ~600,000
# communities, and a process should keep the busy ones, not grow with the registry.
REFERENCE_ENTRIES = 20_000
INFO_KEY = "reference_cache"

T = TypeVar("T")


class ReferenceCache:
    def __init__(
        self,
        seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        entries: int = REFERENCE_ENTRIES,
    ):
        self.seconds = REFERENCE_SECONDS if seconds is None else seconds
        self.entries = entries
        self.clock = clock
        self._entries: dict[Hashable, tuple[float, object]] = {}
        self._generation = 0  # a clear while a value is being read keeps that value out
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        """The value kept under ``key`` while fresh, else ``load()`` (kept unless it is None)."""
        now = self.clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and now - entry[0] < self.seconds:
                return entry[1]  # type: ignore[return-value]
            generation = self._generation
        value = load()
        if value is not None:
            with self._lock:
                if generation == self._generation:
                    self._entries.pop(key, None)  # to the end: the order is the order read
                    self._entries[key] = (now, value)
                    if len(self._entries) > self.entries:
                        del self._entries[next(iter(self._entries))]
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._generation += 1


def cached(session: Session, key: Hashable, load: Callable[[], T]) -> T:
    """``load()`` through the session's process cache, or straight through when it has none."""
    cache = session.info.get(INFO_KEY)
    return load() if cache is None else cache.get(key, load)


def changed(session: Session) -> None:
    """This session's transaction changes reference data: it reads through from now on (what it
    sees is not committed yet), and its commit empties the process's cache."""
    cache = session.info.pop(INFO_KEY, None)
    if cache is not None:
        event.listen(session, "after_commit", lambda _session: cache.clear(), once=True)
