"""What intake publishes: helpers around ``uow.emit``, called by the use cases in ``services``."""

from __future__ import annotations

from services.intake import domain
from shared.uow import UnitOfWork


def proposal_submitted(uow: UnitOfWork, proposal: domain.Proposal, similar=()) -> None:
    """A matter raised; ``similar``: its likely duplicates ({proposal_id, title}), for a matter raised
    by SMS (its receipt offers to co-sign one of them instead)."""
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
            **({"similar": list(similar)} if similar else {}),
        },
        division_code=proposal.community_code,
    )


def proposal_supported(uow: UnitOfWork, proposal: domain.Proposal, supporter_id: str, withdrawn: bool) -> None:
    _emit(uow, "supported", proposal, supporter_id=supporter_id, withdrawn=withdrawn, supporters=proposal.supporters)


def proposal_eligible(uow: UnitOfWork, proposal: domain.Proposal, threshold: int) -> None:
    _emit(uow, "eligible", proposal, supporters=proposal.supporters, threshold=threshold)


def proposal_triaged(uow: UnitOfWork, proposal: domain.Proposal, actor_id: str, **details) -> None:
    """accepted, rejected, merged or referred: the verb is the proposal's new status."""
    _emit(uow, proposal.status, proposal, submitter_id=proposal.submitter_id, title=proposal.title, actor_id=actor_id,
          **details)  # fmt: skip


def _emit(uow: UnitOfWork, verb: str, proposal: domain.Proposal, **payload) -> None:
    uow.emit(
        f"intake.proposal.{verb}",
        {"proposal_id": proposal.id, "community_code": proposal.community_code, **payload},
        division_code=proposal.community_code,
    )
