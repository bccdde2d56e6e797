"""Meetings: consultations that deliberate (居民议事) and decide by rule (与会决事)."""

from pathlib import Path

from services.meetings import api, events, models
from shared.service import ServiceSpec

SPEC = ServiceSpec(
    name="meetings",
    metadata=models.metadata,
    tables=models.bus,
    migrations=Path(__file__).parent / "migrations",
    blueprints=api.blueprints,
    handlers=events.HANDLERS,
)
