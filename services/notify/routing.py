"""Who is told what: the one routing table from events to messages (a domain module, pure).

Each routed event type names one or more routes; a route names a template of ``domain.TEMPLATES``
and a recipients rule and, where the payload decides the wording, the payload value it is for
(``when``: an extension approved or refused, an escalation's level). The delivery of a routed event
(``services.deliver_event``) works out the recipients and the template's variables
(``recipients.py``) and writes, per recipient, an in-app message (channel ``app``) and an SMS
(channel ``sms``, queued for the sender) as the recipient's contact entry allows: its channels, its
opt-outs per category (``domain.category``: the template name's first word), a number that replied
退订, and its quiet hours (SMS wait until they end, unless the template is ``domain.URGENT``). Each
message is written once per (event, recipient, channel), so a redelivered event adds nothing, and a
person reached by two routes of one event (an invitee who also subscribes) hears it once, by the
first route.

================================ ========================== =========== ================================
event                            template                   rule        variables
================================ ========================== =========== ================================
intake.proposal.submitted        proposal_received          submitter   title
intake.proposal.accepted         proposal_accepted          proposal    relation, title
intake.proposal.rejected         proposal_rejected          proposal    relation, title, reason
intake.proposal.merged           proposal_merged            proposal    relation, title, into_title
intake.proposal.referred         proposal_referred          proposal    relation, title
meetings.consultation.scheduled  proposal_scheduled         topics      relation, title, starts_at
meetings.consultation.decided    proposal_decided           topics      relation, title
tracking.task.completed          proposal_resolved          topics      relation, title (a plain notice:
                                                                        the ask to rate is the rating
                                                                        request's, below)
tracking.rating.requested        rating_requested           raters      title, closes_at (the one ask to
                                                                        rate, with the deadline; SMS
                                                                        end with the board's link)
meetings.consultation.announced  consultation_announced     invitees    title, form_name, starts_at, place
                                 community_announced        subscribers title, form_name, starts_at, place
meetings.consultation.invited    consultation_announced     invitees    title, form_name, starts_at, place
                                 (someone invited after the announcement)
meetings.consultation.postponed  consultation_postponed     invitees    title, starts_at, reason
                                 community_postponed        subscribers title, starts_at, reason
meetings.consultation.relocated  consultation_relocated     invitees    title, place, starts_at, reason
                                 community_relocated        subscribers title, place, starts_at, reason
meetings.consultation.cancelled  consultation_cancelled     invited     title, reason
                                 community_cancelled        subscribers title, reason
meetings.outcome.published       community_outcome          subscribers title, decision (SMS end with the
                                                                        board's link)
tracking.task.assigned           task_assigned              department  title, due_at
tracking.task.reminded           task_reminded              department  title, due_at
tracking.task.escalated          task_escalated             department  title, reason (level 1, 督办)
                                 task_circulated            department  title, reason (level 2, 通报)
tracking.task.extended           task_extended              department  title, due_at (approved)
                                 proposal_extended          topics      relation, title, due_at (approved)
                                 task_extension_refused     department  title, due_at (refused)
                                 proposal_extension_refused topics      relation, title, due_at (refused)
tracking.task.reopened           task_reopened              department  title, reason, due_at
                                 proposal_reopened          topics      relation, title, reason, due_at
(24 h before a consultation)     consultation_reminder      invited     title, starts_at, place
(dead letters pile up)           operations_dead_letters    operators   service, count
================================ ========================== =========== ================================

One ask to rate per person: ``tracking.rating.requested`` carries it (tracking's exact raters and the
rating's deadline, ``closes_at``); ``tracking.task.completed`` only tells the topics' people that the
matter is done (已办结), without asking.

The last two rows are not events: ``periodic/reminders.py`` and ``periodic/dead_letters.py`` raise
them from notify's own clock, each under a deterministic id so it, too, is told once. A community
notice sent by hand (``NOTICE``, ``POST /api/v1/notify/sms/notices``) goes to the subscribers; one
about a matter (``proposal_id``) asks them to co-sign it by SMS.

SMS that ask something (``recipients.QUESTIONS``; the grammar and prompts: ``replies.py``): an
invitation (``consultation_announced``, and ``consultation_postponed`` for the new time) asks for
an RSVP until the start, the rating request for a rating until ``closes_at``, the receipt of a
matter raised by SMS (``proposal_received`` with channel ``sms``) gives its number for 查询 and
offers its likely duplicates (the event's ``similar``) to co-sign by digit. The question is kept
once per event and route (``sms_question``) and named by each of its SMS, whose text ends with the
prompt and the question's code; the app messages ask nothing. Answers to a resident's SMS (the
help, how to register, a status: ``REPLY_TEMPLATES``) go to the number that wrote, not along a route.

A matter's status (``MATTER_STATUS``: the events that move it) is kept in ``proposal_audience``
for an SMS 查询.

Recipients rules:

- ``submitter``: ``submitter_id`` of the payload.
- ``proposal`` (submitter + co-signers): ``submitter_id`` of the payload, then everyone currently
  co-signing ``proposal_id`` (``proposal_supporter``); a co-signer who withdrew is not told.
- ``topics`` (topics' submitters + co-signers): for each of the payload's ``proposal_ids``, its
  submitter (``proposal_audience``) and co-signers. Someone concerned by several of the topics gets
  one message, about the first proposal where they are the submitter, else the first they co-signed.
- ``invitees``: ``invitee_ids`` of the payload.
- ``raters``: ``rater_ids`` of the payload (tracking's people concerned by the task: its proposals'
  submitters and co-signers, the consultation's participants).
- ``invited``: the invitees kept from the consultation's announcement and postponements
  (``consultation.cancelled`` carries neither invitees nor the title).
- ``subscribers``: every resident contact of the event's community (``contact.community_code``); a
  resident leaves by opting out of the ``community`` category (or replying 退订 to stop all SMS).
- ``department``: the department contacts of the payload's ``department_id``.
- ``operators``: the operator contacts (kind ``operator``).

Rules that name accounts (submitter, co-signers, invitees, raters) reach a person in the app by
their account id and by SMS through the contact whose ``app_user_id`` is that account; rules that
name contacts reach them by SMS and, where the contact has an app account, in the app.

``relation`` is 提交 for a submitter and 附议 for a co-signer. Times are shown in Beijing time
(``domain.local_time``: 12月1日 09:00); the deadlines of an extension, a reopened task and a rating
request as their day (``domain.local_day``: 12月8日, a midnight deadline being the day before's end).

The board's link: when ``XIESHANG_PUBLIC_URL`` is set, the SMS of the templates in
``domain.BOARD_LINKED`` (the outcome notice and the rating request) end with
``详见社区公示栏:<XIESHANG_PUBLIC_URL>/public/<community code>``, the community's public board
(居务公开), counted in the SMS's length like every other character; the sender adds it when it
composes the text (``sms.compose_fitted``), so the URL in force then applies, and drops it rather
than fail when even a shortened title leaves no room for it. The app messages carry no link.

Messages carry no personal data beyond the title of the recipient's own matter (a merge also names
the proposal it joined, now also theirs); community notices name the consultation, which is public.
The titles, reasons and places in them are shown without the personal numbers and e-mail
addresses someone typed into them (``domain.FREE_TEXT``, ``shared.redaction``), in the app and by
SMS alike.

Audience replicas (ids only, idempotent; ``REPLICAS``):

================================ ====================================================================
event                            replica
================================ ====================================================================
intake.proposal.submitted        proposal_audience(proposal_id, community_code, title, submitter_id)
intake.proposal.supported        proposal_supporter(proposal_id, supporter_id); withdrawn deletes
intake.proposal.merged           the duplicate's co-signers and submitter move to the target (as
                                 intake moves them), except the target's own submitter
meetings.consultation.announced  consultation_audience(consultation_id, community_code, title),
                                 consultation_invitee(consultation_id, invitee_id)
meetings.consultation.invited    consultation_invitee (the invitee added)
meetings.consultation.postponed  as announced (title updated, invitees added)
meetings.consultation.relocated  as announced (place updated, for the reminder)
meetings.consultation.cancelled  consultation_audience.cancelled (no reminder is sent)
================================ ====================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from services.notify.domain import TEMPLATES

SUBMITTER = "submitter"
PROPOSAL = "proposal"
TOPICS = "topics"
INVITEES = "invitees"
RATERS = "raters"
INVITED = "invited"
SUBSCRIBERS = "subscribers"
DEPARTMENT = "department"
OPERATORS = "operators"
RULES = (SUBMITTER, PROPOSAL, TOPICS, INVITEES, RATERS, INVITED, SUBSCRIBERS, DEPARTMENT, OPERATORS)


ANNOUNCED = ("title", "form_name", "starts_at", "place")
# An escalation's level (left out by producers before levels: 督办) and an extension's decision.
STREET_LEVEL, DISTRICT_LEVEL = ("level", (1, None)), ("level", (2,))
APPROVED, REFUSED = ("approved", (True,)), ("approved", (False,))


@dataclass(frozen=True)
class Route:
    template: str
    recipients: str
    variables: tuple[str, ...]  # what the handler provides; must be exactly the template's
    # (payload field, the values it has for this route; None: the field left out), or every payload
    when: tuple[str, tuple] | None = None

    def applies(self, payload: dict) -> bool:
        """Whether this route tells of this payload (an extension approved, an escalation's level…)."""
        if self.when is None:
            return True
        name, values = self.when
        return payload.get(name) in values

    def __post_init__(self):
        if self.recipients not in RULES:
            raise ValueError(f"unknown recipients rule {self.recipients!r}")
        if self.template not in TEMPLATES:
            raise ValueError(f"unknown template {self.template!r}")
        if set(self.variables) != TEMPLATES[self.template].variables:
            raise ValueError(f"route of {self.template!r} provides {self.variables}, the template needs others")


ROUTES: dict[str, tuple[Route, ...]] = {
    "intake.proposal.submitted": (Route("proposal_received", SUBMITTER, ("title",)),),
    "intake.proposal.accepted": (Route("proposal_accepted", PROPOSAL, ("relation", "title")),),
    "intake.proposal.rejected": (Route("proposal_rejected", PROPOSAL, ("relation", "title", "reason")),),
    "intake.proposal.merged": (Route("proposal_merged", PROPOSAL, ("relation", "title", "into_title")),),
    "intake.proposal.referred": (Route("proposal_referred", PROPOSAL, ("relation", "title")),),
    "meetings.consultation.scheduled": (Route("proposal_scheduled", TOPICS, ("relation", "title", "starts_at")),),
    "meetings.consultation.decided": (Route("proposal_decided", TOPICS, ("relation", "title")),),
    "tracking.task.completed": (Route("proposal_resolved", TOPICS, ("relation", "title")),),
    "tracking.rating.requested": (Route("rating_requested", RATERS, ("title", "closes_at")),),
    "meetings.consultation.announced": (
        Route("consultation_announced", INVITEES, ANNOUNCED),
        Route("community_announced", SUBSCRIBERS, ANNOUNCED),
    ),
    "meetings.consultation.invited": (Route("consultation_announced", INVITEES, ANNOUNCED),),
    "meetings.consultation.postponed": (
        Route("consultation_postponed", INVITEES, ("title", "starts_at", "reason")),
        Route("community_postponed", SUBSCRIBERS, ("title", "starts_at", "reason")),
    ),
    "meetings.consultation.relocated": (
        Route("consultation_relocated", INVITEES, ("title", "place", "starts_at", "reason")),
        Route("community_relocated", SUBSCRIBERS, ("title", "place", "starts_at", "reason")),
    ),
    "meetings.consultation.cancelled": (
        Route("consultation_cancelled", INVITED, ("title", "reason")),
        Route("community_cancelled", SUBSCRIBERS, ("title", "reason")),
    ),
    "meetings.outcome.published": (Route("community_outcome", SUBSCRIBERS, ("title", "decision")),),
    "tracking.task.assigned": (Route("task_assigned", DEPARTMENT, ("title", "due_at")),),
    "tracking.task.reminded": (Route("task_reminded", DEPARTMENT, ("title", "due_at")),),
    "tracking.task.escalated": (
        Route("task_escalated", DEPARTMENT, ("title", "reason"), when=STREET_LEVEL),
        Route("task_circulated", DEPARTMENT, ("title", "reason"), when=DISTRICT_LEVEL),
    ),
    "tracking.task.extended": (
        Route("task_extended", DEPARTMENT, ("title", "due_at"), when=APPROVED),
        Route("proposal_extended", TOPICS, ("relation", "title", "due_at"), when=APPROVED),
        Route("task_extension_refused", DEPARTMENT, ("title", "due_at"), when=REFUSED),
        Route("proposal_extension_refused", TOPICS, ("relation", "title", "due_at"), when=REFUSED),
    ),
    "tracking.task.reopened": (
        Route("task_reopened", DEPARTMENT, ("title", "reason", "due_at")),
        Route("proposal_reopened", TOPICS, ("relation", "title", "reason", "due_at")),
    ),
}

# Raised by notify's own clock (periodic/), not by an event of another service.
REMINDER = Route("consultation_reminder", INVITED, ("title", "starts_at", "place"))
DEAD_LETTERS = Route("operations_dead_letters", OPERATORS, ("service", "count"))
# A community notice sent by hand (sms_api.py).
NOTICE = Route("community_notice", SUBSCRIBERS, ("content",))
# Answers to a resident's SMS, to the number that wrote (``services.reply``): no route, no event.
REPLY_TEMPLATES = ("reply_help", "reply_register", "reply_status")

# The status an event gives the matters it names (``proposal_id`` or ``proposal_ids``), kept in
# ``proposal_audience.status`` for an SMS 查询 (``domain.MATTER_STATUS`` names it).
MATTER_STATUS: dict[str, str] = {
    "intake.proposal.eligible": "eligible",
    "intake.proposal.accepted": "accepted",
    "intake.proposal.rejected": "rejected",
    "intake.proposal.merged": "merged",
    "intake.proposal.referred": "referred",
    "meetings.consultation.scheduled": "scheduled",
    "meetings.consultation.decided": "decided",
    "meetings.consultation.no_consensus": "accepted",
    "meetings.consultation.cancelled": "accepted",
    "tracking.task.started": "in_progress",
    "tracking.task.completed": "resolved",
    "tracking.task.reopened": "in_progress",
    "tracking.task.closed": "closed",
}

# Events kept in notify's audience replicas, and the tables they keep.
REPLICAS: dict[str, tuple[str, ...]] = {
    "intake.proposal.submitted": ("proposal_audience",),
    "intake.proposal.supported": ("proposal_supporter",),
    "intake.proposal.merged": ("proposal_supporter",),
    "meetings.consultation.announced": ("consultation_audience", "consultation_invitee"),
    "meetings.consultation.invited": ("consultation_audience", "consultation_invitee"),
    "meetings.consultation.postponed": ("consultation_audience", "consultation_invitee"),
    "meetings.consultation.relocated": ("consultation_audience", "consultation_invitee"),
    "meetings.consultation.cancelled": ("consultation_audience",),
}
