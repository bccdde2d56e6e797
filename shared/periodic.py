"""The one background-loop base (``Periodic``): a part that does a pass of work in a thread of its
own. The outbox relay, the event consumer and notify's sender, reminders and dead-letter watch are
all ``Periodic``.

``tick()`` runs, then again after ``interval`` seconds or as soon as ``wake()`` is called. A
failing pass is reported by ``failed(exc)`` (logged by default) and the next one waits the
back-off, doubling from ``backoff[0]`` up to ``backoff[1]`` while passes keep failing (no back-off
given: the interval). ``stop()`` ends the thread after the pass under way; a long pass waits on
``stopping`` to notice it sooner. ``finish()`` runs once after ``stop_all`` has stopped every part
of a process: the relay's last pass, publishing what the others' last passes committed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

log = logging.getLogger(__name__)


class Periodic:
    name = "periodic"  # the thread's name, and the log's word for the pass

    def __init__(self, interval: float, *, backoff: tuple[float, float] | None = None):
        self.interval = interval
        self.backoff = backoff
        self.stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> None:
        raise NotImplementedError

    def failed(self, exc: Exception, retry_in: float) -> None:
        log.exception("%s pass failed", self.name, extra={"retry_in": retry_in})

    def wake(self) -> None:
        self._wake.set()

    def take_wake(self) -> bool:
        """Whether ``wake()`` was called since the pass began (then the wait after it is skipped);
        taking it clears it, for a long pass that takes up the new work itself."""
        woken = self._wake.is_set()
        self._wake.clear()
        return woken

    def start(self) -> None:
        if self._thread is None:
            self.stopping.clear()
            self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
            self._thread.start()

    def signal_stop(self) -> None:
        """Ask the loop to end after the pass under way, without waiting for it."""
        self.stopping.set()
        self._wake.set()

    def finish(self) -> None:
        """Work left once every part of the process has stopped (nothing by default)."""

    def stop(self, timeout: float = 5.0) -> None:
        self.signal_stop()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run(self) -> None:
        delay = 0.0
        while not self.stopping.is_set():
            try:
                self.tick()
                delay = 0.0
                wait = self.interval
            except Exception as exc:  # noqa: BLE001 - a pass may fail in any way; the loop goes on
                if self.backoff is None:
                    wait = self.interval
                else:
                    delay = min(max(delay * 2, self.backoff[0]), self.backoff[1])
                    wait = delay
                self.failed(exc, wait)
            if self.stopping.is_set():
                break
            self._wake.wait(wait)
            self._wake.clear()


def stop_all(parts: Iterable[Periodic], timeout: float = 5.0) -> None:
    """Stop several parts in reverse order of starting, all asked at once, so their last passes
    (a consumer's burst, a sender's batch) end together rather than one after another, within
    ``timeout`` in all; then let each ``finish``: a consumer's last burst has committed its events
    by then, so the relay's last pass publishes them."""
    parts = list(parts)[::-1]
    deadline = time.monotonic() + timeout
    for part in parts:
        part.signal_stop()
    for part in parts:
        part.stop(max(0.0, deadline - time.monotonic()))
    for part in parts:
        part.finish()
