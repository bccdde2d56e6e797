"""What notify consumes (``HANDLERS``), the inbound event adapter: the division replica, and for
every event routed to residents (``routing.ROUTES``), kept in an audience replica
(``routing.REPLICAS``) or moving a matter's status (``routing.MATTER_STATUS``) a handler that
unpacks the envelope and calls ``services.take_event``.

The handlers take the time from ``clock`` (the machine's; a test may set a ``FixedClock``): it
decides whether an SMS waits for the end of the recipient's quiet hours.
"""

from __future__ import annotations

from collections.abc import Callable

from services.notify import recipients, routing, services
from services.notify.models import divisions
from shared.clock import Clock, SystemClock
from shared.division_registry import replica_handler
from shared.divisions import EVENT_TYPE as DIVISIONS_CHANGED
from shared.events import Envelope
from shared.uow import UnitOfWork

clock: Clock = SystemClock()


def _handler(event_type: str) -> Callable[[UnitOfWork, Envelope], None]:
    def handle(uow: UnitOfWork, event: Envelope) -> None:
        services.take_event(uow, event.type, event.id, event.payload, event.division_code, now=clock.now())

    handle.__name__ = f"on_{event_type.replace('.', '_')}"
    return handle


HANDLERS = {
    **{
        event_type: _handler(event_type)
        for event_type in {**routing.ROUTES, **recipients.KEEPERS, **routing.MATTER_STATUS}
    },
    DIVISIONS_CHANGED: replica_handler(divisions),
}
