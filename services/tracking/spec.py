"""Tracking's ``SPEC``: its tables, migrations, HTTP blueprints, event handlers and background parts,
from which the bootstrap (``xieshang``) assembles its runtime."""

from pathlib import Path

from services.tracking import api, models
from services.tracking.handlers import HANDLERS
from shared.service import ServiceSpec

SPEC = ServiceSpec(
    name="tracking",
    metadata=models.metadata,
    tables=models.bus,
    migrations=Path(__file__).parent / "migrations",
    blueprints=lambda: [api.blp],
    handlers=HANDLERS,
)
