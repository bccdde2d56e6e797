"""The event envelope of DESIGN.md and a registry of payload schemas per event type and version.

An event is validated twice: when a producer creates it (a bad payload never reaches the outbox)
and when a consumer receives it (a bad message is dead-lettered, not half-applied).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from shared import context

_TYPE = re.compile(r"^[a-z]+\.[a-z_]+\.[a-z_]+$")


class EventValidationError(ValueError):
    def __init__(self, event_type: str, errors: Any):
        self.event_type = event_type
        self.errors = errors
        super().__init__(f"invalid event {event_type}: {errors}")


class EnvelopeSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.UUID(required=True)
    type = fields.String(required=True, validate=validate.Regexp(_TYPE))
    version = fields.Integer(required=True, validate=validate.Range(min=1))
    occurred_at = fields.AwareDateTime(required=True, default_timezone=UTC)
    producer = fields.String(required=True, validate=validate.Length(min=1, max=64))
    correlation_id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    division_code = fields.String(required=True, allow_none=True, validate=validate.Regexp(r"^\d{2,12}$"))
    payload = fields.Dict(required=True)


_ENVELOPE = EnvelopeSchema()
_SCHEMAS: dict[tuple[str, int], Schema] = {}


def register(event_type: str, version: int = 1):
    """Class decorator registering a marshmallow schema as the payload of one event version."""

    def decorate(schema_cls: type[Schema]) -> type[Schema]:
        key = (event_type, version)
        if not _TYPE.match(event_type):
            raise ValueError(f"event type {event_type!r} is not <service>.<entity>.<verb>")
        if key in _SCHEMAS:
            raise ValueError(f"event {event_type} v{version} registered twice")
        _SCHEMAS[key] = schema_cls()
        return schema_cls

    return decorate


def registered_types() -> list[tuple[str, int]]:
    return sorted(_SCHEMAS)


def payload_schema(event_type: str, version: int) -> Schema:
    from shared.events import catalog  # noqa: F401  (registers every schema on first use)

    try:
        return _SCHEMAS[(event_type, version)]
    except KeyError:
        raise EventValidationError(event_type, f"no schema registered for version {version}") from None


@dataclass(frozen=True)
class Envelope:
    id: str
    type: str
    version: int
    occurred_at: str
    producer: str
    correlation_id: str
    division_code: str | None
    payload: dict[str, Any]

    @property
    def routing_key(self) -> str:
        return self.type

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _validated_payload(event_type: str, version: int, payload: dict[str, Any]) -> dict[str, Any]:
    schema = payload_schema(event_type, version)
    try:
        # dump(load(x)) normalises types (dates to ISO strings) so the stored JSON is canonical.
        return schema.dump(schema.load(payload))
    except ValidationError as exc:
        raise EventValidationError(event_type, exc.messages) from exc


def _checked_payload(event_type: str, version: int, payload: dict[str, Any]) -> dict[str, Any]:
    """Validate a received payload; it was normalised by its producer, so keep it as it came."""
    errors = payload_schema(event_type, version).validate(payload)
    if errors:
        raise EventValidationError(event_type, errors)
    return payload


def new_event(
    event_type: str,
    payload: dict[str, Any],
    *,
    producer: str,
    division_code: str | None,
    version: int = 1,
) -> Envelope:
    return Envelope(
        id=str(uuid.uuid4()),
        type=event_type,
        version=version,
        occurred_at=datetime.now(UTC).isoformat(),
        producer=producer,
        correlation_id=context.current_correlation_id(),
        division_code=division_code,
        payload=_validated_payload(event_type, version, payload),
    )


def parse_envelope(data: Any) -> Envelope:
    if not isinstance(data, dict):
        raise EventValidationError("?", "envelope must be a JSON object")
    try:
        loaded = _ENVELOPE.load(data)
    except ValidationError as exc:
        raise EventValidationError(str(data.get("type", "?")), exc.messages) from exc
    return Envelope(
        id=str(loaded["id"]),
        type=loaded["type"],
        version=loaded["version"],
        occurred_at=loaded["occurred_at"].isoformat(),
        producer=loaded["producer"],
        correlation_id=loaded["correlation_id"],
        division_code=loaded["division_code"],
        payload=_checked_payload(loaded["type"], loaded["version"], loaded["payload"]),
    )
