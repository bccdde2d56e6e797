"""Meetings' HTTP routes (thin: parse, load, let the domain decide, then store, audit and emit, in
one unit of work; when the domain refuses, nothing has been written).

Who sees a consultation: officials (every role but residents) whatever lies inside their scope,
drafts included; once announced, also whoever lives or works in the area it covers (a street's
consultation reaches its communities) and everyone invited to it. Who may act is the domain's
rule (organisers: community workers, street and district admins whose scope covers it;
participants: the invited person themself); routes declare the roles they admit.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Response
from flask_smorest import Blueprint

from services.meetings import calendar, domain, events, repository
from services.meetings.models import divisions
from services.meetings.schemas import (
    AttendanceCodeOut,
    ChecklistOut,
    ConsultationIn,
    ConsultationOut,
    ConsultationPage,
    ConsultationPatch,
    ConsultationQuery,
    DeliberationOut,
    InviteIn,
    OpinionIn,
    OpinionOut,
    ParticipantOut,
    ParticipationOut,
    PostponeIn,
    ProfileIn,
    PublishIn,
    QualityOut,
    ReasonIn,
    RelocateIn,
    RoundIn,
    RoundOut,
    RsvpIn,
    SignInIn,
    SummaryIn,
    TopicIn,
    VoteIn,
    VoteOut,
)
from shared.division_registry import DivisionRegistry
from shared.http import current_principal, public, requires
from shared.principal import ROLES, Principal
from shared.problems import Conflict, Forbidden, Invalid, NotFound
from shared.service import current_runtime

blp = Blueprint("consultations", __name__, url_prefix="/api/v1/meetings", description="协商(居民议事、与会决事)")

ORGANISERS = domain.ORGANISER_ROLES
# Anyone may be invited (a resident, a department's or an organisation's account…); district
# systems act for no person.
PARTICIPANTS = tuple(role for role in ROLES if role != "system")
# Who reads the quality figures: organisers, the supervisory committee, the city's operators.
QUALITY_READERS = (*ORGANISERS, "supervisor", "city_operator")
# Cancelled consultations stay in the calendar feed this long, so subscribers see the cancellation.
CANCELLED_IN_CALENDAR = timedelta(days=30)


def _now() -> datetime:
    return datetime.now(UTC)


def _notice_days(form: str) -> int:
    settings = current_runtime().settings
    return domain.notice_days_for(form, default=settings.notice_days, hearing=settings.hearing_notice_days)


# -- who sees what -------------------------------------------------------------------------------------


def _official(principal: Principal, consultation: domain.Consultation) -> bool:
    return principal.role != "resident" and principal.covers(consultation.scope)


def _load(session, principal: Principal, consultation_id: str, *, for_update: bool = False) -> domain.Consultation:
    """A consultation the caller may see (see the module's notes), else 404."""
    consultation = repository.get(session, consultation_id, for_update=for_update)
    if consultation is not None:
        if _official(principal, consultation):
            return consultation
        if consultation.announced_at is not None and (
            principal.scope.startswith(consultation.scope)
            or repository.get_participant(session, consultation.id, principal.subject) is not None
        ):
            return consultation
    raise NotFound("协商不存在或不在您的范围内")


def _organising(principal: Principal, consultation: domain.Consultation) -> None:
    """For organisers' reads (the domain checks organisers' writes)."""
    if principal.role not in ORGANISERS or not principal.covers(consultation.scope):
        raise Forbidden("该协商不在您的管辖范围内", division_code=consultation.division_code)


# -- answers -------------------------------------------------------------------------------------------


def _out(consultation: domain.Consultation) -> dict:
    c = consultation
    return {
        **{name: getattr(c, name) for name in _PLAIN},
        "level": c.level,
        "status_name": domain.STATUS_NAMES[c.status],
        "materials": list(c.materials),
        "topics": list(c.topics),
        "rule": {
            "method": c.rule.method,
            "threshold": str(c.rule.threshold) if c.rule.threshold is not None else None,
            "quorum": str(c.rule.quorum),
        },
        "results": [
            {
                "topic_id": r.topic_id,
                "adopted": r.adopted,
                "support": r.support,
                "oppose": r.oppose,
                "abstain": r.abstain,
                "block": r.block,
                "dissent_reasons": [reason for _, reason in r.dissent if reason],
            }
            for r in c.results
        ],
        "resolutions": list(c.resolutions),
    }


# Everything but the attendance code, which organisers fetch on its own route.
_PLAIN = tuple(name for name in repository.SCALARS if name != "attendance_code")


def _fraction(value) -> str | None:
    return None if value is None else str(value)


# -- consultations -------------------------------------------------------------------------------------


@blp.post("/consultations")
@blp.arguments(ConsultationIn)
@blp.response(201, ConsultationOut)
@requires(*ORGANISERS)
def create_consultation(data):
    """Prepare a consultation (draft) of a community or a street; ``follows_id`` continues one
    whose topics were not all adopted."""
    principal = current_principal()
    rule, follows_id = data.pop("rule") or {}, data.pop("follows_id")
    with current_runtime().unit_of_work() as uow:
        code = domain.normalise_division_code(data.pop("division_code"))
        follows = _load(uow.session, principal, follows_id) if follows_id else None
        consultation, transition = domain.create(
            principal=principal,
            division=uow.divisions.get(code),
            division_code=code,
            rule=domain.decision_rule(**rule),
            follows=follows,
            now=_now(),
            **data,
        )
        repository.add(uow.session, consultation)
        repository.record(uow.session, transition)
    return _out(consultation)


@blp.get("/consultations")
@blp.arguments(ConsultationQuery, location="query")
@blp.response(200, ConsultationPage)
def list_consultations(query):
    """Consultations the caller may see, filtered (division code or prefix, status, start time),
    one page at a time (``next_cursor``)."""
    principal = current_principal()
    cursor, limit, sort = query.pop("cursor"), query.pop("limit"), query.pop("sort")
    with current_runtime().db.sessions() as session:
        items, next_cursor = repository.search(
            session, principal=principal, filters=query, sort=sort, limit=limit, cursor=cursor
        )
    return {"items": [_out(c) for c in items], "next_cursor": next_cursor}


@blp.get("/consultations/<consultation_id>")
@blp.response(200, ConsultationOut)
def get_consultation(consultation_id: str):
    """One consultation: its arrangements, topics, decision rule and, once decided, the outcome."""
    principal = current_principal()
    with current_runtime().db.sessions() as session:
        return _out(_load(session, principal, consultation_id))


@blp.patch("/consultations/<consultation_id>")
@blp.arguments(ConsultationPatch)
@blp.response(200, ConsultationOut)
@requires(*ORGANISERS)
def revise_consultation(changes, consultation_id: str):
    """Change the arrangements or the decision rule while in draft."""
    principal = current_principal()
    if "rule" in changes:
        changes["rule"] = domain.decision_rule(**changes["rule"])
    if "materials" in changes:
        changes["materials"] = tuple(changes["materials"])
    with current_runtime().unit_of_work() as uow:
        consultation = _load(uow.session, principal, consultation_id, for_update=True)
        revised = domain.revise(consultation, principal, _now(), **changes)
        repository.save(uow.session, revised)
    return _out(revised)


# -- topics --------------------------------------------------------------------------------------------


@blp.post("/consultations/<consultation_id>/topics")
@blp.arguments(TopicIn)
@blp.response(201, ConsultationOut)
@requires(*ORGANISERS)
def add_topic(data, consultation_id: str):
    """Put a topic on the agenda: a proposal intake accepted (title and origin come from it) or a
    topic of the community's or the street's own (``top_down``)."""
    principal = current_principal()
    proposal_id = data["proposal_id"]
    with current_runtime().unit_of_work() as uow:
        consultation = _load(uow.session, principal, consultation_id, for_update=True)
        accepted = repository.accepted_proposal(uow.session, proposal_id) if proposal_id else None
        if accepted is not None:
            origin, title = accepted["origin"], data["title"] or accepted["title"]
        elif proposal_id:  # unknown here: refused below, once the domain has checked the rest
            origin, title = data["origin"] or "resident", data["title"] or proposal_id
        else:
            origin, title = data["origin"] or "top_down", data["title"] or ""
        updated = domain.add_topic(consultation, principal, _now(), title=title, origin=origin, proposal_id=proposal_id)
        if proposal_id and (accepted is None or not accepted["community_code"].startswith(consultation.scope)):
            raise Invalid("该建议不是本社区(街道)已列为议题的建议", field="proposal_id", proposal_id=proposal_id)
        repository.save(uow.session, updated)
    return _out(updated)


@blp.delete("/consultations/<consultation_id>/topics/<topic_id>")
@blp.response(200, ConsultationOut)
@requires(*ORGANISERS)
def remove_topic(consultation_id: str, topic_id: str):
    """Take a topic off the agenda while in draft."""
    principal = current_principal()
    with current_runtime().unit_of_work() as uow:
        consultation = _load(uow.session, principal, consultation_id, for_update=True)
        updated = domain.remove_topic(consultation, principal, _now(), topic_id)
        repository.save(uow.session, updated)
    return _out(updated)


# -- participants (organisers' side) -------------------------------------------------------------------


@blp.post("/consultations/<consultation_id>/participants")
@blp.arguments(InviteIn)
@blp.response(201, ParticipantOut)
@requires(*ORGANISERS)
def invite(data, consultation_id: str):
    """Invite one person (by account id) in a category: residents' representatives, party
    members, deputies, experts, social organisations, local units, property, departments…"""
    principal = current_principal()
    with current_runtime().unit_of_work() as uow:
        consultation = _load(uow.session, principal, consultation_id, for_update=True)
        existing = repository.list_participants(uow.session, consultation.id)
        participant = domain.invite(consultation, existing, principal, _now(), **data)
        repository.add_participant(uow.session, participant)
        if consultation.status == "announced":  # the notice already went out: this person's own
            events.invited(uow, consultation, participant)
    return participant


@blp.get("/consultations/<consultation_id>/participants")
@blp.response(200, ParticipantOut(many=True))
@requires(*ORGANISERS)
def list_participants(consultation_id: str):
    """Who is invited, their answers and attendance (organisers only; profiles are never listed)."""
    principal = current_principal()
    with current_runtime().db.sessions() as session:
        consultation = _load(session, principal, consultation_id)
        _organising(principal, consultation)
        return repository.list_participants(session, consultation.id)


@blp.get("/consultations/<consultation_id>/checklist")
@blp.response(200, ChecklistOut)
@requires(*ORGANISERS)
def checklist(consultation_id: str):
    """What the consultation still lacks before it may be announced (topics, participants,
    materials, the notice period)."""
    principal = current_principal()
    with current_runtime().db.sessions() as session:
        consultation = _load(session, principal, consultation_id)
        _organising(principal, consultation)
        participants = repository.list_participants(session, consultation.id)
    days = _notice_days(consultation.form)
    missing = domain.checklist(consultation, participants, _now(), days)
    return {
        "status": consultation.status,
        "ready": consultation.status == "draft" and not missing,
        "notice_days": days,
        "missing": [{"item": item, "message": message} for item, message in missing.items()],
    }


@blp.get("/consultations/<consultation_id>/attendance-code")
@blp.response(200, AttendanceCodeOut)
@requires(*ORGANISERS)
def attendance_code(consultation_id: str):
    """The code participants sign in with at the venue (organisers only)."""
    principal = current_principal()
    with current_runtime().db.sessions() as session:
        consultation = _load(session, principal, consultation_id)
    _organising(principal, consultation)
    if consultation.attendance_code is None:
        if consultation.mode == "online":
            raise Conflict("线上协商通过加入会议签到,没有签到码")
        raise Conflict("发布公告后才生成签到码")
    return {
        "consultation_id": consultation.id,
        "attendance_code": consultation.attendance_code,
        "sign_in_opens_at": consultation.starts_at - domain.SIGN_IN_OPENS,
    }


# -- the procedure -------------------------------------------------------------------------------------


def _step(consultation_id: str, act, tell=None) -> dict:
    """One step of the procedure: load the consultation with its participants and votes, let
    ``act(consultation, participants, votes, principal, now)`` move it, store the move and its audit
    line, and let ``tell(uow, before, after, participants)`` emit the step's events."""
    principal = current_principal()
    with current_runtime().unit_of_work() as uow:
        consultation = _load(uow.session, principal, consultation_id, for_update=True)
        participants = repository.list_participants(uow.session, consultation.id)
        votes = repository.list_votes(uow.session, consultation.id)
        moved, transition = act(consultation, participants, votes, principal, _now())
        if tell is not None:
            tell(uow, consultation, moved, participants)
        repository.save(uow.session, moved)
        repository.record(uow.session, transition)
    return _out(moved)


@blp.post("/consultations/<consultation_id>/announce")
@blp.response(200, ConsultationOut)
@requires(*ORGANISERS)
def announce(consultation_id: str):
    """Publish the notice: needs topics, participants, materials and the notice period (a hearing
    longer); everyone invited is told and the topics' proposals become scheduled."""
    return _step(
        consultation_id,
        lambda c, people, votes, who, now: domain.announce(c, people, who, now, notice_days=_notice_days(c.form)),
        lambda uow, before, after, people: events.announced(uow, after, people),
    )


@blp.post("/consultations/<consultation_id>/postpone")
@blp.arguments(PostponeIn)
@blp.response(200, ConsultationOut)
@requires(*ORGANISERS)
def postpone(data, consultation_id: str):
    """A later start, announced again with the full notice period; everyone invited is told why."""
    return _step(
        consultation_id,
        lambda c, people, votes, who, now: domain.postpone(c, who, now, notice_days=_notice_days(c.form), **data),
        lambda uow, before, after, people: events.postponed(
            uow, after, before.starts_at, data["reason"].strip(), people
        ),
    )


@blp.post("/consultations/<consultation_id>/relocate")
@blp.arguments(RelocateIn)
@blp.response(200, ConsultationOut)
@requires(*ORGANISERS)
def relocate(data, consultation_id: str):
    """Another venue or online link at the same time, saying why; everyone invited is told."""
    return _step(
        consultation_id,
        lambda c, people, votes, who, now: domain.relocate(c, who, now, **data),
        lambda uow, before, after, people: events.relocated(uow, after, data["reason"].strip(), people),
    )


@blp.post("/consultations/<consultation_id>/cancel")
@blp.arguments(ReasonIn)
@blp.response(200, ConsultationOut)
@requires(*ORGANISERS)
def cancel(data, consultation_id: str):
    """Call it off before it starts, saying why; its topics' proposals return to accepted."""
    return _step(
        consultation_id,
        lambda c, people, votes, who, now: domain.cancel(c, who, now, data["reason"]),
        lambda uow, before, after, people: events.cancelled(uow, after),
    )


@blp.post("/consultations/<consultation_id>/start")
@blp.response(200, ConsultationOut)
@requires(*ORGANISERS)
def start(consultation_id: str):
    """Open the session, not before the announced time."""
    return _step(
        consultation_id,
        lambda c, people, votes, who, now: domain.start(c, who, now),
        lambda uow, before, after, people: events.started(uow, after, people),
    )


def _concluded(uow, before, after, participants) -> None:
    held_at = repository.started_at(uow.session, before.id) or before.starts_at
    events.concluded(uow, after, participants, held_at)


@blp.post("/consultations/<consultation_id>/decide")
@blp.response(200, ConsultationOut)
@requires(*ORGANISERS)
def decide(consultation_id: str):
    """Apply the decision rule to every topic (quorum first): adopted topics are decided, the
    others go to a further consultation."""
    return _step(consultation_id, lambda c, people, votes, who, now: domain.decide(c, people, votes, who, now),
                 _concluded)  # fmt: skip


@blp.post("/consultations/<consultation_id>/no-consensus")
@blp.arguments(ReasonIn)
@blp.response(200, ConsultationOut)
@requires(*ORGANISERS)
def no_consensus(data, consultation_id: str):
    """End the session without forcing a vote: every topic goes to a further consultation."""
    return _step(
        consultation_id,
        lambda c, people, votes, who, now: domain.declare_no_consensus(c, who, now, data["reason"]),
        _concluded,
    )


@blp.post("/consultations/<consultation_id>/publish")
@blp.arguments(PublishIn)
@blp.response(200, ConsultationOut)
@requires(*ORGANISERS)
def publish(data, consultation_id: str):
    """Make the outcome public: minutes, a resolution (who, by when, what) for each adopted topic,
    and an explanation to those who dissented or, without consensus, of what comes next."""
    resolutions = [domain.Resolution(**item) for item in data["resolutions"]]
    return _step(
        consultation_id,
        lambda c, people, votes, who, now: domain.publish_outcome(
            c, who, now, minutes=data["minutes"], resolutions=resolutions, explanation=data["explanation"]
        ),
        lambda uow, before, after, people: events.outcome_published(uow, after),
    )


@blp.post("/consultations/<consultation_id>/close")
@blp.response(200, ConsultationOut)
@requires(*ORGANISERS)
def close(consultation_id: str):
    """End the consultation once its outcome is public (the resolutions live on as tasks)."""
    return _step(consultation_id, lambda c, people, votes, who, now: domain.close(c, who, now))


# -- participants (their own side) ---------------------------------------------------------------------


def _own(consultation_id: str, act) -> dict:
    """Load the caller's invitation, let ``act(consultation, participant, principal)`` change it, store it."""
    principal = current_principal()
    with current_runtime().unit_of_work() as uow:
        consultation = _load(uow.session, principal, consultation_id, for_update=True)
        participant = repository.get_participant(uow.session, consultation.id, principal.subject)
        changed = act(consultation, participant, principal)
        repository.save_participant(uow.session, changed)
    return changed


@blp.post("/consultations/<consultation_id>/rsvp")
@blp.arguments(RsvpIn)
@blp.response(200, ParticipationOut)
@requires(*PARTICIPANTS)
def rsvp(data, consultation_id: str):
    """The invited person's answer (accepted or declined), which may change until the start."""
    return _own(consultation_id, lambda c, p, who: domain.rsvp(c, p, who, _now(), data["answer"]))


@blp.post("/consultations/<consultation_id>/profile")
@blp.arguments(ProfileIn)
@blp.response(200, ParticipationOut)
@requires(*PARTICIPANTS)
def profile(data, consultation_id: str):
    """Declare one's own profile (age band, occupation class, stakeholder type), each part
    optional: only ever counted in the participation figures, never shown."""
    return _own(consultation_id, lambda c, p, who: domain.declare_profile(c, p, who, **data))


@blp.post("/consultations/<consultation_id>/sign-in")
@blp.arguments(SignInIn)
@blp.response(200, ParticipationOut)
@requires(*PARTICIPANTS)
def sign_in(data, consultation_id: str):
    """Sign in at the venue with the attendance code (from one hour before the start)."""
    return _own(consultation_id, lambda c, p, who: domain.sign_in(c, p, who, _now(), data["code"]))


@blp.post("/consultations/<consultation_id>/join")
@blp.response(200, ParticipationOut)
@requires(*PARTICIPANTS)
def join(consultation_id: str):
    """Join an online or hybrid session: counts as attending (people at work take part too)."""
    return _own(consultation_id, lambda c, p, who: domain.join_online(c, p, who, _now()))


# -- deliberation --------------------------------------------------------------------------------------


@blp.post("/consultations/<consultation_id>/rounds")
@blp.arguments(RoundIn)
@blp.response(201, RoundOut)
@requires(*ORGANISERS)
def open_round(data, consultation_id: str):
    """Schedule the next round of opinions (rounds never overlap)."""
    principal = current_principal()
    with current_runtime().unit_of_work() as uow:
        consultation = _load(uow.session, principal, consultation_id, for_update=True)
        rounds = repository.list_rounds(uow.session, consultation.id)
        round_ = domain.open_round(consultation, rounds, principal, _now(), **data)
        repository.add_round(uow.session, round_)
    return round_


@blp.post("/consultations/<consultation_id>/rounds/<int:number>/summary")
@blp.arguments(SummaryIn)
@blp.response(200, RoundOut)
@requires(*ORGANISERS)
def summarise_round(data, consultation_id: str, number: int):
    """The organiser's summary of a closed round (once)."""
    principal = current_principal()
    with current_runtime().unit_of_work() as uow:
        consultation = _load(uow.session, principal, consultation_id, for_update=True)
        round_ = next((r for r in repository.list_rounds(uow.session, consultation.id) if r.number == number), None)
        if round_ is None:
            raise NotFound("意见征集轮次不存在", number=number)
        summarised = domain.summarise_round(consultation, round_, principal, _now(), data["summary"])
        repository.save_round(uow.session, summarised)
    return summarised


@blp.get("/consultations/<consultation_id>/opinions")
@blp.response(200, DeliberationOut)
def list_opinions(consultation_id: str):
    """The rounds with their summaries and the opinions posted. Hidden opinions are shown to the
    consultation's organisers only, with the reason."""
    principal = current_principal()
    with current_runtime().db.sessions() as session:
        consultation = _load(session, principal, consultation_id)
        moderator = principal.role in ORGANISERS and principal.covers(consultation.scope)
        opinions = repository.list_opinions(session, consultation.id, include_hidden=moderator)
        rounds = repository.list_rounds(session, consultation.id)
        categories = {p.id: p.category for p in repository.list_participants(session, consultation.id)}
    items = [
        {
            **{name: getattr(o, name) for name in ("id", "topic_id", "round_number", "stance", "text")},
            "posted_at": o.posted_at,
            "parent_id": o.parent_id,
            "mine": o.author_id == principal.subject,
            "author_category": categories.get(o.author_id),
            "hidden": o.hidden,
            "hidden_reason": o.hidden_reason if moderator else None,
            "author_id": o.author_id if moderator else None,
        }
        for o in opinions
    ]
    return {"rounds": rounds, "items": items}


@blp.post("/consultations/<consultation_id>/opinions")
@blp.arguments(OpinionIn)
@blp.response(201, OpinionOut)
@requires(*PARTICIPANTS)
def post_opinion(data, consultation_id: str):
    """An opinion on a topic while a round is open, by a resident of the division or someone
    invited; ``parent_id`` replies to another."""
    principal = current_principal()
    parent_id = data.pop("parent_id")
    with current_runtime().unit_of_work() as uow:
        consultation = _load(uow.session, principal, consultation_id, for_update=True)
        participant = repository.get_participant(uow.session, consultation.id, principal.subject)
        rounds = repository.list_rounds(uow.session, consultation.id)
        parent = repository.get_opinion(uow.session, parent_id) if parent_id else None
        opinion = domain.post_opinion(consultation, rounds, participant, principal, _now(), parent=parent, **data)
        if parent_id and parent is None:
            raise Invalid("回复的意见不存在", field="parent_id")
        repository.add_opinion(uow.session, opinion)
    return {
        **vars(opinion),
        "mine": True,
        "author_category": participant.category if participant else None,
        "author_id": None,
    }


@blp.post("/consultations/<consultation_id>/opinions/<opinion_id>/hide")
@blp.arguments(ReasonIn)
@blp.response(200, OpinionOut)
@requires(*ORGANISERS)
def hide_opinion(data, consultation_id: str, opinion_id: str):
    """Hide an opinion (abuse, personal data…), the reason on the record."""
    principal = current_principal()
    with current_runtime().unit_of_work() as uow:
        consultation = _load(uow.session, principal, consultation_id, for_update=True)
        opinion = repository.get_opinion(uow.session, opinion_id)
        if opinion is None:
            raise NotFound("意见不存在")
        hidden, moderation = domain.hide_opinion(consultation, opinion, principal, _now(), data["reason"])
        repository.save_opinion(uow.session, hidden)
        repository.record_moderation(uow.session, moderation)
    return {**vars(hidden), "mine": hidden.author_id == principal.subject, "author_category": None}


# -- deciding ------------------------------------------------------------------------------------------


@blp.post("/consultations/<consultation_id>/votes")
@blp.arguments(VoteIn)
@blp.response(201, VoteOut)
@requires(*PARTICIPANTS)
def cast_vote(data, consultation_id: str):
    """One vote per signed-in participant per topic, in session; a blocking objection says why."""
    principal = current_principal()
    with current_runtime().unit_of_work() as uow:
        consultation = _load(uow.session, principal, consultation_id, for_update=True)
        participant = repository.get_participant(uow.session, consultation.id, principal.subject)
        votes = repository.list_votes(uow.session, consultation.id)
        vote = domain.cast_vote(consultation, participant, votes, principal, _now(), **data)
        repository.add_vote(uow.session, vote)
    return vote


@blp.get("/consultations/<consultation_id>/quality")
@blp.response(200, QualityOut)
@requires(*QUALITY_READERS)
def quality(consultation_id: str):
    """How well the consultation deliberated and whom it reached (attendance, the participants'
    mix, opinions, rounds, dissent) and its flags; nobody is named or singled out."""
    principal = current_principal()
    with current_runtime().db.sessions() as session:
        consultation = _load(session, principal, consultation_id)
        if not principal.covers(consultation.scope):
            raise Forbidden("该协商不在您的管辖范围内", division_code=consultation.division_code)
        figures = domain.quality(
            consultation,
            repository.list_participants(session, consultation.id),
            repository.list_opinions(session, consultation.id),
            repository.list_rounds(session, consultation.id),
            repository.list_votes(session, consultation.id),
        )
    fractions = ("attendance", "share_not_retired", "share_under_45")
    return {
        **vars(figures),
        **{name: _fraction(getattr(figures, name)) for name in fractions},
        "flags": [{"code": flag, "message": domain.FLAGS[flag]} for flag in figures.flags],
    }


# -- the public calendar -------------------------------------------------------------------------------


@blp.get("/communities/<code>/calendar.ics")
@blp.response(200, {"type": "string"}, content_type="text/calendar", description="iCalendar (RFC 5545)")
@blp.doc(security=[])
@public
def community_calendar(code: str):
    """A community's consultations as a calendar feed residents subscribe to: announced ones,
    its own and its street's, upcoming or in session, and those cancelled in the last 30 days."""
    now = _now()
    with current_runtime().db.sessions() as session:
        valid = code.isdigit() and len(code) == 12
        community = DivisionRegistry(session, divisions).active_community(code) if valid else None
        if community is None:
            raise NotFound("社区不存在")
        consultations = repository.calendar(session, community.code, now - CANCELLED_IN_CALENDAR)
    body = calendar.community_calendar(community.name, consultations)
    response = Response(body.encode("utf-8"), content_type=calendar.CONTENT_TYPE)
    response.headers["Content-Disposition"] = f'inline; filename="{community.code}.ics"'
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def blueprints():
    return [blp]
