"""The current time, injectable: use cases take ``now`` as an argument, and the runtimes and
background parts read it from a ``Clock`` so tests (and tracking's escalation) can set it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

# The zone of every time shown to people (pages, SMS, messages, calendars); times are stored in UTC.
BEIJING = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The machine's clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until moved: ``set`` or ``advance``."""

    def __init__(self, at: datetime):
        if at.tzinfo is None:
            raise ValueError("a clock's time must be timezone-aware")
        self._at = at
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._at

    def set(self, at: datetime) -> None:
        with self._lock:
            self._at = at

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._at += delta
            return self._at


def utcnow() -> datetime:
    """Now, in UTC: for infrastructure that stamps rows (outbox, inbox) rather than deciding."""
    return datetime.now(UTC)
