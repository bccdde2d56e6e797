"""What intake consumes: its own announcements of matters raised (indexed for duplicate look-ups,
``services.index_submitted``), the division registry (its replica), tracking's organisations (their
replica, whom a referral names; both kept by the shared replica handlers), and the meetings and
tracking events that move a proposal along its life (``services.move_proposals``; a task sent
back, ``services.reopen_proposals``), and residents' SMS replies read by notify (co-sign, raise a
matter: ``on_reply``).

The time of a move is when intake applies the event (``shared.clock.utcnow()``, as a consumer has
no runtime clock at hand), not when the other service decided: a proposal's history records when
intake learned of each step. An organisation's record is as of the event (``occurred_at``), so a
late telling does not undo a newer one (``shared.organisation_registry``)."""

from __future__ import annotations

import logging
from functools import cache

from services.intake import services
from services.intake.models import divisions, organisations
from shared import division_registry, organisation_registry
from shared.clock import utcnow
from shared.divisions import EVENT_TYPE as DIVISIONS_CHANGED
from shared.events import Envelope
from shared.lifecycle import Actor
from shared.organisations import EVENT_TYPE as ORGANISATIONS_CHANGED
from shared.principal import Principal
from shared.problems import Problem
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)

TRACKING = Actor.system("tracking")
INDEX = "intake.index"  # uow.deferred: the submissions of a burst, indexed together


def _mover(to: str, producer: str):
    """A handler moving every proposal an event names to ``to``, recorded as done by ``producer``."""
    actor = Actor.system(producer)

    def handle(uow: UnitOfWork, event: Envelope) -> None:
        reason = f"{event.type} {event.payload.get('consultation_id') or event.payload.get('task_id')}"
        services.move_proposals(uow, event.payload["proposal_ids"], to, actor, reason, now=utcnow())

    handle.__name__ = f"move_to_{to}"
    return handle


def on_submitted(uow: UnitOfWork, event: Envelope) -> None:
    """Intake's own announcement of a matter raised: index it for duplicate look-ups, off the request
    path; the submissions of a burst together, when its unit of work flushes (``uow.deferred``)."""
    uow.deferred(INDEX, lambda ids: services.index_submitted(uow, ids)).append(event.payload["proposal_id"])


def on_task_reopened(uow: UnitOfWork, event: Envelope) -> None:
    """Residents not satisfied: the work goes on, the history saying why (the event's reason)."""
    services.reopen_proposals(uow, event.payload["proposal_ids"], TRACKING, event.payload["reason"], now=utcnow())


@cache
def _default_threshold() -> int:
    from shared.config import load_settings

    return load_settings().support_threshold


def on_reply(uow: UnitOfWork, event: Envelope) -> None:
    """A resident's SMS reply (notify read it): co-sign a matter, or raise one (``via`` sms), as the
    resident of the contact's community, by the same use cases as the app. A refusal (co-signed
    already in the app, the matter closed for co-signing) changes nothing and is logged by ids."""
    p = event.payload
    if p["kind"] not in ("support", "matter"):
        return
    resident = Principal(p["person_id"], "resident", p["community_code"])
    try:  # a use case refuses before it writes anything
        if p["kind"] == "support":
            services.support(uow, resident, p["target_id"], default_threshold=_default_threshold(), now=utcnow())
        else:
            services.submit_by_sms(uow, resident, community_code=p["community_code"], title=p["title"],
                                   description=p["description"] or "", now=utcnow())  # fmt: skip
    except Problem as refused:
        log.info("sms reply refused", extra={"reply_id": p["reply_id"], "kind": p["kind"], "reason": refused.detail})


HANDLERS = {
    DIVISIONS_CHANGED: division_registry.replica_handler(divisions),
    ORGANISATIONS_CHANGED: organisation_registry.replica_handler(organisations),
    "intake.proposal.submitted": on_submitted,
    "meetings.consultation.scheduled": _mover("scheduled", "meetings"),
    "meetings.consultation.decided": _mover("decided", "meetings"),
    "meetings.consultation.no_consensus": _mover("accepted", "meetings"),
    "meetings.consultation.cancelled": _mover("accepted", "meetings"),
    "tracking.task.started": _mover("in_progress", "tracking"),
    "tracking.task.completed": _mover("resolved", "tracking"),
    "tracking.task.reopened": on_task_reopened,
    "tracking.task.closed": _mover("closed", "tracking"),
    "notify.reply.received": on_reply,
}
