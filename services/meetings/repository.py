"""Consultations and their parts in and out of meetings' tables (the adapter between the domain's
dataclasses and the rows). The consultation's small owned parts (topics, materials, the decision
rule, results, resolutions) live in JSON columns beside it; fractions are stored as "2/3".

Lists (``search``) turn the domain's visibility rule (``domain.visible_to``) into a query; the
replica of accepted proposals is an upsert, that of registered organisations is
``shared.organisation_registry``'s, that of notify's contact directory an upsert by contact id
(``upsert_contacts``) read by account (``homes_of``, for ``domain.invite``); the history of the
procedure is ``shared.history`` on ``consultation_transition``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from datetime import date, datetime
from fractions import Fraction

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.orm import Session

from services.meetings.domain import (
    SCALARS,
    AcceptedProposal,
    Consultation,
    DecisionRule,
    DirectoryContact,
    Moderation,
    Opinion,
    Participant,
    Profile,
    Resolution,
    Round,
    Topic,
    TopicResult,
    Transition,
    Vote,
    contact_of_person,
)
from services.meetings.models import (
    accepted_proposals,
    consultations,
    contacts,
    moderations,
    opinions,
    organisations,
    participants,
    rounds,
    transitions,
    votes,
)
from shared import history as lifecycle_history
from shared import organisation_registry
from shared.organisations import Organisation
from shared.pagination import Keyset, page
from shared.principal import Principal
from shared.sql import dialect_insert, locked, within

# -- the consultation --------------------------------------------------------------------------------


def _rule_to_json(rule: DecisionRule) -> dict:
    return {
        "method": rule.method,
        "threshold": str(rule.threshold) if rule.threshold is not None else None,
        "quorum": str(rule.quorum),
    }


def _rule(data: dict) -> DecisionRule:
    threshold = data.get("threshold")
    return DecisionRule(data["method"], Fraction(threshold) if threshold else None, Fraction(data["quorum"]))


def _row(consultation: Consultation) -> dict:
    values = {name: getattr(consultation, name) for name in SCALARS}
    values.update(
        materials=list(consultation.materials),
        topics=[asdict(t) for t in consultation.topics],
        rule=_rule_to_json(consultation.rule),
        results=[{**asdict(r), "dissent": [[who, reason] for who, reason in r.dissent]} for r in consultation.results],
        resolutions=[{**asdict(r), "deadline": r.deadline.isoformat()} for r in consultation.resolutions],
        attendance=dict(consultation.attendance) if consultation.recorded_afterwards else None,
    )
    return values


def _consultation(row) -> Consultation:
    return Consultation(
        **{name: row[name] for name in SCALARS},
        rule=_rule(row["rule"]),
        materials=tuple(row["materials"]),
        topics=tuple(Topic(**t) for t in row["topics"]),
        results=tuple(
            TopicResult(**{**r, "dissent": tuple((who, reason) for who, reason in r["dissent"])})
            for r in row["results"]
        ),
        resolutions=tuple(
            Resolution(**{**r, "deadline": date.fromisoformat(r["deadline"])}) for r in row["resolutions"]
        ),
        attendance=tuple(sorted((row["attendance"] or {}).items())),
    )


def get(session: Session, consultation_id: str, *, for_update: bool = False) -> Consultation | None:
    query = select(consultations).where(consultations.c.id == consultation_id)
    if for_update:  # steps on one consultation queue up, never interleave
        query = locked(session, query)
    row = session.execute(query).mappings().first()
    return _consultation(row) if row else None


def add(session: Session, consultation: Consultation) -> None:
    session.execute(insert(consultations).values(**_row(consultation)))


def save(session: Session, consultation: Consultation) -> None:
    values = _row(consultation)
    session.execute(update(consultations).where(consultations.c.id == values.pop("id")).values(**values))


def record(session: Session, transition: Transition) -> None:
    lifecycle_history.record(session, transitions, transition)


def history(session: Session, consultation_id: str) -> list[dict]:
    """Every step of one consultation, oldest first."""
    return lifecycle_history.history(session, transitions, consultation_id)


def recorded_as(session: Session, division_code: str, title: str, held_at: datetime) -> Consultation | None:
    """A consultation already recorded afterwards in the division with this title and time."""
    c = consultations.c
    query = select(consultations).where(
        c.recorded_afterwards.is_(True), c.division_code == division_code, c.starts_at == held_at, c.title == title
    )
    row = session.execute(query.limit(1)).mappings().first()
    return _consultation(row) if row else None


def started_at(session: Session, consultation_id: str) -> datetime | None:
    """When the session actually opened (the audit's move to ``in_session``)."""
    t = transitions.c
    return session.scalar(
        select(func.min(t.at)).where(t.consultation_id == consultation_id, t.to_status == "in_session")
    )


# -- participants ------------------------------------------------------------------------------------

_PARTICIPANT = (
    "category", "invited_at", "rsvp", "rsvp_at", "attended", "attended_at", "attended_via", "checked_in_by",
)  # fmt: skip


def _participant(row) -> Participant:
    declared = any(row[name] is not None for name in ("age_band", "occupation", "stakeholder_type"))
    profile = Profile(row["age_band"], row["occupation"], row["stakeholder_type"]) if declared else None
    return Participant(
        consultation_id=row["consultation_id"],
        id=row["participant_id"],
        profile=profile,
        **{name: row[name] for name in _PARTICIPANT},
    )


def _participant_row(participant: Participant) -> dict:
    profile = participant.profile or Profile()
    return {
        "consultation_id": participant.consultation_id,
        "participant_id": participant.id,
        **{name: getattr(participant, name) for name in _PARTICIPANT},
        "age_band": profile.age_band,
        "occupation": profile.occupation,
        "stakeholder_type": profile.stakeholder_type,
    }


def list_participants(session: Session, consultation_id: str) -> list[Participant]:
    p = participants.c
    query = select(participants).where(p.consultation_id == consultation_id).order_by(p.invited_at, p.participant_id)
    return [_participant(row) for row in session.execute(query).mappings()]


def get_participant(session: Session, consultation_id: str, person_id: str) -> Participant | None:
    p = participants.c
    query = select(participants).where(p.consultation_id == consultation_id, p.participant_id == person_id)
    row = session.execute(query).mappings().first()
    return _participant(row) if row else None


def add_participant(session: Session, participant: Participant) -> None:
    session.execute(insert(participants).values(**_participant_row(participant)))


def save_participant(session: Session, participant: Participant) -> None:
    values = _participant_row(participant)
    p = participants.c
    consultation_id, person_id = values.pop("consultation_id"), values.pop("participant_id")
    session.execute(
        update(participants).where(p.consultation_id == consultation_id, p.participant_id == person_id).values(**values)
    )


# -- deliberation ------------------------------------------------------------------------------------


def list_rounds(session: Session, consultation_id: str) -> list[Round]:
    r = rounds.c
    query = select(rounds).where(r.consultation_id == consultation_id).order_by(r.number)
    return [Round(**row) for row in session.execute(query).mappings()]


def add_round(session: Session, round_: Round) -> None:
    session.execute(insert(rounds).values(**asdict(round_)))


def save_round(session: Session, round_: Round) -> None:
    values = asdict(round_)
    r = rounds.c
    consultation_id, number = values.pop("consultation_id"), values.pop("number")
    session.execute(update(rounds).where(r.consultation_id == consultation_id, r.number == number).values(**values))


def list_opinions(session: Session, consultation_id: str, *, include_hidden: bool = True) -> list[Opinion]:
    o = opinions.c
    query = select(opinions).where(o.consultation_id == consultation_id)
    if not include_hidden:
        query = query.where(o.hidden.is_(False))
    return [Opinion(**row) for row in session.execute(query.order_by(o.posted_at, o.id)).mappings()]


def get_opinion(session: Session, opinion_id: str) -> Opinion | None:
    row = session.execute(select(opinions).where(opinions.c.id == opinion_id)).mappings().first()
    return Opinion(**row) if row else None


def add_opinion(session: Session, opinion: Opinion) -> None:
    session.execute(insert(opinions).values(**asdict(opinion)))


def save_opinion(session: Session, opinion: Opinion) -> None:
    values = asdict(opinion)
    session.execute(update(opinions).where(opinions.c.id == values.pop("id")).values(**values))


def record_moderation(session: Session, moderation: Moderation) -> None:
    session.execute(insert(moderations).values(**asdict(moderation)))


def moderation_reasons(session: Session, consultation_id: str) -> dict[str, str]:
    m = moderations.c
    rows = session.execute(select(m.opinion_id, m.reason).where(m.consultation_id == consultation_id)).all()
    return dict(rows)


# -- votes -------------------------------------------------------------------------------------------


def list_votes(session: Session, consultation_id: str) -> list[Vote]:
    v = votes.c
    query = select(votes).where(v.consultation_id == consultation_id).order_by(v.at, v.participant_id)
    return [Vote(**row) for row in session.execute(query).mappings()]


def add_vote(session: Session, vote: Vote) -> None:
    session.execute(insert(votes).values(**asdict(vote)))


# -- the replica of accepted proposals ---------------------------------------------------------------


def upsert_accepted(session: Session, proposal: AcceptedProposal) -> None:
    stmt = dialect_insert(session)(accepted_proposals).values(**asdict(proposal))
    stmt = stmt.on_conflict_do_update(
        index_elements=["proposal_id"],
        set_={c: stmt.excluded[c] for c in ("community_code", "title", "origin", "category", "accepted_at")},
    )
    session.execute(stmt)


def accepted_proposal(session: Session, proposal_id: str) -> AcceptedProposal | None:
    query = select(accepted_proposals).where(accepted_proposals.c.proposal_id == proposal_id)
    row = session.execute(query).mappings().first()
    return AcceptedProposal(**row) if row else None


def accepted_proposals_by_id(session: Session, ids: Iterable[str | None]) -> dict[str, AcceptedProposal]:
    wanted = sorted({i for i in ids if isinstance(i, str)})
    if not wanted:
        return {}
    query = select(accepted_proposals).where(accepted_proposals.c.proposal_id.in_(wanted))
    return {row["proposal_id"]: AcceptedProposal(**row) for row in session.execute(query).mappings()}


# -- the replica of notify's contact directory -----------------------------------------------------------


def upsert_contacts(session: Session, found: Iterable[DirectoryContact], changed_at: datetime) -> None:
    """Store what notify told of these contacts at ``changed_at``, by contact id. A row told of later,
    or removed (removal is final), is kept: a telling that arrives late changes nothing."""
    latest = {c.contact_id: c for c in found}  # one row per id in one statement (the last told wins)
    if not latest:
        return
    rows = [{**asdict(c), "changed_at": changed_at} for c in latest.values()]
    stmt = dialect_insert(session)(contacts).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=["contact_id"],
        set_={c: stmt.excluded[c] for c in ("app_user_id", "community_code", "removed", "changed_at")},
        where=and_(contacts.c.removed.is_(False), contacts.c.changed_at <= stmt.excluded.changed_at),
    )
    session.execute(stmt)


def homes_of(session: Session, person_id: str) -> list[str]:
    """The communities of the live contacts with ``person_id`` as their account, or of the contact a
    ``contact:<id>`` person is while it has no account (``domain.invite``)."""
    k = contacts.c
    contact_id = contact_of_person(person_id)
    known = k.app_user_id == person_id if contact_id is None else (k.contact_id == contact_id) & k.app_user_id.is_(None)
    query = select(k.community_code).where(known, k.removed.is_(False)).distinct()
    return sorted(session.scalars(query))


# -- the replica of registered organisations -----------------------------------------------------------


def organisations_by_id(session: Session, ids: Iterable[str | None]) -> dict[str, Organisation]:
    return organisation_registry.by_ids(session, organisations, ids)


# -- listing -----------------------------------------------------------------------------------------

SORTS = {
    "-starts_at": (consultations.c.starts_at, True),
    "starts_at": (consultations.c.starts_at, False),
    "-updated_at": (consultations.c.updated_at, True),
}


def covering_codes(scope: str) -> list[str]:
    """The consultation divisions that take in all of ``scope``: its community and its street."""
    codes = []
    if len(scope) == 12:
        codes.append(scope)
    if len(scope) >= 9:
        codes.append(scope[:9] + "000")
    return codes


def visible(principal: Principal):
    """The condition of the consultations ``principal`` may see: ``domain.visible_to`` as a query.
    Officials (every role but residents) see everything inside their scope, drafts included; once
    public (announced, or recorded afterwards), a consultation is also seen by those it reaches:
    whoever lives or works in the area it covers (the divisions ``covering_codes`` their scope)
    and everyone invited to it."""
    c = consultations.c
    invited = c.id.in_(select(participants.c.consultation_id).where(participants.c.participant_id == principal.subject))
    is_public = or_(c.announced_at.is_not(None), c.recorded_afterwards.is_(True))  # domain.is_public
    public = and_(is_public, or_(c.division_code.in_(covering_codes(principal.scope)), invited))
    if principal.role == "resident":
        return public
    return or_(within(c.division_code, principal.scope), public)


def search(session: Session, *, principal: Principal, filters: dict, sort: str, limit: int, cursor: str | None):
    """One page of the consultations ``principal`` may see (``visible``, the domain's
    ``visible_to`` in SQL), filtered: ``division`` (a code or a prefix), ``status`` (any of),
    ``since``/``until`` (start time). Keyset pagination on (sort key, id)."""
    c = consultations.c
    conditions = [visible(principal)]
    if filters.get("division"):
        conditions.append(within(c.division_code, filters["division"]))
    if filters.get("status"):
        conditions.append(c.status.in_(filters["status"]))
    if filters.get("since"):
        conditions.append(c.starts_at >= filters["since"])
    if filters.get("until"):
        conditions.append(c.starts_at < filters["until"])
    column, descending = SORTS[sort]
    query = select(consultations).where(*conditions)
    return page(session, query, Keyset(column, c.id, descending), limit=limit, cursor=cursor, convert=_consultation)


def calendar(session: Session, community_code: str, cancelled_since: datetime) -> list[Consultation]:
    """A community's announced consultations (its own and its street's) that are upcoming or in
    session, and those cancelled after being announced since ``cancelled_since``."""
    c = consultations.c
    query = (
        select(consultations)
        .where(
            c.division_code.in_(covering_codes(community_code)),
            c.announced_at.is_not(None),
            or_(
                c.status.in_(("announced", "in_session")),
                and_(c.status == "cancelled", c.updated_at >= cancelled_since),
            ),
        )
        .order_by(c.starts_at, c.id)
        .limit(500)
    )
    return [_consultation(row) for row in session.execute(query).mappings()]
