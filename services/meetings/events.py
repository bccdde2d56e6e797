"""What meetings publishes at each step of a consultation (helpers around ``uow.emit``, called by
the use cases in ``services``). Payloads carry ids, never names or phones. What meetings consumes
is in ``handlers``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime

from services.meetings import domain
from shared.uow import UnitOfWork


def _emit(uow: UnitOfWork, verb: str, consultation: domain.Consultation, proposal_ids=None, **payload) -> None:
    uow.emit(
        f"meetings.consultation.{verb}",
        {
            "consultation_id": consultation.id,
            "community_code": consultation.division_code,
            "proposal_ids": list(consultation.proposal_ids if proposal_ids is None else proposal_ids),
            **payload,
        },
        division_code=consultation.division_code,
    )


def _details(consultation: domain.Consultation) -> dict:
    return {"title": consultation.title, "form": consultation.form, "mode": consultation.mode}


def announced(uow: UnitOfWork, consultation: domain.Consultation, participants: Sequence[domain.Participant]) -> None:
    """The notice goes out to everyone invited; intake schedules the topics' proposals."""
    _emit(
        uow,
        "announced",
        consultation,
        **_details(consultation),
        starts_at=consultation.starts_at,
        venue=consultation.venue,
        online_link=consultation.online_link,
        invitee_ids=list(domain.invitees(participants)),
    )
    _emit(uow, "scheduled", consultation, starts_at=consultation.starts_at)


def invited(uow: UnitOfWork, consultation: domain.Consultation, participant: domain.Participant) -> None:
    """Someone invited once the notice went out gets their own invitation."""
    _emit(
        uow,
        "invited",
        consultation,
        **_details(consultation),
        starts_at=consultation.starts_at,
        venue=consultation.venue,
        online_link=consultation.online_link,
        invitee_ids=[participant.id],
    )


def postponed(
    uow: UnitOfWork,
    consultation: domain.Consultation,
    previous_starts_at: datetime,
    reason: str,
    participants: Sequence[domain.Participant],
) -> None:
    _emit(
        uow,
        "postponed",
        consultation,
        **_details(consultation),
        starts_at=consultation.starts_at,
        previous_starts_at=previous_starts_at,
        reason=reason,
        invitee_ids=list(domain.invitees(participants)),
    )


def relocated(
    uow: UnitOfWork, consultation: domain.Consultation, reason: str, participants: Sequence[domain.Participant]
) -> None:
    _emit(
        uow,
        "relocated",
        consultation,
        **_details(consultation),
        starts_at=consultation.starts_at,
        venue=consultation.venue,
        online_link=consultation.online_link,
        reason=reason,
        invitee_ids=list(domain.invitees(participants)),
    )


def cancelled(uow: UnitOfWork, consultation: domain.Consultation) -> None:
    """Intake returns the topics' proposals to accepted, for another consultation."""
    _emit(uow, "cancelled", consultation, reason=consultation.cancel_reason)


def started(uow: UnitOfWork, consultation: domain.Consultation, participants: Sequence[domain.Participant]) -> None:
    _emit(uow, "started", consultation, attendees=domain.attendees(consultation, participants))


def concluded(
    uow: UnitOfWork,
    consultation: domain.Consultation,
    participants: Sequence[domain.Participant],
    held_at: datetime,
) -> None:
    """After a decision or a declared lack of consensus: ``decided`` names the adopted topics'
    proposals (intake marks them decided), ``no_consensus`` the others (intake returns them for a
    further consultation), and ``held`` counts the consultation for coverage and regularity, with
    whom it reached (``domain.participation_mix``)."""
    adopted = set(consultation.adopted_topic_ids)
    if consultation.decision == "decided":
        _emit(uow, "decided", consultation, consultation.adopted_proposal_ids)
    if any(topic.id not in adopted for topic in consultation.topics):
        _emit(uow, "no_consensus", consultation, consultation.further_proposal_ids)
    _emit(
        uow,
        "held",
        consultation,
        held_at=held_at,
        form=consultation.form,
        mode=consultation.mode,
        decision=consultation.decision,
        attendees=domain.attendees(consultation, participants),
        origins=dict(Counter(topic.origin for topic in consultation.topics)),
        recorded_afterwards=consultation.recorded_afterwards,
        mix=asdict(domain.participation_mix(consultation, participants)),
    )


def recorded(uow: UnitOfWork, consultation: domain.Consultation) -> None:
    """A consultation held offline and recorded afterwards tells what a live one told along its
    way: its topics' proposals scheduled (intake moves them on as for a live one), then decided or
    not, the consultation held, and its outcome (tracking makes the resolutions tasks)."""
    _emit(uow, "scheduled", consultation, starts_at=consultation.starts_at)
    concluded(uow, consultation, (), consultation.starts_at)
    outcome_published(uow, consultation)


def outcome_published(uow: UnitOfWork, consultation: domain.Consultation) -> None:
    uow.emit(
        "meetings.outcome.published", domain.outcome_payload(consultation), division_code=consultation.division_code
    )
