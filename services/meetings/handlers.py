"""What meetings consumes (the inbound event adapter, thin like a route): the division registry
(the shared replica handler), the proposals intake accepted as topics, and the organisations
tracking registered (whom a resolution may name)."""

from __future__ import annotations

from datetime import UTC, datetime

from services.meetings import services
from services.meetings.domain import AcceptedProposal, Organisation
from services.meetings.models import divisions
from shared.division_registry import replica_handler
from shared.divisions import EVENT_TYPE as DIVISIONS_CHANGED
from shared.events import Envelope
from shared.uow import UnitOfWork


def on_proposal_accepted(uow: UnitOfWork, event: Envelope) -> None:
    payload = event.payload
    proposal = AcceptedProposal(
        proposal_id=payload["proposal_id"],
        community_code=payload["community_code"],
        title=payload["title"],
        origin=payload["origin"],
        category=payload["category"],
        accepted_at=datetime.fromisoformat(event.occurred_at).astimezone(UTC),
    )
    services.replicate_accepted_proposal(uow, proposal)


def on_organisations_changed(uow: UnitOfWork, event: Envelope) -> None:
    found = [
        Organisation(id=o["id"], kind=o["kind"], name=o["name"], scope=o["scope"], active=o["active"])
        for o in event.payload["organisations"]
    ]
    changed_at = datetime.fromisoformat(event.occurred_at).astimezone(UTC)
    services.replicate_organisations(uow, found, changed_at=changed_at)


HANDLERS = {
    DIVISIONS_CHANGED: replica_handler(divisions),
    "intake.proposal.accepted": on_proposal_accepted,
    "tracking.organisations.changed": on_organisations_changed,
}
