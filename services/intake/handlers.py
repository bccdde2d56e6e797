"""What intake consumes: the division registry (its replica), tracking's organisations (their
replica, whom a referral names), and the meetings and tracking events that move a proposal along
its life (``services.move_proposals``; a task sent back, ``services.reopen_proposals``).

The time of a move is when intake applies the event (``shared.clock.utcnow()``, as a consumer has
no runtime clock at hand), not when the other service decided: a proposal's history records when
intake learned of each step. An organisation's record is as of the event (``occurred_at``), so a
late telling does not undo a newer one."""

from __future__ import annotations

from datetime import UTC, datetime

from services.intake import services
from services.intake.domain import Organisation
from services.intake.models import divisions
from shared.clock import utcnow
from shared.division_registry import replica_handler
from shared.divisions import EVENT_TYPE as DIVISIONS_CHANGED
from shared.events import Envelope
from shared.lifecycle import Actor
from shared.uow import UnitOfWork

TRACKING = Actor.system("tracking")


def _mover(to: str, producer: str):
    """A handler moving every proposal an event names to ``to``, recorded as done by ``producer``."""
    actor = Actor.system(producer)

    def handle(uow: UnitOfWork, event: Envelope) -> None:
        reason = f"{event.type} {event.payload.get('consultation_id') or event.payload.get('task_id')}"
        services.move_proposals(uow, event.payload["proposal_ids"], to, actor, reason, now=utcnow())

    handle.__name__ = f"move_to_{to}"
    return handle


def on_task_reopened(uow: UnitOfWork, event: Envelope) -> None:
    """Residents not satisfied: the work goes on, the history saying why (the event's reason)."""
    services.reopen_proposals(uow, event.payload["proposal_ids"], TRACKING, event.payload["reason"], now=utcnow())


def on_organisations_changed(uow: UnitOfWork, event: Envelope) -> None:
    found = [
        Organisation(id=o["id"], kind=o["kind"], name=o["name"], scope=o["scope"], active=o["active"])
        for o in event.payload["organisations"]
    ]
    changed_at = datetime.fromisoformat(event.occurred_at).astimezone(UTC)
    services.replicate_organisations(uow, found, changed_at=changed_at)


HANDLERS = {
    DIVISIONS_CHANGED: replica_handler(divisions),
    "tracking.organisations.changed": on_organisations_changed,
    "meetings.consultation.scheduled": _mover("scheduled", "meetings"),
    "meetings.consultation.decided": _mover("decided", "meetings"),
    "meetings.consultation.no_consensus": _mover("accepted", "meetings"),
    "meetings.consultation.cancelled": _mover("accepted", "meetings"),
    "tracking.task.started": _mover("in_progress", "tracking"),
    "tracking.task.completed": _mover("resolved", "tracking"),
    "tracking.task.reopened": on_task_reopened,
    "tracking.task.closed": _mover("closed", "tracking"),
}
