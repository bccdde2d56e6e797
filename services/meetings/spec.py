"""Meetings's ``SPEC``: its tables, migrations, HTTP blueprints, event handlers and background parts,
from which the bootstrap (``xieshang``) assembles its runtime."""

from pathlib import Path

from services.meetings import api, handlers, models
from shared.service import ServiceSpec

SPEC = ServiceSpec(
    name="meetings",
    metadata=models.metadata,
    tables=models.bus,
    migrations=Path(__file__).parent / "migrations",
    blueprints=lambda: [api.blp],
    handlers=handlers.HANDLERS,
)
