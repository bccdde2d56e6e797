"""What meetings consumes (the inbound event adapter, thin like a route): the division registry
and the organisations tracking registered (whom a resolution may name), both kept by the shared
replica handlers, the proposals intake accepted as topics, and notify's contact directory (whom an
invitation may name)."""

from __future__ import annotations

from datetime import UTC, datetime

from services.meetings import services
from services.meetings.domain import AcceptedProposal, DirectoryContact
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


def on_contacts_changed(uow: UnitOfWork, event: Envelope) -> None:
    told = [
        DirectoryContact(
            contact_id=record["contact_id"],
            app_user_id=record["app_user_id"],
            community_code=record["community_code"],
            removed=record["removed"],
        )
        for record in event.payload["contacts"]
    ]
    services.replicate_contacts(uow, told, changed_at=datetime.fromisoformat(event.occurred_at).astimezone(UTC))


HANDLERS = {
    DIVISIONS_CHANGED: division_registry.replica_handler(divisions),
    "intake.proposal.accepted": on_proposal_accepted,
    ORGANISATIONS_CHANGED: organisation_registry.replica_handler(organisations),
    "notify.contacts.changed": on_contacts_changed,
}
