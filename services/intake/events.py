"""What intake publishes, and the meetings and tracking events that move a proposal along."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from services.intake import domain, repository
from services.intake.models import divisions
from shared.division_registry import replica_handler
from shared.divisions import EVENT_TYPE as DIVISIONS_CHANGED
from shared.events import Envelope
from shared.problems import Conflict
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)


def proposal_submitted(uow: UnitOfWork, proposal: domain.Proposal) -> None:
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


def _mover(to: str, producer: str):
    """A handler moving every proposal an event names to ``to``, recorded as done by ``producer``."""

    def handle(uow: UnitOfWork, event: Envelope) -> None:
        actor = domain.Actor(f"system:{producer}", "system")
        reason = f"{event.type} {event.payload.get('consultation_id') or event.payload.get('task_id')}"
        for proposal_id in event.payload["proposal_ids"]:
            proposal = repository.get(uow.session, proposal_id, for_update=True)
            if proposal is None:
                continue  # a top-down topic that never was a proposal
            if proposal.status == to:
                continue
            try:
                moved, transition = domain.move(proposal, to, actor, datetime.now(UTC), reason=reason)
            except Conflict:
                # Events of one matter can arrive out of order; an outdated one changes nothing.
                log.warning("proposal status not moved", extra={"status": proposal.status, "to": to})
                continue
            repository.save(uow.session, moved)
            repository.record(uow.session, transition)

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
