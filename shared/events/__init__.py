"""Event envelope, payload schemas per (type, version), and the catalogue of every event."""

from shared.events.envelope import (
    Envelope,
    EventValidationError,
    new_event,
    parse_envelope,
    register,
    registered_types,
)

__all__ = [
    "Envelope",
    "EventValidationError",
    "new_event",
    "parse_envelope",
    "register",
    "registered_types",
]
