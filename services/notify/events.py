"""What notify consumes: the steps residents hear about (``routing.ROUTES``) and the audience
replicas that say whom a step concerns (``routing.REPLICAS``).

Handlers only queue writes (``uow.insert_once``, written in bulk at commit). Where a handler reads
or deletes replica rows it first flushes what earlier events of the same burst queued, so a burst
sees its own writes in order (support, then withdraw, then accept).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from sqlalchemy import delete, select, update

from services.notify import domain, routing
from services.notify.delivery import Contacts, Recipient, accounts, deliver
from services.notify.models import (
    consultation_audience,
    consultation_invitees,
    contacts,
    divisions,
    proposal_audience,
    proposal_supporters,
)
from shared.division_registry import replica_handler
from shared.divisions import EVENT_TYPE as DIVISIONS_CHANGED
from shared.events import Envelope
from shared.uow import UnitOfWork

Recipients = list[Recipient]


# -- replica reads ------------------------------------------------------------------------------------


def _audiences(uow: UnitOfWork, proposal_ids: Iterable[str]) -> dict[str, dict]:
    uow.flush()
    a = proposal_audience.c
    rows = uow.session.execute(select(proposal_audience).where(a.proposal_id.in_(list(proposal_ids)))).mappings()
    return {row["proposal_id"]: dict(row) for row in rows}


def _supporters(uow: UnitOfWork, proposal_ids: Iterable[str]) -> dict[str, list[str]]:
    uow.flush()
    s = proposal_supporters.c
    found: dict[str, list[str]] = {}
    for row in uow.session.execute(
        select(s.proposal_id, s.supporter_id).where(s.proposal_id.in_(list(proposal_ids))).order_by(s.supporter_id)
    ):
        found.setdefault(row.proposal_id, []).append(row.supporter_id)
    return found


# -- recipients rules (routing.RULES) ----------------------------------------------------------------


def _concerned(uow: UnitOfWork, proposals: list[tuple[str, str, str]]) -> Recipients:
    """Submitters and co-signers of (proposal id, submitter id, title)s, each once: as a submitter
    where they submitted one of them, else as a co-signer of the first they co-signed."""
    supporters = _supporters(uow, [pid for pid, _, _ in proposals])
    told: dict[str, dict[str, str]] = {}
    for _, submitter, title in proposals:
        told.setdefault(submitter, {"relation": domain.SUBMITTER, "title": title})
    for pid, _, title in proposals:
        for supporter in supporters.get(pid, ()):
            told.setdefault(supporter, {"relation": domain.SUPPORTER, "title": title})
    return accounts(told.items())


def _submitter(uow: UnitOfWork, event: Envelope) -> Recipients:
    return accounts([(event.payload["submitter_id"], {"title": event.payload["title"]})])


def _proposal(uow: UnitOfWork, event: Envelope) -> Recipients:
    p = event.payload
    return _concerned(uow, [(p["proposal_id"], p["submitter_id"], p["title"])])


def _topics(uow: UnitOfWork, event: Envelope) -> Recipients:
    ids = list(dict.fromkeys(event.payload["proposal_ids"]))
    known = _audiences(uow, ids)
    return _concerned(uow, [(pid, known[pid]["submitter_id"], known[pid]["title"]) for pid in ids if pid in known])


def _invitees(uow: UnitOfWork, event: Envelope) -> Recipients:
    title = event.payload["title"]
    return accounts((who, {"title": title}) for who in dict.fromkeys(event.payload["invitee_ids"]))


def invited(uow: UnitOfWork, consultation_id: str) -> Recipients:
    """Everyone invited to a consultation so far (its announcement and postponements)."""
    uow.flush()
    c, i = consultation_audience.c, consultation_invitees.c
    title = uow.session.scalar(select(c.title).where(c.consultation_id == consultation_id))
    if title is None:  # never announced: nobody was invited
        return []
    who = uow.session.scalars(select(i.invitee_id).where(i.consultation_id == consultation_id).order_by(i.invitee_id))
    return accounts((invitee, {"title": title}) for invitee in who)


def _invited(uow: UnitOfWork, event: Envelope) -> Recipients:
    return invited(uow, event.payload["consultation_id"])


def _consultation_title(uow: UnitOfWork, consultation_id: str) -> str | None:
    uow.flush()
    c = consultation_audience.c
    return uow.session.scalar(select(c.title).where(c.consultation_id == consultation_id))


def _subscribers(uow: UnitOfWork, event: Envelope) -> Recipients | Contacts:
    """Every resident contact of the community; the consultation's title is the event's or, for
    a cancellation or an outcome (which carry none), the announcement's."""
    p = event.payload
    title = p.get("title") or _consultation_title(uow, p["consultation_id"])
    if title is None:  # never announced: nothing the community was told about
        return []
    return subscribers(p["community_code"], {"title": title})


def subscribers(community_code: str, variables: dict[str, str]) -> Contacts:
    k = contacts.c
    return Contacts((k.community_code == community_code, k.kind == "resident"), variables)


def _department(uow: UnitOfWork, event: Envelope) -> Contacts:
    p = event.payload
    k = contacts.c
    return Contacts((k.kind == "department_contact", k.department_id == p["department_id"]), {"title": p["title"]})


def operators(uow: UnitOfWork) -> Contacts:
    return Contacts((contacts.c.kind == "operator",), {})


RECIPIENTS: dict[str, Callable[[UnitOfWork, Envelope], Recipients | Contacts]] = {
    routing.SUBMITTER: _submitter,
    routing.PROPOSAL: _proposal,
    routing.TOPICS: _topics,
    routing.INVITEES: _invitees,
    routing.INVITED: _invited,
    routing.SUBSCRIBERS: _subscribers,
    routing.DEPARTMENT: _department,
    routing.OPERATORS: lambda uow, event: operators(uow),
}


# -- the event's own facts, shown to every recipient ----------------------------------------------------


def _none(uow: UnitOfWork, event: Envelope) -> dict[str, str]:
    return {}


def _reason(uow: UnitOfWork, event: Envelope) -> dict[str, str]:
    return {"reason": event.payload["reason"]}


def _starts_at(uow: UnitOfWork, event: Envelope) -> dict[str, str]:
    return {"starts_at": domain.local_time(event.payload["starts_at"])}


def _merged_into(uow: UnitOfWork, event: Envelope) -> dict[str, str]:
    into = event.payload["into_proposal_id"]
    target = _audiences(uow, [into]).get(into)
    return {"into_title": target["title"] if target else "同社区的另一条建议"}


def _announced(uow: UnitOfWork, event: Envelope) -> dict[str, str]:
    p = event.payload
    return {
        "form_name": domain.form_name(p["form"]),
        "starts_at": domain.local_time(p["starts_at"]),
        "place": domain.place(p.get("venue"), p.get("online_link")),
    }


def _postponed(uow: UnitOfWork, event: Envelope) -> dict[str, str]:
    return {**_starts_at(uow, event), **_reason(uow, event)}


def _relocated(uow: UnitOfWork, event: Envelope) -> dict[str, str]:
    p = event.payload
    return {
        **_starts_at(uow, event),
        **_reason(uow, event),
        "place": domain.place(p.get("venue"), p.get("online_link")),
    }


def _outcome(uow: UnitOfWork, event: Envelope) -> dict[str, str]:
    return {"decision": domain.OUTCOME_DECISIONS[event.payload["decision"]]}


def _due(uow: UnitOfWork, event: Envelope) -> dict[str, str]:
    return {"due_at": domain.local_time(event.payload["due_at"])}


FACTS: dict[str, Callable[[UnitOfWork, Envelope], dict[str, str]]] = {
    "intake.proposal.submitted": _none,
    "intake.proposal.accepted": _none,
    "intake.proposal.rejected": _reason,
    "intake.proposal.merged": _merged_into,
    "intake.proposal.referred": _none,
    "meetings.consultation.scheduled": _starts_at,
    "meetings.consultation.decided": _none,
    "tracking.task.completed": _none,
    "meetings.consultation.announced": _announced,
    "meetings.consultation.invited": _announced,
    "meetings.consultation.postponed": _postponed,
    "meetings.consultation.relocated": _relocated,
    "meetings.consultation.cancelled": _reason,
    "meetings.outcome.published": _outcome,
    "tracking.task.assigned": _due,
    "tracking.task.reminded": _due,
    "tracking.task.escalated": _reason,
}


def notify(uow: UnitOfWork, event: Envelope) -> None:
    """Fan an event out along its routes: per recipient, the app message and SMS its entry allows."""
    facts = FACTS[event.type](uow, event)
    now = datetime.now(UTC)
    division_code = event.payload.get("community_code") or event.division_code
    for route in routing.ROUTES[event.type]:
        deliver(
            uow,
            route=route,
            recipients=RECIPIENTS[route.recipients](uow, event),
            facts=facts,
            event_id=event.id,
            division_code=division_code,
            now=now,
        )


# -- audience replicas (routing.REPLICAS) -----------------------------------------------------------------


def keep_proposal(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    uow.insert_once(
        proposal_audience,
        {
            "proposal_id": p["proposal_id"],
            "community_code": p["community_code"],
            "title": p["title"],
            "submitter_id": p["submitter_id"],
        },
    )


def keep_support(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    if p["withdrawn"]:
        uow.flush()  # a support queued earlier in this burst must be there to be deleted
        s = proposal_supporters.c
        uow.session.execute(
            delete(proposal_supporters).where(s.proposal_id == p["proposal_id"], s.supporter_id == p["supporter_id"])
        )
    else:
        uow.insert_once(proposal_supporters, {"proposal_id": p["proposal_id"], "supporter_id": p["supporter_id"]})


def move_supporters(uow: UnitOfWork, event: Envelope) -> None:
    """A merged duplicate's co-signers and submitter now support the target (as intake moves them)."""
    p = event.payload
    source, target = p["proposal_id"], p["into_proposal_id"]
    moving = set(_supporters(uow, [source]).get(source, [])) | {p["submitter_id"]}
    target_row = _audiences(uow, [target]).get(target)
    if target_row:
        moving.discard(target_row["submitter_id"])
    for who in sorted(moving):
        uow.insert_once(proposal_supporters, {"proposal_id": target, "supporter_id": who})
    uow.session.execute(delete(proposal_supporters).where(proposal_supporters.c.proposal_id == source))


def keep_consultation(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    c = consultation_audience.c
    when = {
        "title": p["title"],
        "starts_at": datetime.fromisoformat(p["starts_at"]) if isinstance(p["starts_at"], str) else p["starts_at"],
        "place": domain.place(p.get("venue"), p.get("online_link")) if "venue" in p else None,
    }
    if when["place"] is None:  # a postponement keeps the place announced
        del when["place"]
    if event.type == "meetings.consultation.invited":
        # A reminder already sent missed the newcomer: the next pass sends it again under the same
        # id, so only the newcomer's messages are new.
        when["reminded_for"] = None
    uow.insert_once(
        consultation_audience,
        {
            "consultation_id": p["consultation_id"],
            "community_code": p["community_code"],
            "place": None,
            "cancelled": False,
            "reminded_for": None,
            **when,
        },
    )
    # An existing row takes a changed title and time; a new one is inserted with them at commit.
    uow.session.execute(update(consultation_audience).where(c.consultation_id == p["consultation_id"]).values(**when))
    for who in dict.fromkeys(p["invitee_ids"]):
        uow.insert_once(consultation_invitees, {"consultation_id": p["consultation_id"], "invitee_id": who})


def keep_cancellation(uow: UnitOfWork, event: Envelope) -> None:
    uow.flush()
    consultation_id = event.payload["consultation_id"]
    c = consultation_audience.c
    uow.session.execute(
        update(consultation_audience).where(c.consultation_id == consultation_id).values(cancelled=True)
    )


KEEPERS: dict[str, Callable[[UnitOfWork, Envelope], None]] = {
    "intake.proposal.submitted": keep_proposal,
    "intake.proposal.supported": keep_support,
    "intake.proposal.merged": move_supporters,
    "meetings.consultation.announced": keep_consultation,
    "meetings.consultation.invited": keep_consultation,
    "meetings.consultation.postponed": keep_consultation,
    "meetings.consultation.relocated": keep_consultation,
    "meetings.consultation.cancelled": keep_cancellation,
}


def _handler(event_type: str) -> Callable[[UnitOfWork, Envelope], None]:
    """Notify first (a merge tells the duplicate's co-signers before they move), then keep."""
    steps = [notify] if event_type in routing.ROUTES else []
    if event_type in KEEPERS:
        steps.append(KEEPERS[event_type])

    def handle(uow: UnitOfWork, event: Envelope) -> None:
        for step in steps:
            step(uow, event)

    handle.__name__ = f"on_{event_type.replace('.', '_')}"
    return handle


HANDLERS = {
    **{event_type: _handler(event_type) for event_type in {**routing.ROUTES, **KEEPERS}},
    DIVISIONS_CHANGED: replica_handler(divisions),
}
