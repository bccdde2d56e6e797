"""What intake publishes and consumes."""

from services.intake.domain import Proposal
from services.intake.models import divisions
from shared.divisions import EVENT_TYPE as DIVISIONS_CHANGED
from shared.divisions import replica_handler
from shared.uow import UnitOfWork


def proposal_submitted(uow: UnitOfWork, proposal: Proposal) -> None:
    uow.emit(
        "intake.proposal.submitted",
        {
            "proposal_id": proposal.id,
            "community_code": proposal.community_code,
            "submitter_id": proposal.submitter_id,
            "title": proposal.title,
            "category": proposal.category,
            "channel": proposal.channel,
            "origin": proposal.origin,
            "submitted_at": proposal.submitted_at,
        },
        division_code=proposal.community_code,
    )


HANDLERS = {DIVISIONS_CHANGED: replica_handler(divisions)}
