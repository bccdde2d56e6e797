"""Meetings' use cases: one function for each thing a caller asks of meetings (a route, an event).
Each runs in the caller's unit of work: load (``repository``), let the domain decide, store, and
emit (``events``). The domain decides before anything is written, so a refusal leaves nothing to
undo. Time comes in as ``now``; settings (the notice periods) as arguments.

Every use case on one consultation loads it through ``_visible``: who does not see it
(``domain.visible_to``) is told it does not exist. Who may act is the domain's rule, step by step;
the procedure's steps share ``_step``, a participant's acts on their own invitation ``_own``. A
consultation held offline is recorded afterwards whole (``record_consultation``, one a CSV row in
``import_recorded``). The replicas of accepted proposals and of notify's contact directory (whom an
invitation may name) are kept by the use cases their handlers call (that of registered
organisations by ``shared.organisation_registry``'s handler).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.meetings import domain, events, repository
from services.meetings.domain import Consultation, Participant, Transition, Vote
from shared.divisions import Division
from shared.principal import Principal
from shared.problems import Forbidden, Invalid, NotFound, Problem
from shared.uow import UnitOfWork


@dataclass(frozen=True)
class Checklist:
    """What a consultation still lacks before it may be announced."""

    status: str
    ready: bool
    notice_days: int
    missing: Mapping[str, str]  # item (topics, participants, materials, notice) → what it lacks


@dataclass(frozen=True)
class Deliberation:
    rounds: list[domain.Round]
    items: list[domain.OpinionView]


# -- loading -------------------------------------------------------------------------------------------


def _visible(
    uow: UnitOfWork, principal: Principal, consultation_id: str, *, for_update: bool = False
) -> tuple[Consultation, Participant | None]:
    """A consultation ``principal`` may see (``domain.visible_to``) and their invitation to it, if
    any; else 404. ``for_update``: steps on one consultation queue up."""
    consultation = repository.get(uow.session, consultation_id, for_update=for_update)
    if consultation is not None:
        invitation = repository.get_participant(uow.session, consultation.id, principal.subject)
        if domain.visible_to(principal, consultation, invited=invitation is not None):
            return consultation, invitation
    raise NotFound("协商不存在或不在您的范围内")


def _load(uow: UnitOfWork, principal: Principal, consultation_id: str, *, for_update: bool = False) -> Consultation:
    return _visible(uow, principal, consultation_id, for_update=for_update)[0]


def _notice_days(form: str, notice_days: int, hearing_notice_days: int) -> int:
    return domain.notice_days_for(form, default=notice_days, hearing=hearing_notice_days)


# -- consultations -------------------------------------------------------------------------------------


def create_consultation(
    uow: UnitOfWork,
    principal: Principal,
    *,
    division_code: str,
    now: datetime,
    rule: Mapping[str, Any] | None = None,
    follows_id: str | None = None,
    **details: Any,
) -> Consultation:
    """A draft of a community or a street (``details``: title, form, mode, times, venue, link,
    materials); ``rule`` its decision rule's parts; ``follows_id`` the consultation whose topics
    not adopted it takes up again (one the caller sees)."""
    code = domain.normalise_division_code(division_code)
    follows = _load(uow, principal, follows_id) if follows_id else None
    consultation, transition = domain.create(
        principal=principal,
        division=uow.divisions.get(code),
        division_code=code,
        rule=domain.decision_rule(**(rule or {})),
        follows=follows,
        now=now,
        **details,
    )
    repository.add(uow.session, consultation)
    repository.record(uow.session, transition)
    return consultation


def list_consultations(
    uow: UnitOfWork, principal: Principal, *, filters: Mapping[str, Any], sort: str, limit: int, cursor: str | None
) -> tuple[list[Consultation], str | None]:
    """One page of the consultations ``principal`` sees (the repository's query of
    ``domain.visible_to``) and the cursor of the next."""
    return repository.search(uow.session, principal=principal, filters=filters, sort=sort, limit=limit, cursor=cursor)


def get_consultation(uow: UnitOfWork, principal: Principal, consultation_id: str) -> Consultation:
    return _load(uow, principal, consultation_id)


def revise_consultation(
    uow: UnitOfWork, principal: Principal, consultation_id: str, changes: Mapping[str, Any], *, now: datetime
) -> Consultation:
    """Change the arrangements or the decision rule (``changes["rule"]``: its parts) in draft."""
    changes = dict(changes)
    if "rule" in changes:
        changes["rule"] = domain.decision_rule(**changes["rule"])
    if "materials" in changes:
        changes["materials"] = tuple(changes["materials"])
    consultation = _load(uow, principal, consultation_id, for_update=True)
    revised = domain.revise(consultation, principal, now, **changes)
    repository.save(uow.session, revised)
    return revised


# -- topics --------------------------------------------------------------------------------------------


def add_topic(
    uow: UnitOfWork,
    principal: Principal,
    consultation_id: str,
    *,
    now: datetime,
    title: str | None = None,
    origin: str | None = None,
    proposal_id: str | None = None,
) -> Consultation:
    """A topic on the agenda: a proposal intake accepted (in meetings' replica) or one of the
    community's or the street's own. Refused before anything is written."""
    consultation = _load(uow, principal, consultation_id, for_update=True)
    accepted = repository.accepted_proposal(uow.session, proposal_id) if proposal_id else None
    updated = domain.add_requested_topic(
        consultation, principal, now, title=title, origin=origin, proposal_id=proposal_id, accepted=accepted
    )
    repository.save(uow.session, updated)
    return updated


def remove_topic(
    uow: UnitOfWork, principal: Principal, consultation_id: str, topic_id: str, *, now: datetime
) -> Consultation:
    consultation = _load(uow, principal, consultation_id, for_update=True)
    updated = domain.remove_topic(consultation, principal, now, topic_id)
    repository.save(uow.session, updated)
    return updated


# -- participants (organisers' side) -------------------------------------------------------------------


def invite(
    uow: UnitOfWork, principal: Principal, consultation_id: str, *, person_id: str, category: str, now: datetime
) -> Participant:
    """Invite one person the directory knows (``domain.invite``: where their contacts are, from the
    replica); once the notice went out, they are sent their own invitation."""
    consultation = _load(uow, principal, consultation_id, for_update=True)
    existing = repository.list_participants(uow.session, consultation.id)
    homes = repository.homes_of(uow.session, person_id)
    participant = domain.invite(
        consultation, existing, principal, now, person_id=person_id, category=category, homes=homes
    )
    repository.add_participant(uow.session, participant)
    if consultation.status == "announced":
        events.invited(uow, consultation, participant)
    return participant


def list_participants(uow: UnitOfWork, principal: Principal, consultation_id: str) -> list[Participant]:
    """Who is invited, their answers and attendance (organisers only)."""
    consultation = _load(uow, principal, consultation_id)
    domain.require_organising(principal, consultation)
    return repository.list_participants(uow.session, consultation.id)


def checklist(
    uow: UnitOfWork,
    principal: Principal,
    consultation_id: str,
    *,
    now: datetime,
    notice_days: int,
    hearing_notice_days: int,
) -> Checklist:
    """What the consultation still lacks before it may be announced (organisers only)."""
    consultation = _load(uow, principal, consultation_id)
    domain.require_organising(principal, consultation)
    participants = repository.list_participants(uow.session, consultation.id)
    days = _notice_days(consultation.form, notice_days, hearing_notice_days)
    missing = domain.checklist(consultation, participants, now, days)
    return Checklist(consultation.status, consultation.status == "draft" and not missing, days, missing)


def attendance_code(uow: UnitOfWork, principal: Principal, consultation_id: str) -> domain.AttendanceCode:
    """The code participants sign in with at the venue (organisers only)."""
    consultation = _load(uow, principal, consultation_id)
    domain.require_organising(principal, consultation)
    return domain.attendance(consultation)


def check_in(
    uow: UnitOfWork, principal: Principal, consultation_id: str, *, person_id: str, now: datetime
) -> Participant:
    """An organiser ticks an invited person in at the venue (``domain.check_in``): one without a
    phone to sign in with. Ticking again changes nothing. Nothing is emitted, as for signing in:
    the start and the held consultation tell the attendance (``domain.attendees``)."""
    consultation = _load(uow, principal, consultation_id, for_update=True)
    invitation = repository.get_participant(uow.session, consultation.id, person_id)
    checked = domain.check_in(consultation, invitation, principal, now, person_id)
    if checked != invitation:
        repository.save_participant(uow.session, checked)
    return checked


# -- the procedure -------------------------------------------------------------------------------------

Act = Callable[[Consultation, list[Participant], list[Vote]], tuple[Consultation, Transition]]
Tell = Callable[[Consultation, Consultation, list[Participant]], None]


def _step(
    uow: UnitOfWork, principal: Principal, consultation_id: str, act: Act, tell: Tell | None = None
) -> Consultation:
    """One step of the procedure: load the consultation (locked) with its participants and votes,
    let ``act(consultation, participants, votes)`` move it (the domain, which may refuse), store
    the move and its history line, and let ``tell(before, after, participants)`` emit the events."""
    consultation = _load(uow, principal, consultation_id, for_update=True)
    participants = repository.list_participants(uow.session, consultation.id)
    votes = repository.list_votes(uow.session, consultation.id)
    moved, transition = act(consultation, participants, votes)
    repository.save(uow.session, moved)
    repository.record(uow.session, transition)
    if tell is not None:
        tell(consultation, moved, participants)
    return moved


def announce(
    uow: UnitOfWork,
    principal: Principal,
    consultation_id: str,
    *,
    now: datetime,
    notice_days: int,
    hearing_notice_days: int,
) -> Consultation:
    """Publish the notice (topics, participants, materials and the notice period needed);
    everyone invited is told and the topics' proposals become scheduled."""
    return _step(
        uow,
        principal,
        consultation_id,
        lambda c, people, votes: domain.announce(
            c, people, principal, now, notice_days=_notice_days(c.form, notice_days, hearing_notice_days)
        ),
        lambda before, after, people: events.announced(uow, after, people),
    )


def postpone(
    uow: UnitOfWork,
    principal: Principal,
    consultation_id: str,
    *,
    starts_at: datetime,
    reason: str,
    now: datetime,
    notice_days: int,
    hearing_notice_days: int,
    ends_at: datetime | None = None,
) -> Consultation:
    """A later start, announced again with the full notice period; everyone invited is told why."""
    return _step(
        uow,
        principal,
        consultation_id,
        lambda c, people, votes: domain.postpone(
            c,
            principal,
            now,
            starts_at=starts_at,
            reason=reason,
            ends_at=ends_at,
            notice_days=_notice_days(c.form, notice_days, hearing_notice_days),
        ),
        lambda before, after, people: events.postponed(uow, after, before.starts_at, reason.strip(), people),
    )


def relocate(
    uow: UnitOfWork,
    principal: Principal,
    consultation_id: str,
    *,
    reason: str,
    now: datetime,
    venue: str | None = None,
    online_link: str | None = None,
) -> Consultation:
    """Another venue or online link at the same time, saying why; everyone invited is told."""
    return _step(
        uow,
        principal,
        consultation_id,
        lambda c, people, votes: domain.relocate(
            c, principal, now, venue=venue, online_link=online_link, reason=reason
        ),
        lambda before, after, people: events.relocated(uow, after, reason.strip(), people),
    )


def cancel(uow: UnitOfWork, principal: Principal, consultation_id: str, *, reason: str, now: datetime) -> Consultation:
    """Call it off before it starts, saying why; its topics' proposals return to accepted."""
    return _step(
        uow,
        principal,
        consultation_id,
        lambda c, people, votes: domain.cancel(c, principal, now, reason),
        lambda before, after, people: events.cancelled(uow, after),
    )


def start(uow: UnitOfWork, principal: Principal, consultation_id: str, *, now: datetime) -> Consultation:
    """Open the session, not before the announced time."""
    return _step(
        uow,
        principal,
        consultation_id,
        lambda c, people, votes: domain.start(c, principal, now),
        lambda before, after, people: events.started(uow, after, people),
    )


def _concluded(uow: UnitOfWork) -> Tell:
    """Tell the decision (or its lack) and that the consultation was held, when it opened."""

    def tell(before: Consultation, after: Consultation, participants: list[Participant]) -> None:
        held_at = repository.started_at(uow.session, before.id) or before.starts_at
        events.concluded(uow, after, participants, held_at)

    return tell


def decide(uow: UnitOfWork, principal: Principal, consultation_id: str, *, now: datetime) -> Consultation:
    """Apply the decision rule to every topic (quorum first)."""
    return _step(
        uow,
        principal,
        consultation_id,
        lambda c, people, votes: domain.decide(c, people, votes, principal, now),
        _concluded(uow),
    )


def declare_no_consensus(
    uow: UnitOfWork, principal: Principal, consultation_id: str, *, reason: str, now: datetime
) -> Consultation:
    """End the session without forcing a vote: every topic goes to a further consultation."""
    return _step(
        uow,
        principal,
        consultation_id,
        lambda c, people, votes: domain.declare_no_consensus(c, principal, now, reason),
        _concluded(uow),
    )


def publish_outcome(
    uow: UnitOfWork,
    principal: Principal,
    consultation_id: str,
    *,
    minutes: str,
    now: datetime,
    resolutions: Sequence[Mapping[str, Any]] = (),
    explanation: str | None = None,
) -> Consultation:
    """Make the outcome public: minutes, a resolution (topic, a registered organisation of the
    division from meetings' replica, deadline, what was agreed) for each adopted topic, an
    explanation to dissenters or of what comes next. A resolution's ``responsible_party`` is the
    organisation's registered name, whatever was given."""
    agreed = [
        domain.Resolution(
            topic_id=item["topic_id"],
            responsible_party=item.get("responsible_party") or "",
            deadline=item["deadline"],
            agreed=item["agreed"],
            organisation_id=item.get("organisation_id"),
        )
        for item in resolutions
    ]
    named = repository.organisations_by_id(uow.session, (r.organisation_id for r in agreed))
    return _step(
        uow,
        principal,
        consultation_id,
        lambda c, people, votes: domain.publish_outcome(
            c, principal, now, minutes=minutes, resolutions=agreed, explanation=explanation, organisations=named
        ),
        lambda before, after, people: events.outcome_published(uow, after),
    )


def close(uow: UnitOfWork, principal: Principal, consultation_id: str, *, now: datetime) -> Consultation:
    """End the consultation once its outcome is public."""
    return _step(uow, principal, consultation_id, lambda c, people, votes: domain.close(c, principal, now))


# -- recorded afterwards (补录) ------------------------------------------------------------------------


def record_consultation(
    uow: UnitOfWork,
    principal: Principal,
    *,
    division_code: str,
    held_at: datetime,
    title: str,
    now: datetime,
    topics: Sequence[Mapping[str, Any]],
    resolutions: Sequence[Mapping[str, Any]] | None = (),
    **details: Any,
) -> Consultation:
    """A consultation held offline, recorded afterwards by an organiser of its division
    (``domain.record_afterwards``; ``details``: form, mode, venue, attendance, decision,
    minutes_url, method, explanation): stored with its outcome published and told as a live one
    is told (``events.recorded``). ``topics``: title, origin, proposal_id, adopted;
    ``resolutions``: topic_index, organisation_id, deadline, agreed (None: not part of the
    record, as for a CSV row)."""
    code = domain.normalise_division_code(division_code)
    agenda = [domain.RecordedTopic(**topic) for topic in topics]
    agreed = None if resolutions is None else [domain.RecordedResolution(**item) for item in resolutions]
    consultation, history = domain.record_afterwards(
        principal=principal,
        division=uow.divisions.get(code, for_update=True),  # recordings of one division queue up
        division_code=code,
        held_at=held_at,
        title=title,
        now=now,
        topics=agenda,
        resolutions=agreed,
        accepted=repository.accepted_proposals_by_id(uow.session, (t.proposal_id for t in agenda)),
        organisations=repository.organisations_by_id(uow.session, (r.organisation_id for r in agreed or ())),
        **details,
    )
    c = consultation
    domain.not_recorded_twice(c, repository.recorded_as(uow.session, c.division_code, c.title, c.starts_at))
    repository.add(uow.session, consultation)
    for transition in history:
        repository.record(uow.session, transition)
    events.recorded(uow, consultation)
    return consultation


def import_recorded(
    uow: UnitOfWork, principal: Principal, rows: Sequence[domain.RecordedRow], *, now: datetime
) -> dict:
    """Record a CSV's consultations (one a row, no resolutions: ``record_consultation`` with
    ``resolutions=None``): good rows kept, each bad one reported by line with its Chinese
    reasons. Refused, writing nothing, when no row was kept: 403 when every row names a division
    outside the caller's scope, else 422 with the rows' reports."""
    domain.require_organiser(principal)
    reported: list[dict] = []  # per row: line, ok, consultation_id, errors
    outside = 0
    for row in rows:
        if row.data is None:
            reported.append({"line": row.line, "ok": False, "consultation_id": None, "errors": list(row.errors)})
            continue
        try:
            consultation = record_consultation(uow, principal, now=now, resolutions=None, **row.data)
        except Problem as problem:  # refused before anything of the row was written
            outside += isinstance(problem, Forbidden)
            reported.append({"line": row.line, "ok": False, "consultation_id": None, "errors": [str(problem.detail)]})
            continue
        reported.append({"line": row.line, "ok": True, "consultation_id": consultation.id, "errors": []})
    recorded = sum(1 for r in reported if r["ok"])
    report = {"recorded": recorded, "rows": reported}
    if not recorded:
        if outside == len(rows):
            raise Forbidden("CSV中的社区或街道均不在您的管辖范围内")
        raise Invalid("没有可补录的行", **report)
    return report


# -- participants (their own side) ---------------------------------------------------------------------


def _own(
    uow: UnitOfWork,
    principal: Principal,
    consultation_id: str,
    act: Callable[[Consultation, Participant | None], Participant],
) -> Participant:
    """The caller's own invitation: let ``act(consultation, invitation)`` change it (the domain
    refuses whoever is not invited) and store it."""
    consultation, invitation = _visible(uow, principal, consultation_id, for_update=True)
    changed = act(consultation, invitation)
    repository.save_participant(uow.session, changed)
    return changed


def rsvp(uow: UnitOfWork, principal: Principal, consultation_id: str, *, answer: str, now: datetime) -> Participant:
    return _own(uow, principal, consultation_id, lambda c, p: domain.rsvp(c, p, principal, now, answer))


def declare_profile(
    uow: UnitOfWork,
    principal: Principal,
    consultation_id: str,
    *,
    age_band: str | None = None,
    occupation: str | None = None,
    stakeholder_type: str | None = None,
) -> Participant:
    return _own(
        uow,
        principal,
        consultation_id,
        lambda c, p: domain.declare_profile(
            c, p, principal, age_band=age_band, occupation=occupation, stakeholder_type=stakeholder_type
        ),
    )


def sign_in(uow: UnitOfWork, principal: Principal, consultation_id: str, *, code: str, now: datetime) -> Participant:
    return _own(uow, principal, consultation_id, lambda c, p: domain.sign_in(c, p, principal, now, code))


def join(uow: UnitOfWork, principal: Principal, consultation_id: str, *, now: datetime) -> Participant:
    return _own(uow, principal, consultation_id, lambda c, p: domain.join_online(c, p, principal, now))


# -- deliberation --------------------------------------------------------------------------------------


def open_round(
    uow: UnitOfWork,
    principal: Principal,
    consultation_id: str,
    *,
    opens_at: datetime,
    closes_at: datetime,
    now: datetime,
) -> domain.Round:
    consultation = _load(uow, principal, consultation_id, for_update=True)
    rounds = repository.list_rounds(uow.session, consultation.id)
    round_ = domain.open_round(consultation, rounds, principal, now, opens_at=opens_at, closes_at=closes_at)
    repository.add_round(uow.session, round_)
    return round_


def summarise_round(
    uow: UnitOfWork, principal: Principal, consultation_id: str, number: int, *, summary: str, now: datetime
) -> domain.Round:
    consultation = _load(uow, principal, consultation_id, for_update=True)
    round_ = next((r for r in repository.list_rounds(uow.session, consultation.id) if r.number == number), None)
    if round_ is None:
        raise NotFound("意见征集轮次不存在", number=number)
    summarised = domain.summarise_round(consultation, round_, principal, now, summary)
    repository.save_round(uow.session, summarised)
    return summarised


def list_opinions(uow: UnitOfWork, principal: Principal, consultation_id: str) -> Deliberation:
    """The rounds and the opinions as the caller sees them: hidden ones, their reasons and the
    authors only for the consultation's organisers."""
    consultation = _load(uow, principal, consultation_id)
    moderator = domain.organises(principal, consultation)
    opinions = repository.list_opinions(uow.session, consultation.id, include_hidden=moderator)
    rounds = repository.list_rounds(uow.session, consultation.id)
    categories = {p.id: p.category for p in repository.list_participants(uow.session, consultation.id)}
    items = [
        domain.seen_by(o, principal, moderator=moderator, author_category=categories.get(o.author_id)) for o in opinions
    ]
    return Deliberation(rounds, items)


def post_opinion(
    uow: UnitOfWork,
    principal: Principal,
    consultation_id: str,
    *,
    topic_id: str,
    stance: str,
    text: str,
    now: datetime,
    parent_id: str | None = None,
) -> domain.OpinionView:
    """An opinion during an open round (``parent_id``: the one it replies to), refused before
    anything is written, an unknown parent included."""
    consultation, invitation = _visible(uow, principal, consultation_id, for_update=True)
    rounds = repository.list_rounds(uow.session, consultation.id)
    parent = repository.get_opinion(uow.session, parent_id) if parent_id else None
    opinion = domain.post_opinion(
        consultation,
        rounds,
        invitation,
        principal,
        now,
        topic_id=topic_id,
        stance=stance,
        text=text,
        parent_id=parent_id,
        parent=parent,
    )
    repository.add_opinion(uow.session, opinion)
    return domain.seen_by(
        opinion, principal, moderator=False, author_category=invitation.category if invitation else None
    )


def hide_opinion(
    uow: UnitOfWork, principal: Principal, consultation_id: str, opinion_id: str, *, reason: str, now: datetime
) -> domain.OpinionView:
    """Hide an opinion, the reason on the record (organisers)."""
    consultation = _load(uow, principal, consultation_id, for_update=True)
    opinion = repository.get_opinion(uow.session, opinion_id)
    if opinion is None:
        raise NotFound("意见不存在")
    hidden, moderation = domain.hide_opinion(consultation, opinion, principal, now, reason)
    repository.save_opinion(uow.session, hidden)
    repository.record_moderation(uow.session, moderation)
    return domain.seen_by(hidden, principal, moderator=True)


# -- deciding ------------------------------------------------------------------------------------------


def cast_vote(
    uow: UnitOfWork,
    principal: Principal,
    consultation_id: str,
    *,
    topic_id: str,
    choice: str,
    now: datetime,
    reason: str | None = None,
) -> Vote:
    consultation, invitation = _visible(uow, principal, consultation_id, for_update=True)
    votes = repository.list_votes(uow.session, consultation.id)
    vote = domain.cast_vote(
        consultation, invitation, votes, principal, now, topic_id=topic_id, choice=choice, reason=reason
    )
    repository.add_vote(uow.session, vote)
    return vote


def quality(uow: UnitOfWork, principal: Principal, consultation_id: str) -> domain.QualityFigures:
    """How well the consultation deliberated and whom it reached (``domain.QUALITY_READERS`` in scope)."""
    consultation = _load(uow, principal, consultation_id)
    domain.require_quality_reader(principal, consultation)
    return domain.quality(
        consultation,
        repository.list_participants(uow.session, consultation.id),
        repository.list_opinions(uow.session, consultation.id),
        repository.list_rounds(uow.session, consultation.id),
        repository.list_votes(uow.session, consultation.id),
    )


# -- the public calendar -------------------------------------------------------------------------------


def community_calendar(uow: UnitOfWork, code: str, *, now: datetime) -> tuple[Division, list[Consultation]]:
    """An active community and its consultations for its calendar feed (no caller: it is public):
    announced ones, its own and its street's, upcoming or in session, and those cancelled lately."""
    community = uow.divisions.active_community(code) if code.isdigit() and len(code) == 12 else None
    if community is None:
        raise NotFound("社区不存在")
    return community, repository.calendar(uow.session, community.code, now - domain.CANCELLED_IN_CALENDAR)


# -- events consumed -----------------------------------------------------------------------------------


def replicate_accepted_proposal(uow: UnitOfWork, proposal: domain.AcceptedProposal) -> None:
    """Keep the replica of accepted proposals (the topics a consultation may take from residents);
    the same acceptance told twice is one row, the later telling's."""
    repository.upsert_accepted(uow.session, proposal)


def replicate_contacts(uow: UnitOfWork, told: Sequence[domain.DirectoryContact], *, changed_at: datetime) -> None:
    """Keep the replica of notify's contact directory (whom an invitation may name): each contact as
    told at ``changed_at``; a telling that arrives late, or twice, changes nothing."""
    repository.upsert_contacts(uow.session, told, changed_at)
