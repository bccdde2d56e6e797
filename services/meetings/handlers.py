"""What meetings consumes (the inbound event adapter, thin like a route): the division registry
and the organisations tracking registered (whom a resolution may name), both kept by the shared
replica handlers, and the proposals intake accepted as topics."""

from __future__ import annotations

from datetime import UTC, datetime

from services.meetings import services
from services.meetings.domain import AcceptedProposal
from services.meetings.models import divisions, organisations
from shared import division_registry, organisation_registry
from shared.divisions import EVENT_TYPE as DIVISIONS_CHANGED
from shared.events import Envelope
from shared.organisations import EVENT_TYPE as ORGANISATIONS_CHANGED
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


HANDLERS = {
    DIVISIONS_CHANGED: division_registry.replica_handler(divisions),
    "intake.proposal.accepted": on_proposal_accepted,
    ORGANISATIONS_CHANGED: organisation_registry.replica_handler(organisations),
}
