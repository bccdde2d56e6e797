"""What intake consumes: the division registry (its replica), and the meetings and tracking events
that move a proposal along its life (``services.move_proposals``).

The time of a move is when intake applies the event (``shared.clock.utcnow()``, as a consumer has
no runtime clock at hand), not when the other service decided: a proposal's history records when
intake learned of each step."""

from __future__ import annotations

from services.intake import services
from services.intake.models import divisions
from shared.clock import utcnow
from shared.division_registry import replica_handler
from shared.divisions import EVENT_TYPE as DIVISIONS_CHANGED
from shared.events import Envelope
from shared.lifecycle import Actor
from shared.uow import UnitOfWork


def _mover(to: str, producer: str):
    """A handler moving every proposal an event names to ``to``, recorded as done by ``producer``."""
    actor = Actor.system(producer)

    def handle(uow: UnitOfWork, event: Envelope) -> None:
        reason = f"{event.type} {event.payload.get('consultation_id') or event.payload.get('task_id')}"
        services.move_proposals(uow, event.payload["proposal_ids"], to, actor, reason, now=utcnow())

    handle.__name__ = f"move_to_{to}"
    return handle


HANDLERS = {
    DIVISIONS_CHANGED: replica_handler(divisions),
    "meetings.consultation.scheduled": _mover("scheduled", "meetings"),
    "meetings.consultation.decided": _mover("decided", "meetings"),
    "meetings.consultation.no_consensus": _mover("accepted", "meetings"),
    "meetings.consultation.cancelled": _mover("accepted", "meetings"),
    "tracking.task.started": _mover("in_progress", "tracking"),
    "tracking.task.completed": _mover("resolved", "tracking"),
    "tracking.task.closed": _mover("closed", "tracking"),
}
