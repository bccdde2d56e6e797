"""Tracking's ``SPEC``: its tables, migrations, HTTP blueprints, event handlers and background parts,
from which the bootstrap (``xieshang``) assembles its runtime."""

from pathlib import Path

from services.tracking import api, board_api, models
from services.tracking.gauges import CoverageCollector
from services.tracking.handlers import HANDLERS
from services.tracking.periodic import TaskClock
from shared.service import ServiceSpec


def background(runtime) -> list:
    """Tracking's worker part beside its consumer: the clock of reminders, escalation and evaluation."""
    return [TaskClock(runtime.unit_of_work, runtime.clock, runtime.settings)]


SPEC = ServiceSpec(
    name="tracking",
    metadata=models.metadata,
    tables=models.bus,
    migrations=Path(__file__).parent / "migrations",
    blueprints=lambda: [*api.BLUEPRINTS, *board_api.BLUEPRINTS],
    handlers=HANDLERS,
    background=background,
    collectors=lambda runtime: [CoverageCollector(runtime)],
)
