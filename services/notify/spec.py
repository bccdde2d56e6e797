"""Notify's ``SPEC``: its tables, migrations, HTTP blueprints, event handlers and background parts,
from which the bootstrap (``xieshang``) assembles its runtime."""

from pathlib import Path

from services.notify import api, contacts_api, handlers, models, sms_api, verification_api
from services.notify.periodic.dead_letters import DeadLetterWatch
from services.notify.periodic.reminders import Reminders
from services.notify.periodic.sender import SmsSender
from services.notify.phones import vault_for
from services.notify.providers import provider_for
from shared.service import ServiceSpec


def background(runtime) -> list:
    """Notify's worker parts beside its consumer: the SMS sender, the consultation reminders and the
    dead-letter watch, on the runtime's clock."""
    settings = runtime.settings
    return [
        SmsSender(
            runtime.db, runtime.unit_of_work, provider_for(settings), vault_for(settings), settings, runtime.clock
        ),
        Reminders(runtime.unit_of_work, settings, runtime.clock),
        DeadLetterWatch(settings, runtime.topology, runtime.unit_of_work, runtime.clock),
    ]


SPEC = ServiceSpec(
    name="notify",
    metadata=models.metadata,
    tables=models.bus,
    migrations=Path(__file__).parent / "migrations",
    blueprints=lambda: [api.blp, contacts_api.blp, sms_api.blp, verification_api.blp],
    handlers=handlers.HANDLERS,
    background=background,
)
