"""Request and correlation ids carried through one unit of work.

The HTTP layer sets them from ``X-Request-Id``/``X-Correlation-Id``; the outbox stamps the
correlation id on every event; a consumer restores it from the envelope, so one resident's action
can be followed through every service's logs.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
event_id: ContextVar[str | None] = ContextVar("event_id", default=None)


def new_id() -> str:
    return uuid.uuid4().hex


def current_correlation_id() -> str:
    return correlation_id.get() or request_id.get() or new_id()


@contextlib.contextmanager
def bound(**values: str | None) -> Iterator[None]:
    """Bind ids for the duration of a block, restoring the previous ones afterwards."""
    tokens = []
    for name, value in values.items():
        var = {"request_id": request_id, "correlation_id": correlation_id, "event_id": event_id}[name]
        tokens.append((var, var.set(value)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
