"""Intake: residents raise matters (百姓点事) and communities triage them (两委定事)."""

from pathlib import Path

from services.intake import api, events, models
from shared.service import ServiceSpec

SPEC = ServiceSpec(
    name="intake",
    metadata=models.metadata,
    tables=models.bus,
    migrations=Path(__file__).parent / "migrations",
    blueprints=api.blueprints,
    handlers=events.HANDLERS,
)
