"""What tracking consumes (the inbound event adapter): resolutions and referrals become tasks,
consultations held count for coverage, and intake's and meetings' events say who is concerned by
a matter (who may rate the tasks that carry it out); residents rate by SMS through notify's
``notify.reply.received``."""

from __future__ import annotations

import logging
from datetime import datetime

from services.tracking import board, domain, services
from services.tracking.workdays import is_workday
from shared.clock import utcnow
from shared.events import Envelope
from shared.principal import Principal
from shared.problems import Problem
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)


def _at(event: Envelope) -> datetime:
    return datetime.fromisoformat(event.occurred_at)


def outcome_published(uow: UnitOfWork, event: Envelope) -> None:
    services.tasks_from_outcome(uow, event.payload, _at(event))


def proposal_referred(uow: UnitOfWork, event: Envelope) -> None:
    at = _at(event)
    deadline = domain.working_days_after(domain.beijing_date(at), domain.REFERRAL_WORKING_DAYS, is_workday)
    services.task_from_referral(uow, event.payload, at, deadline)


def consultation_held(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    held_at = datetime.fromisoformat(str(p["held_at"]))
    services.held(
        uow,
        {
            "consultation_id": p["consultation_id"],
            "community_code": p["community_code"],
            "held_at": held_at,
            "month": domain.month_index(domain.beijing_date(held_at)),
            "form": p["form"],
            "attendees": p["attendees"],
            "topics": sum(p["origins"].values()),
            "resident_topics": p["origins"].get("resident", 0),
            "recorded_afterwards": p.get("recorded_afterwards", False),
            **(p.get("mix") or {}),
        },
    )


def proposal_submitted(uow: UnitOfWork, event: Envelope) -> None:
    """Its submitter may rate the tasks that carry it out; its title and category go to the case library."""
    services.concerned(uow, "proposal", event.payload["proposal_id"], [event.payload["submitter_id"]])
    p = event.payload
    board.proposal_submitted(
        uow,
        proposal_id=p["proposal_id"],
        community_code=p["community_code"],
        title=p["title"],
        category=p["category"],
        submitted_at=datetime.fromisoformat(str(p["submitted_at"])),
    )


def proposal_supported(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    if p["withdrawn"]:
        services.no_longer_concerned(uow, "proposal", p["proposal_id"], p["supporter_id"])
    else:
        services.concerned(uow, "proposal", p["proposal_id"], [p["supporter_id"]])


def invitees(uow: UnitOfWork, event: Envelope) -> None:
    services.concerned(uow, "consultation", event.payload["consultation_id"], event.payload["invitee_ids"])


def reply_received(uow: UnitOfWork, event: Envelope) -> None:
    """A rating by SMS (notify read 1/2/3 or 满意…): the same use case as the app's, channel ``sms``,
    once per person; a refusal (rated already, the window closed) changes nothing and is logged by ids."""
    p = event.payload
    if p["kind"] != "rating":
        return
    rater = Principal(p["person_id"], "resident", p["community_code"])
    try:  # the use case refuses before it writes anything
        services.rate(uow, rater, p["target_id"], utcnow(), choice=p["answer"], comment=None, channel="sms")
    except Problem as refused:
        log.info("sms rating refused", extra={"reply_id": p["reply_id"], "reason": refused.detail})


HANDLERS = {
    "meetings.outcome.published": outcome_published,
    "meetings.consultation.held": consultation_held,
    "meetings.consultation.announced": invitees,
    "meetings.consultation.invited": invitees,
    "intake.proposal.referred": proposal_referred,
    "intake.proposal.submitted": proposal_submitted,
    "intake.proposal.supported": proposal_supported,
    "notify.reply.received": reply_received,
}
