"""Notify: SMS and app notifications to residents and departments."""

from pathlib import Path

from services.notify import api, events, models, sender
from shared.service import ServiceSpec

SPEC = ServiceSpec(
    name="notify",
    metadata=models.metadata,
    tables=models.bus,
    migrations=Path(__file__).parent / "migrations",
    blueprints=api.blueprints,
    handlers=events.HANDLERS,
    background=sender.background,
)
