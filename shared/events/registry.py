"""The registry of payload schemas, one per (event type, version).

It is filled by ``shared.events.catalog`` (its ``@register`` decorators) and read by the envelope
when an event is created or received; neither of those modules imports the other.
"""

from __future__ import annotations

import re
from typing import Any

TYPE_PATTERN = re.compile(r"^[a-z]+\.[a-z_]+\.[a-z_]+$")
_SCHEMAS: dict[tuple[str, int], Any] = {}


class EventValidationError(ValueError):
    def __init__(self, event_type: str, errors: Any):
        self.event_type = event_type
        self.errors = errors
        super().__init__(f"invalid event {event_type}: {errors}")


def register(event_type: str, version: int = 1):
    """Class decorator registering a marshmallow schema as the payload of one event version."""

    def decorate(schema_cls):
        key = (event_type, version)
        if not TYPE_PATTERN.match(event_type):
            raise ValueError(f"event type {event_type!r} is not <service>.<entity>.<verb>")
        if key in _SCHEMAS:
            raise ValueError(f"event {event_type} v{version} registered twice")
        _SCHEMAS[key] = schema_cls()
        return schema_cls

    return decorate


def registered_types() -> list[tuple[str, int]]:
    return sorted(_SCHEMAS)


def payload_schema(event_type: str, version: int):
    try:
        return _SCHEMAS[(event_type, version)]
    except KeyError:
        raise EventValidationError(event_type, f"no schema registered for version {version}") from None
