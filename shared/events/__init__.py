"""Event envelope, payload schemas per (type, version), and the catalogue of every event."""

from shared.events import catalog  # noqa: F401  (registers every payload schema)
from shared.events.envelope import Envelope, new_event, parse_envelope
from shared.events.registry import EventValidationError, register, registered_types

__all__ = [
    "Envelope",
    "EventValidationError",
    "new_event",
    "parse_envelope",
    "register",
    "registered_types",
]
