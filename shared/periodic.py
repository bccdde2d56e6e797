"""A part that does one pass of work every so often in a thread of its own (``Periodic``).

``tick()`` runs every ``interval`` seconds, or as soon as ``wake()`` is called; a failing pass is
logged and the next one comes at the next interval. ``stop()`` ends the thread after the pass under
way; a long pass may wait on ``stopping`` to notice it sooner.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


class Periodic:
    name = "periodic"  # the thread's name, and the log's word for the pass

    def __init__(self, interval: float):
        self.interval = interval
        self.stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> None:
        raise NotImplementedError

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self.stopping.clear()
            self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("%s pass failed", self.name)
            self._wake.wait(self.interval)
            self._wake.clear()
