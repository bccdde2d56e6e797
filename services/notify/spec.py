"""Notify's ``SPEC``: its tables, migrations, HTTP blueprints, event handlers and background parts,
from which the bootstrap (``xieshang``) assembles its runtime."""

from pathlib import Path

from services.notify import api, events, models
from services.notify.phones import vault_for
from services.notify.providers import provider_for
from services.notify.reminders import Reminders
from services.notify.sender import SmsSender
from services.notify.watch import DeadLetterWatch
from shared.service import ServiceSpec


def background(runtime) -> list:
    """Notify's worker parts beside its consumer: the SMS sender, the consultation reminders and the
    dead-letter watch."""
    settings = runtime.settings
    return [
        SmsSender(runtime.db, provider_for(settings), vault_for(settings), settings),
        Reminders(runtime.db, settings, runtime.unit_of_work),
        DeadLetterWatch(settings, runtime.topology, runtime.unit_of_work),
    ]


SPEC = ServiceSpec(
    name="notify",
    metadata=models.metadata,
    tables=models.bus,
    migrations=Path(__file__).parent / "migrations",
    blueprints=api.blueprints,
    handlers=events.HANDLERS,
    background=background,
)
