"""What notify consumes: every step a resident or department should hear about."""

from datetime import UTC, datetime

from services.notify import domain
from services.notify.models import divisions, notifications
from shared.divisions import EVENT_TYPE as DIVISIONS_CHANGED
from shared.divisions import replica_handler
from shared.events import Envelope
from shared.uow import UnitOfWork


def _store(uow: UnitOfWork, notification: domain.Notification) -> None:
    uow.insert_once(notifications, vars(notification).copy())  # shallow: asdict deep-copies every field


def on_proposal_submitted(uow: UnitOfWork, event: Envelope) -> None:
    payload = event.payload
    _store(
        uow,
        domain.app_notification(
            recipient_id=payload["submitter_id"],
            template="proposal_received",
            variables={"title": payload["title"]},
            division_code=payload["community_code"],
            event_id=event.id,
            now=datetime.now(UTC),
        ),
    )


HANDLERS = {
    "intake.proposal.submitted": on_proposal_submitted,
    DIVISIONS_CHANGED: replica_handler(divisions),
}
