"""Who gets what: the recipients rules of the routing table (``routing.RULES``), the facts of each
routed event shown to every recipient, and the audience replicas that say whom a step concerns
(``routing.REPLICAS``), kept from other services' events (ids only, no personal data).

A rule gives either accounts (``domain.Recipient``, each with their own variables: a submitter's
relation to their proposal…) or a group of contacts all told the same (``domain.ContactGroup``: a
community's subscribers, a department's contacts, the operators). Every function here takes the
event's payload; the replicas' reads and writes are the repository's (``repository.py``), which
sees what earlier events of the same burst queued (support, then withdraw, then accept).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from services.notify import domain, replies, repository, routing
from services.notify.domain import ContactGroup, Recipient
from shared.uow import UnitOfWork

Recipients = list[Recipient]
Payload = dict


def accounts(user_ids_and_variables: Iterable[tuple[str, dict[str, str]]]) -> Recipients:
    return [Recipient(user_id, variables) for user_id, variables in user_ids_and_variables]


# -- recipients rules (routing.RULES) ----------------------------------------------------------------


def _concerned(uow: UnitOfWork, proposals: list[tuple[str, str, str]]) -> Recipients:
    """Submitters and co-signers of (proposal id, submitter id, title)s, each once: as a submitter
    where they submitted one of them, else as a co-signer of the first they co-signed."""
    supporters = repository.supporters(uow, [pid for pid, _, _ in proposals])
    told: dict[str, dict[str, str]] = {}
    for _, submitter, title in proposals:
        told.setdefault(submitter, {"relation": domain.SUBMITTER, "title": title})
    for pid, _, title in proposals:
        for supporter in supporters.get(pid, ()):
            told.setdefault(supporter, {"relation": domain.SUPPORTER, "title": title})
    return accounts(told.items())


def _submitter(uow: UnitOfWork, p: Payload) -> Recipients:
    return accounts([(p["submitter_id"], {"title": p["title"]})])


def _proposal(uow: UnitOfWork, p: Payload) -> Recipients:
    return _concerned(uow, [(p["proposal_id"], p["submitter_id"], p["title"])])


def _topics(uow: UnitOfWork, p: Payload) -> Recipients:
    ids = list(dict.fromkeys(p["proposal_ids"]))
    known = repository.proposal_audiences(uow, ids)
    return _concerned(uow, [(pid, known[pid]["submitter_id"], known[pid]["title"]) for pid in ids if pid in known])


def _invitees(uow: UnitOfWork, p: Payload) -> Recipients:
    title = p["title"]
    return accounts((who, {"title": title}) for who in dict.fromkeys(p["invitee_ids"]))


def _raters(uow: UnitOfWork, p: Payload) -> Recipients:
    title = p["title"]
    return accounts((who, {"title": title}) for who in dict.fromkeys(p["rater_ids"]))


def invited(uow: UnitOfWork, consultation_id: str) -> Recipients:
    """Everyone invited to a consultation so far (its announcement and postponements)."""
    title = repository.consultation_title(uow, consultation_id)
    if title is None:  # never announced: nobody was invited
        return []
    return accounts((invitee, {"title": title}) for invitee in repository.invitees(uow, consultation_id))


def _invited(uow: UnitOfWork, p: Payload) -> Recipients:
    return invited(uow, p["consultation_id"])


def _subscribers(uow: UnitOfWork, p: Payload) -> Recipients | ContactGroup:
    """Every resident contact of the community; the consultation's title is the event's or, for
    a cancellation or an outcome (which carry none), the announcement's."""
    title = p.get("title") or repository.consultation_title(uow, p["consultation_id"])
    if title is None:  # never announced: nothing the community was told about
        return []
    return subscribers(p["community_code"], {"title": title})


def subscribers(community_code: str, variables: dict[str, str]) -> ContactGroup:
    """A community's subscribers: its resident contacts (being in the directory is the subscription)."""
    return ContactGroup("resident", variables, community_code=community_code)


def _department(uow: UnitOfWork, p: Payload) -> ContactGroup:
    return ContactGroup("department_contact", {"title": p["title"]}, department_id=p["department_id"])


def operators() -> ContactGroup:
    return ContactGroup("operator", {})


RECIPIENTS: dict[str, Callable[[UnitOfWork, Payload], Recipients | ContactGroup]] = {
    routing.SUBMITTER: _submitter,
    routing.PROPOSAL: _proposal,
    routing.TOPICS: _topics,
    routing.INVITEES: _invitees,
    routing.RATERS: _raters,
    routing.INVITED: _invited,
    routing.SUBSCRIBERS: _subscribers,
    routing.DEPARTMENT: _department,
    routing.OPERATORS: lambda uow, p: operators(),
}


# -- the event's own facts, shown to every recipient ----------------------------------------------------


def _none(uow: UnitOfWork, p: Payload) -> dict[str, str]:
    return {}


def _reason(uow: UnitOfWork, p: Payload) -> dict[str, str]:
    return {"reason": p["reason"]}


def _starts_at(uow: UnitOfWork, p: Payload) -> dict[str, str]:
    return {"starts_at": domain.local_time(p["starts_at"])}


def _merged_into(uow: UnitOfWork, p: Payload) -> dict[str, str]:
    into = p["into_proposal_id"]
    target = repository.proposal_audiences(uow, [into]).get(into)
    return {"into_title": target["title"] if target else "同社区的另一条建议"}


def _announced(uow: UnitOfWork, p: Payload) -> dict[str, str]:
    return {
        "form_name": domain.form_name(p["form"]),
        "starts_at": domain.local_time(p["starts_at"]),
        "place": domain.place(p.get("venue"), p.get("online_link")),
    }


def _postponed(uow: UnitOfWork, p: Payload) -> dict[str, str]:
    return {**_starts_at(uow, p), **_reason(uow, p)}


def _relocated(uow: UnitOfWork, p: Payload) -> dict[str, str]:
    return {**_starts_at(uow, p), **_reason(uow, p), "place": domain.place(p.get("venue"), p.get("online_link"))}


def _outcome(uow: UnitOfWork, p: Payload) -> dict[str, str]:
    return {"decision": domain.OUTCOME_DECISIONS[p["decision"]]}


def _due(uow: UnitOfWork, p: Payload) -> dict[str, str]:
    return {"due_at": domain.local_time(p["due_at"])}


def _due_day(uow: UnitOfWork, p: Payload) -> dict[str, str]:
    """An extension's decision: the deadline now (the new one, or the same when refused)."""
    return {"due_at": domain.local_day(p["due_at"])}


def _reopened(uow: UnitOfWork, p: Payload) -> dict[str, str]:
    return {**_reason(uow, p), **_due_day(uow, p)}


def _closes(uow: UnitOfWork, p: Payload) -> dict[str, str]:
    return {"closes_at": domain.local_day(p["closes_at"])}


FACTS: dict[str, Callable[[UnitOfWork, Payload], dict[str, str]]] = {
    "intake.proposal.submitted": _none,
    "intake.proposal.accepted": _none,
    "intake.proposal.rejected": _reason,
    "intake.proposal.merged": _merged_into,
    "intake.proposal.referred": _none,
    "meetings.consultation.scheduled": _starts_at,
    "meetings.consultation.decided": _none,
    "tracking.task.completed": _none,
    "tracking.rating.requested": _closes,
    "meetings.consultation.announced": _announced,
    "meetings.consultation.invited": _announced,
    "meetings.consultation.postponed": _postponed,
    "meetings.consultation.relocated": _relocated,
    "meetings.consultation.cancelled": _reason,
    "meetings.outcome.published": _outcome,
    "tracking.task.assigned": _due,
    "tracking.task.reminded": _due,
    "tracking.task.escalated": _reason,
    "tracking.task.extended": _due_day,
    "tracking.task.reopened": _reopened,
}


# -- what an SMS asks (services/notify/replies.py) ----------------------------------------------------------

SUPPORT_OPEN = timedelta(days=30)  # a notice's call to co-sign
RECEIPT_OPEN = timedelta(days=180)  # a receipt's number, for 查询 (its duplicates' digits too)


def _moment(value) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def asking(
    kind: str, target_id: str, community_code: str | None, event_id: str, template: str, now: datetime, *,
    expires_at: datetime, options: list[dict] | None = None,
) -> dict:  # fmt: skip
    """The row of a question an event's route asks (``sms_question``), its id and code derived from
    the event, so a redelivery asks nothing new."""
    question_id = domain.question_id(event_id, template)
    return {
        "id": question_id,
        "code": replies.code_of(question_id),
        "kind": kind,
        "target_id": target_id,
        "community_code": community_code,
        "options": options,
        "created_at": now,
        "expires_at": expires_at,
    }


def _rsvp(p: Payload, event_id: str, template: str, now: datetime) -> dict:
    starts_at = _moment(p["starts_at"])
    return asking(
        replies.RSVP, p["consultation_id"], p["community_code"], event_id, template, now, expires_at=starts_at
    )


def _rating(p: Payload, event_id: str, template: str, now: datetime) -> dict:
    closes_at = _moment(p["closes_at"])
    return asking(replies.RATING, p["task_id"], p["community_code"], event_id, template, now, expires_at=closes_at)


def _receipt(p: Payload, event_id: str, template: str, now: datetime) -> dict | None:
    """A matter raised by SMS: its receipt gives its number (for 查询) and offers its likely
    duplicates to co-sign instead, by digit."""
    if p.get("channel") != "sms":
        return None
    offered = [{"proposal_id": s["proposal_id"], "title": s["title"]} for s in p.get("similar", [])]
    offered = offered[: replies.MAX_PICKS]
    kind = replies.PICK if offered else replies.STATUS
    return asking(kind, p["proposal_id"], p["community_code"], event_id, template, now,
                  expires_at=now + RECEIPT_OPEN, options=offered or None)  # fmt: skip


# The templates whose SMS ask something, and what (by the event's payload).
QUESTIONS: dict[str, Callable[[Payload, str, str, datetime], dict | None]] = {
    "consultation_announced": _rsvp,  # the invitees' invitation (announced, or invited later)
    "consultation_postponed": _rsvp,  # asked again for the new time
    "rating_requested": _rating,
    "proposal_received": _receipt,
}


def question(template: str, p: Payload, event_id: str, now: datetime) -> dict | None:
    """What the SMS of a route asks, or None."""
    ask = QUESTIONS.get(template)
    return None if ask is None else ask(p, event_id, template, now)


# -- audience replicas (routing.REPLICAS) -----------------------------------------------------------------


def keep_proposal(uow: UnitOfWork, p: Payload) -> None:
    repository.keep_proposal(uow, p["proposal_id"], p["community_code"], p["title"], p["submitter_id"])


def keep_support(uow: UnitOfWork, p: Payload) -> None:
    if p["withdrawn"]:
        repository.remove_supporter(uow, p["proposal_id"], p["supporter_id"])
    else:
        repository.add_supporter(uow, p["proposal_id"], p["supporter_id"])


def move_supporters(uow: UnitOfWork, p: Payload) -> None:
    """A merged duplicate's co-signers and submitter now support the target (as intake moves them)."""
    source, target = p["proposal_id"], p["into_proposal_id"]
    moving = set(repository.supporters(uow, [source]).get(source, [])) | {p["submitter_id"]}
    target_row = repository.proposal_audiences(uow, [target]).get(target)
    if target_row:
        moving.discard(target_row["submitter_id"])
    for who in sorted(moving):
        repository.add_supporter(uow, target, who)
    repository.remove_supporters(uow, source)


def _when(p: Payload) -> dict:
    """What an announcement, postponement or move says of the consultation: title, start and, where
    given, the place (a postponement keeps the place announced)."""
    when = {
        "title": p["title"],
        "starts_at": datetime.fromisoformat(p["starts_at"]) if isinstance(p["starts_at"], str) else p["starts_at"],
    }
    if "venue" in p:
        when["place"] = domain.place(p.get("venue"), p.get("online_link"))
    return when


def keep_consultation(uow: UnitOfWork, p: Payload) -> None:
    repository.keep_consultation(uow, p["consultation_id"], p["community_code"], _when(p))
    repository.add_invitees(uow, p["consultation_id"], dict.fromkeys(p["invitee_ids"]))


def keep_invitation(uow: UnitOfWork, p: Payload) -> None:
    """As ``keep_consultation``; and a reminder already sent missed the newcomer: the next pass sends
    it again under the same id, so only the newcomer's messages are new."""
    repository.keep_consultation(uow, p["consultation_id"], p["community_code"], {**_when(p), "reminded_for": None})
    repository.add_invitees(uow, p["consultation_id"], dict.fromkeys(p["invitee_ids"]))


def keep_cancellation(uow: UnitOfWork, p: Payload) -> None:
    repository.cancel_consultation(uow, p["consultation_id"])


KEEPERS: dict[str, Callable[[UnitOfWork, Payload], None]] = {
    "intake.proposal.submitted": keep_proposal,
    "intake.proposal.supported": keep_support,
    "intake.proposal.merged": move_supporters,
    "meetings.consultation.announced": keep_consultation,
    "meetings.consultation.invited": keep_invitation,
    "meetings.consultation.postponed": keep_consultation,
    "meetings.consultation.relocated": keep_consultation,
    "meetings.consultation.cancelled": keep_cancellation,
}
