"""What meetings consumes (the inbound event adapter, thin like a route): the division registry
and the organisations tracking registered (whom a resolution may name), both kept by the shared
replica handlers, the proposals intake accepted as topics, notify's contact directory (whom an
invitation may name) and invitations answered by SMS (``notify.reply.received``)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from services.meetings import services
from services.meetings.domain import AcceptedProposal, DirectoryContact
from services.meetings.models import divisions, organisations
from shared import division_registry, organisation_registry
from shared.clock import utcnow
from shared.divisions import EVENT_TYPE as DIVISIONS_CHANGED
from shared.events import Envelope
from shared.organisations import EVENT_TYPE as ORGANISATIONS_CHANGED
from shared.principal import Principal
from shared.problems import Problem
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)


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


def on_reply(uow: UnitOfWork, event: Envelope) -> None:
    """An invitation answered by SMS (notify read Y/N, 参加/不参加…): the same RSVP as the app's, as
    the invited person; a refusal (the consultation started or was called off) changes nothing and
    is logged by ids."""
    p = event.payload
    if p["kind"] != "rsvp":
        return
    invitee = Principal(p["person_id"], "resident", p["community_code"])
    try:  # the use case refuses before it writes anything
        services.rsvp(uow, invitee, p["target_id"], answer=p["answer"], now=utcnow())
    except Problem as refused:
        log.info("sms rsvp refused", extra={"reply_id": p["reply_id"], "reason": refused.detail})


HANDLERS = {
    DIVISIONS_CHANGED: division_registry.replica_handler(divisions),
    "intake.proposal.accepted": on_proposal_accepted,
    ORGANISATIONS_CHANGED: organisation_registry.replica_handler(organisations),
    "notify.contacts.changed": on_contacts_changed,
    "notify.reply.received": on_reply,
}
