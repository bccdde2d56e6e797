"""Intake's ``SPEC``: its tables, migrations, HTTP blueprints, event handlers and background parts,
from which the bootstrap (``xieshang``) assembles its runtime."""

from pathlib import Path

from services.intake import api, models, open311
from services.intake.handlers import HANDLERS
from shared.service import ServiceSpec

SPEC = ServiceSpec(
    name="intake",
    metadata=models.metadata,
    tables=models.bus,
    migrations=Path(__file__).parent / "migrations",
    blueprints=lambda: [api.blp, open311.blp],
    handlers=HANDLERS,
)
