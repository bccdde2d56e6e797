"""Meetings' HTTP routes, thin: parse (``schemas``), call one use case (``services``) in a unit of
work, serialise. Who sees a consultation and who may act are the domain's rules
(``domain.visible_to``, the organisers' and participants' checks); routes declare the roles they
admit. Time is the runtime's clock; the notice periods are settings, passed to the use cases.
"""

from __future__ import annotations

from flask import Response

from services.meetings import calendar, domain, services
from services.meetings.schemas import (
    AttendanceCodeOut,
    CheckInIn,
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
    RecordedImportOut,
    RecordedIn,
    RelocateIn,
    RoundIn,
    RoundOut,
    RsvpIn,
    SignInIn,
    SummaryIn,
    TopicIn,
    VoteIn,
    VoteOut,
    recorded_rows,
)
from shared.http import Blueprint, current_principal, public, requires
from shared.service import ServiceRuntime, current_runtime
from shared.uploads import CSV_BODY, csv_text

blp = Blueprint("consultations", __name__, url_prefix="/api/v1/meetings", description="协商(居民议事、与会决事)")

ORGANISERS = domain.ORGANISER_ROLES
PARTICIPANTS = domain.PARTICIPANT_ROLES
QUALITY_READERS = domain.QUALITY_READERS


def _notice(runtime: ServiceRuntime) -> dict:
    """The notice periods (settings) the use cases that announce need."""
    settings = runtime.settings
    return {"notice_days": settings.notice_days, "hearing_notice_days": settings.hearing_notice_days}


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
        "attendance": dict(c.attendance),
    }


# Everything but the attendance code, which organisers fetch on its own route.
_PLAIN = tuple(name for name in domain.SCALARS if name != "attendance_code")


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
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        consultation = services.create_consultation(uow, current_principal(), now=runtime.now(), **data)
    return _out(consultation)


@blp.get("/consultations")
@blp.arguments(ConsultationQuery, location="query")
@blp.response(200, ConsultationPage)
def list_consultations(query):
    """Consultations the caller may see, filtered (division code or prefix, status, start time),
    one page at a time (``next_cursor``)."""
    cursor, limit, sort = query.pop("cursor"), query.pop("limit"), query.pop("sort")
    with current_runtime().unit_of_work() as uow:
        items, next_cursor = services.list_consultations(
            uow, current_principal(), filters=query, sort=sort, limit=limit, cursor=cursor
        )
    return {"items": [_out(c) for c in items], "next_cursor": next_cursor}


@blp.get("/consultations/<consultation_id>")
@blp.response(200, ConsultationOut)
def get_consultation(consultation_id: str):
    """One consultation: its arrangements, topics, decision rule and, once decided, the outcome."""
    with current_runtime().unit_of_work() as uow:
        consultation = services.get_consultation(uow, current_principal(), consultation_id)
    return _out(consultation)


@blp.patch("/consultations/<consultation_id>")
@blp.arguments(ConsultationPatch)
@blp.response(200, ConsultationOut)
@requires(*ORGANISERS)
def revise_consultation(changes, consultation_id: str):
    """Change the arrangements or the decision rule while in draft."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        consultation = services.revise_consultation(
            uow, current_principal(), consultation_id, changes, now=runtime.now()
        )
    return _out(consultation)


# -- topics --------------------------------------------------------------------------------------------


@blp.post("/consultations/<consultation_id>/topics")
@blp.arguments(TopicIn)
@blp.response(201, ConsultationOut)
@requires(*ORGANISERS)
def add_topic(data, consultation_id: str):
    """Put a topic on the agenda: a proposal intake accepted (title and origin come from it) or a
    topic of the community's or the street's own (``top_down``)."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        consultation = services.add_topic(uow, current_principal(), consultation_id, now=runtime.now(), **data)
    return _out(consultation)


@blp.delete("/consultations/<consultation_id>/topics/<topic_id>")
@blp.response(200, ConsultationOut)
@requires(*ORGANISERS)
def remove_topic(consultation_id: str, topic_id: str):
    """Take a topic off the agenda while in draft."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        consultation = services.remove_topic(uow, current_principal(), consultation_id, topic_id, now=runtime.now())
    return _out(consultation)


# -- participants (organisers' side) -------------------------------------------------------------------


@blp.post("/consultations/<consultation_id>/participants")
@blp.arguments(InviteIn)
@blp.response(201, ParticipantOut)
@requires(*ORGANISERS)
def invite(data, consultation_id: str):
    """Invite one person (by account id) in a category: residents' representatives, party
    members, deputies, experts, social organisations, local units, property, departments… The
    person must be the account of a contact in notify's directory of the consultation's
    county/district, and one invited as a resident (居民代表, 党员, 业委会) of a community of the
    consultation's area; otherwise 422, naming them."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        return services.invite(uow, current_principal(), consultation_id, now=runtime.now(), **data)


@blp.get("/consultations/<consultation_id>/participants")
@blp.response(200, ParticipantOut(many=True))
@requires(*ORGANISERS)
def list_participants(consultation_id: str):
    """Who is invited, their answers and attendance (organisers only; profiles are never listed)."""
    with current_runtime().unit_of_work() as uow:
        return services.list_participants(uow, current_principal(), consultation_id)


@blp.get("/consultations/<consultation_id>/checklist")
@blp.response(200, ChecklistOut)
@requires(*ORGANISERS)
def checklist(consultation_id: str):
    """What the consultation still lacks before it may be announced (topics, participants,
    materials, the notice period)."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        result = services.checklist(uow, current_principal(), consultation_id, now=runtime.now(), **_notice(runtime))
    return {
        "status": result.status,
        "ready": result.ready,
        "notice_days": result.notice_days,
        "missing": [{"item": item, "message": message} for item, message in result.missing.items()],
    }


@blp.get("/consultations/<consultation_id>/attendance-code")
@blp.response(200, AttendanceCodeOut)
@requires(*ORGANISERS)
def attendance_code(consultation_id: str):
    """The code participants sign in with at the venue (organisers only)."""
    with current_runtime().unit_of_work() as uow:
        return services.attendance_code(uow, current_principal(), consultation_id)


@blp.post("/consultations/<consultation_id>/attendance")
@blp.arguments(CheckInIn)
@blp.response(200, ParticipantOut)
@requires(*ORGANISERS)
def check_in(data, consultation_id: str):
    """Tick an invited person in at the venue, for one without a phone to sign in with (organisers
    only; the same window as the attendance code: from one hour before the start, and in session).
    Recorded as ticked in by the caller; ticking again, or one already signed in, changes nothing.
    Someone not invited is refused (422), as is an online consultation (409)."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        return services.check_in(uow, current_principal(), consultation_id, person_id=data["person_id"],
                                 now=runtime.now())  # fmt: skip


# -- the procedure -------------------------------------------------------------------------------------


@blp.post("/consultations/<consultation_id>/announce")
@blp.response(200, ConsultationOut)
@requires(*ORGANISERS)
def announce(consultation_id: str):
    """Publish the notice: needs topics, participants, materials and the notice period (a hearing
    longer); everyone invited is told and the topics' proposals become scheduled."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        consultation = services.announce(
            uow, current_principal(), consultation_id, now=runtime.now(), **_notice(runtime)
        )
    return _out(consultation)


@blp.post("/consultations/<consultation_id>/postpone")
@blp.arguments(PostponeIn)
@blp.response(200, ConsultationOut)
@requires(*ORGANISERS)
def postpone(data, consultation_id: str):
    """A later start, announced again with the full notice period; everyone invited is told why."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        consultation = services.postpone(
            uow, current_principal(), consultation_id, now=runtime.now(), **_notice(runtime), **data
        )
    return _out(consultation)


@blp.post("/consultations/<consultation_id>/relocate")
@blp.arguments(RelocateIn)
@blp.response(200, ConsultationOut)
@requires(*ORGANISERS)
def relocate(data, consultation_id: str):
    """Another venue or online link at the same time, saying why; everyone invited is told."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        consultation = services.relocate(uow, current_principal(), consultation_id, now=runtime.now(), **data)
    return _out(consultation)


@blp.post("/consultations/<consultation_id>/cancel")
@blp.arguments(ReasonIn)
@blp.response(200, ConsultationOut)
@requires(*ORGANISERS)
def cancel(data, consultation_id: str):
    """Call it off before it starts, saying why; its topics' proposals return to accepted."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        consultation = services.cancel(
            uow, current_principal(), consultation_id, reason=data["reason"], now=runtime.now()
        )
    return _out(consultation)


@blp.post("/consultations/<consultation_id>/start")
@blp.response(200, ConsultationOut)
@requires(*ORGANISERS)
def start(consultation_id: str):
    """Open the session, not before the announced time."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        consultation = services.start(uow, current_principal(), consultation_id, now=runtime.now())
    return _out(consultation)


@blp.post("/consultations/<consultation_id>/decide")
@blp.response(200, ConsultationOut)
@requires(*ORGANISERS)
def decide(consultation_id: str):
    """Apply the decision rule to every topic (quorum first): adopted topics are decided, the
    others go to a further consultation."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        consultation = services.decide(uow, current_principal(), consultation_id, now=runtime.now())
    return _out(consultation)


@blp.post("/consultations/<consultation_id>/no-consensus")
@blp.arguments(ReasonIn)
@blp.response(200, ConsultationOut)
@requires(*ORGANISERS)
def no_consensus(data, consultation_id: str):
    """End the session without forcing a vote: every topic goes to a further consultation."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        consultation = services.declare_no_consensus(
            uow, current_principal(), consultation_id, reason=data["reason"], now=runtime.now()
        )
    return _out(consultation)


@blp.post("/consultations/<consultation_id>/publish")
@blp.arguments(PublishIn)
@blp.response(200, ConsultationOut)
@requires(*ORGANISERS)
def publish(data, consultation_id: str):
    """Make the outcome public: minutes, a resolution (who, by when, what) for each adopted topic,
    and an explanation to those who dissented or, without consensus, of what comes next."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        consultation = services.publish_outcome(uow, current_principal(), consultation_id, now=runtime.now(), **data)
    return _out(consultation)


@blp.post("/consultations/<consultation_id>/close")
@blp.response(200, ConsultationOut)
@requires(*ORGANISERS)
def close(consultation_id: str):
    """End the consultation once its outcome is public (the resolutions live on as tasks)."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        consultation = services.close(uow, current_principal(), consultation_id, now=runtime.now())
    return _out(consultation)


# -- recorded afterwards (补录) ------------------------------------------------------------------------


@blp.post("/consultations/recorded")
@blp.arguments(RecordedIn)
@blp.response(201, ConsultationOut)
@requires(*ORGANISERS)
def record_consultation(data):
    """Record a consultation held offline, afterwards (补录): when and where, its topics, the
    attendance by category, the decision with a resolution (a registered organisation, a deadline,
    what was agreed; ``topic_index`` from 0) for each adopted topic, or an explanation without
    consensus, and a link to the minutes. It is stored with its outcome published and told as a
    live one is: the topics' proposals move on in intake, tracking makes the resolutions tasks."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        consultation = services.record_consultation(uow, current_principal(), now=runtime.now(), **data)
    return _out(consultation)


@blp.post("/consultations/recorded/import")
@blp.response(200, RecordedImportOut)
@blp.alt_response(422, description="No row was recorded")
@blp.doc(requestBody=CSV_BODY)
@requires(*ORGANISERS)
def import_recorded():
    """Record consultations held offline from a CSV, one a row (header ``division_code,title,form,
    mode,held_at,venue,topics,attendees,decision,minutes_url``, optionally ``explanation`` and
    ``method``; topics separated by ``;``; attendees a total or 党员:5;居民代表:12; a time without
    zone is Beijing time). A row records the consultation, its topics and decision, no resolutions
    (they are in its minutes). Each row is reported ``ok`` or with its Chinese reasons; good rows
    are kept. 422 when no row was, 403 when every row is outside the caller's scope."""
    rows = recorded_rows(csv_text())
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        return services.import_recorded(uow, current_principal(), rows, now=runtime.now())


# -- participants (their own side) ---------------------------------------------------------------------


@blp.post("/consultations/<consultation_id>/rsvp")
@blp.arguments(RsvpIn)
@blp.response(200, ParticipationOut)
@requires(*PARTICIPANTS)
def rsvp(data, consultation_id: str):
    """The invited person's answer (accepted or declined), which may change until the start."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        return services.rsvp(uow, current_principal(), consultation_id, answer=data["answer"], now=runtime.now())


@blp.post("/consultations/<consultation_id>/profile")
@blp.arguments(ProfileIn)
@blp.response(200, ParticipationOut)
@requires(*PARTICIPANTS)
def profile(data, consultation_id: str):
    """Declare one's own profile (age band, occupation class, stakeholder type), each part
    optional: only ever counted in the participation figures, never shown."""
    with current_runtime().unit_of_work() as uow:
        return services.declare_profile(uow, current_principal(), consultation_id, **data)


@blp.post("/consultations/<consultation_id>/sign-in")
@blp.arguments(SignInIn)
@blp.response(200, ParticipationOut)
@requires(*PARTICIPANTS)
def sign_in(data, consultation_id: str):
    """Sign in at the venue with the attendance code (from one hour before the start)."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        return services.sign_in(uow, current_principal(), consultation_id, code=data["code"], now=runtime.now())


@blp.post("/consultations/<consultation_id>/join")
@blp.response(200, ParticipationOut)
@requires(*PARTICIPANTS)
def join(consultation_id: str):
    """Join an online or hybrid session: counts as attending (people at work take part too)."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        return services.join(uow, current_principal(), consultation_id, now=runtime.now())


# -- deliberation --------------------------------------------------------------------------------------


@blp.post("/consultations/<consultation_id>/rounds")
@blp.arguments(RoundIn)
@blp.response(201, RoundOut)
@requires(*ORGANISERS)
def open_round(data, consultation_id: str):
    """Schedule the next round of opinions (rounds never overlap)."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        return services.open_round(uow, current_principal(), consultation_id, now=runtime.now(), **data)


@blp.post("/consultations/<consultation_id>/rounds/<int:number>/summary")
@blp.arguments(SummaryIn)
@blp.response(200, RoundOut)
@requires(*ORGANISERS)
def summarise_round(data, consultation_id: str, number: int):
    """The organiser's summary of a closed round (once)."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        return services.summarise_round(
            uow, current_principal(), consultation_id, number, summary=data["summary"], now=runtime.now()
        )


@blp.get("/consultations/<consultation_id>/opinions")
@blp.response(200, DeliberationOut)
def list_opinions(consultation_id: str):
    """The rounds with their summaries and the opinions posted. Hidden opinions are shown to the
    consultation's organisers only, with the reason."""
    with current_runtime().unit_of_work() as uow:
        return services.list_opinions(uow, current_principal(), consultation_id)


@blp.post("/consultations/<consultation_id>/opinions")
@blp.arguments(OpinionIn)
@blp.response(201, OpinionOut)
@requires(*PARTICIPANTS)
def post_opinion(data, consultation_id: str):
    """An opinion on a topic while a round is open, by a resident of the division or someone
    invited; ``parent_id`` replies to another."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        return services.post_opinion(uow, current_principal(), consultation_id, now=runtime.now(), **data)


@blp.post("/consultations/<consultation_id>/opinions/<opinion_id>/hide")
@blp.arguments(ReasonIn)
@blp.response(200, OpinionOut)
@requires(*ORGANISERS)
def hide_opinion(data, consultation_id: str, opinion_id: str):
    """Hide an opinion (abuse, personal data…), the reason on the record."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        return services.hide_opinion(
            uow, current_principal(), consultation_id, opinion_id, reason=data["reason"], now=runtime.now()
        )


# -- deciding ------------------------------------------------------------------------------------------


@blp.post("/consultations/<consultation_id>/votes")
@blp.arguments(VoteIn)
@blp.response(201, VoteOut)
@requires(*PARTICIPANTS)
def cast_vote(data, consultation_id: str):
    """One vote per signed-in participant per topic, in session; a blocking objection says why."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        return services.cast_vote(uow, current_principal(), consultation_id, now=runtime.now(), **data)


@blp.get("/consultations/<consultation_id>/quality")
@blp.response(200, QualityOut)
@requires(*QUALITY_READERS)
def quality(consultation_id: str):
    """How well the consultation deliberated and whom it reached (attendance, the participants'
    mix, opinions, rounds, dissent) and its flags; nobody is named or singled out."""
    with current_runtime().unit_of_work() as uow:
        figures = services.quality(uow, current_principal(), consultation_id)
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
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        community, consultations = services.community_calendar(uow, code, now=runtime.now())
    body = calendar.community_calendar(community.name, consultations)
    response = Response(body.encode("utf-8"), content_type=calendar.CONTENT_TYPE)
    response.headers["Content-Disposition"] = f'inline; filename="{community.code}.ics"'
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
