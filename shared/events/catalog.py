"""Every event the platform publishes, one payload schema per (type, version).

Payloads carry ids and facts about matters, never phone numbers or names of people (DESIGN.md).
What people typed (a title, a reason, a venue, what was agreed) is a ``FreeText`` field: a
producer's payload is loaded when its event is made (``new_event``), and that load hides the personal
numbers and e-mail addresses in it (``shared.redaction``), so a resident's ``请联系13812345678张三``
reaches no outbox, broker, replica of another service or dead letter. A consumer checks a received
payload without changing it; the places that show text (notify's messages, the public board, the
calendar, Open311) redact it again, for events of producers that did not.
A new version of an event is a new schema beside the old one; consumers accept both while any
producer still sends the old one.
"""

from marshmallow import Schema, fields, validate

from shared.events.registry import register
from shared.fields import Moment, Whole
from shared.redaction import redact
from shared.vocabulary import CHANNELS, CONTACT_KINDS, DIVISION_LEVELS, ORIGINS

DIVISION_CODE = validate.Regexp(r"^\d{12}$", error="必须是12位统计用区划代码")


class _Payload(Schema):
    class Meta:
        ordered = True


class FreeText(fields.String):
    """A text someone typed, kept without the personal numbers and e-mail addresses in it (redacting
    never lengthens a text, so a length limit holds after it)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return redact(super()._deserialize(value, attr, data, **kwargs))


# -- intake -----------------------------------------------------------------------------------


@register("intake.proposal.submitted")
class ProposalSubmitted(_Payload):
    proposal_id = fields.String(required=True)
    community_code = fields.String(required=True, validate=DIVISION_CODE)
    submitter_id = fields.String(required=True)
    title = FreeText(required=True, validate=validate.Length(min=1, max=200))
    category = fields.String(required=True)
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    origin = fields.String(required=True, validate=validate.OneOf(ORIGINS))
    submitted_at = Moment(required=True)
    # A matter raised by SMS: the likely duplicates its receipt offers to co-sign instead (by digit).
    similar = fields.List(fields.Nested(lambda: SimilarRecord()), load_default=list, validate=validate.Length(max=3))


class SimilarRecord(Schema):
    proposal_id = fields.String(required=True, validate=validate.Length(min=1, max=36))
    title = FreeText(required=True, validate=validate.Length(min=1, max=200))


# -- division registry (owned by tracking, replicated to every service) -----------------------


class DivisionRecord(Schema):
    code = fields.String(required=True, validate=DIVISION_CODE)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    level = fields.String(required=True, validate=validate.OneOf(DIVISION_LEVELS))
    parent_code = fields.String(required=True, allow_none=True, validate=DIVISION_CODE)
    source = fields.String(required=True, validate=validate.Length(min=1, max=32))
    active = fields.Boolean(required=True)


@register("tracking.divisions.changed")
class DivisionsChanged(_Payload):
    batch_id = fields.String(required=True)
    part = Whole(required=True, validate=validate.Range(min=1))
    parts = Whole(required=True, validate=validate.Range(min=1))
    divisions = fields.List(fields.Nested(DivisionRecord), required=True)


class _ProposalRef(_Payload):
    proposal_id = fields.String(required=True)
    community_code = fields.String(required=True, validate=DIVISION_CODE)


@register("intake.proposal.supported")
class ProposalSupported(_ProposalRef):
    supporter_id = fields.String(required=True)
    withdrawn = fields.Boolean(required=True)
    supporters = Whole(required=True, validate=validate.Range(min=0))


@register("intake.proposal.eligible")
class ProposalEligible(_ProposalRef):
    supporters = Whole(required=True)
    threshold = Whole(required=True)


class _Triaged(_ProposalRef):
    submitter_id = fields.String(required=True)
    title = FreeText(required=True)
    actor_id = fields.String(required=True)


@register("intake.proposal.accepted")
class ProposalAccepted(_Triaged):
    category = fields.String(required=True)
    origin = fields.String(required=True, validate=validate.OneOf(ORIGINS))


@register("intake.proposal.rejected")
class ProposalRejected(_Triaged):
    reason = FreeText(required=True, validate=validate.Length(min=1, max=500))


@register("intake.proposal.merged")
class ProposalMerged(_Triaged):
    into_proposal_id = fields.String(required=True)
    supporters_moved = Whole(required=True)


@register("intake.proposal.referred")
class ProposalReferred(_Triaged):
    category = fields.String(required=True)
    department_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    note = FreeText(required=True, validate=validate.Length(max=500))


# -- meetings and tracking events that move a proposal along (produced by those services) -------


class _Topics(_Payload):
    consultation_id = fields.String(required=True)
    community_code = fields.String(required=True, validate=validate.Regexp(r"^\d{9}(\d{3})?$"))
    proposal_ids = fields.List(fields.String(), required=True)


@register("meetings.consultation.scheduled")
class ConsultationScheduled(_Topics):
    starts_at = Moment(required=True)


@register("meetings.consultation.decided")
class ConsultationDecided(_Topics):
    pass


@register("meetings.consultation.no_consensus")
class ConsultationNoConsensus(_Topics):
    pass


@register("meetings.consultation.cancelled")
class ConsultationCancelled(_Topics):
    reason = FreeText(required=True)


class _TaskProgress(_Payload):
    task_id = fields.String(required=True)
    community_code = fields.String(required=True, validate=DIVISION_CODE)
    proposal_ids = fields.List(fields.String(), required=True)


@register("tracking.task.started")
class TaskStarted(_TaskProgress):
    pass


@register("tracking.task.completed")
class TaskCompleted(_TaskProgress):
    pass


@register("tracking.task.closed")
class TaskClosed(_TaskProgress):
    pass


# Tracking's steps of a task that concern its responsible organisation (``department_id``: any kind
# of organisation, notify's department contacts): assigned, accepted, reminded (催办), escalated
# (督办, 通报), extended, reopened.
class _DepartmentTask(_TaskProgress):
    department_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    title = FreeText(required=True, validate=validate.Length(min=1, max=200))


@register("tracking.task.assigned")
class TaskAssigned(_DepartmentTask):
    due_at = Moment(required=True)


@register("tracking.task.reminded")
class TaskReminded(_DepartmentTask):
    due_at = Moment(required=True)


@register("tracking.task.escalated")
class TaskEscalated(_DepartmentTask):
    reason = FreeText(required=True, validate=validate.Length(min=1, max=500))
    level = Whole(load_default=1, validate=validate.Range(min=1, max=2))  # 1 street (督办), 2 district (通报)


class OrganisationRecord(Schema):
    id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    kind = fields.String(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    scope = fields.String(required=True, validate=validate.Regexp(r"^\d{2,12}$"))
    active = fields.Boolean(required=True)


@register("tracking.organisations.changed")
class OrganisationsChanged(_Payload):
    """Organisations that carry outcomes out, new or changed: meetings and intake keep a replica to
    check that a resolution or a referral names a registered one."""

    organisations = fields.List(fields.Nested(OrganisationRecord), required=True)


@register("tracking.task.accepted")
class TaskAccepted(_DepartmentTask):
    accepted_at = Moment(required=True)
    within_a_day = fields.Boolean(required=True)  # counts toward 响应率


@register("tracking.task.progressed")
class TaskProgressed(_TaskProgress):
    percent = Whole(required=True, validate=validate.Range(min=0, max=100))


@register("tracking.task.extended")
class TaskExtended(_DepartmentTask):
    """The supervising level's decision on an extension request (residents are told either way)."""

    approved = fields.Boolean(required=True)
    days = Whole(required=True, validate=validate.Range(min=1, max=366))
    due_at = Moment(required=True)


@register("tracking.task.reopened")
class TaskReopened(_DepartmentTask):
    reason = FreeText(required=True, validate=validate.Length(min=1, max=500))
    due_at = Moment(required=True)


@register("tracking.task.evaluated")
class TaskEvaluated(_TaskProgress):
    ratings = Whole(required=True)
    satisfied = Whole(required=True)  # 满意 + 基本满意


@register("tracking.rating.requested")
class RatingRequested(_TaskProgress):
    """Ask the people concerned (ids only) to rate a completed task before ``closes_at``."""

    title = FreeText(required=True, validate=validate.Length(min=1, max=200))
    consultation_id = fields.String(allow_none=True, load_default=None)
    rater_ids = fields.List(fields.String(validate=validate.Length(min=1, max=64)), required=True)
    closes_at = Moment(required=True)


# -- meetings: the procedure's other steps -----------------------------------------------------------


class _Consultation(_Topics):
    title = FreeText(required=True)
    form = fields.String(required=True)
    mode = fields.String(required=True)


@register("meetings.consultation.announced")
class ConsultationAnnounced(_Consultation):
    starts_at = Moment(required=True)
    venue = FreeText(allow_none=True, load_default=None)
    online_link = FreeText(allow_none=True, load_default=None)
    invitee_ids = fields.List(fields.String(), required=True)


@register("meetings.consultation.invited")
class ConsultationInvited(_Consultation):
    """Someone invited after the announcement: their invitation (the announcement's facts)."""

    starts_at = Moment(required=True)
    venue = FreeText(allow_none=True, load_default=None)
    online_link = FreeText(allow_none=True, load_default=None)
    invitee_ids = fields.List(fields.String(), required=True)


@register("meetings.consultation.relocated")
class ConsultationRelocated(_Consultation):
    """Another venue or online link, at the same time."""

    starts_at = Moment(required=True)
    venue = FreeText(allow_none=True, load_default=None)
    online_link = FreeText(allow_none=True, load_default=None)
    reason = FreeText(required=True)
    invitee_ids = fields.List(fields.String(), required=True)


@register("meetings.consultation.postponed")
class ConsultationPostponed(_Consultation):
    starts_at = Moment(required=True)
    previous_starts_at = Moment(required=True)
    reason = FreeText(required=True)
    invitee_ids = fields.List(fields.String(), required=True)


@register("meetings.consultation.started")
class ConsultationStarted(_Topics):
    attendees = Whole(required=True)


@register("meetings.consultation.held")
class ConsultationHeld(_Topics):
    """Counted by tracking for coverage and regularity: a consultation took place, with its figures."""

    held_at = Moment(required=True)
    form = fields.String(required=True)
    mode = fields.String(required=True)
    decision = fields.String(required=True)
    attendees = Whole(required=True)
    origins = fields.Dict(keys=fields.String(), values=Whole(), required=True)  # topics by origin
    # Held in a room and recorded in the platform afterwards (补录): counted like any other.
    recorded_afterwards = fields.Boolean(load_default=False)
    # The participation mix of the attendees (counts; nobody named): those who declared an age
    # band and how many of them are under 45, those who declared an occupation and how many are
    # not retired, and the attendees invited for a social organisation.
    mix = fields.Nested(lambda: ParticipationMix(), load_default=None, allow_none=True)


class ParticipationMix(Schema):
    declared_age = Whole(required=True, validate=validate.Range(min=0))
    under_45 = Whole(required=True, validate=validate.Range(min=0))
    declared_occupation = Whole(required=True, validate=validate.Range(min=0))
    not_retired = Whole(required=True, validate=validate.Range(min=0))
    social_organisations = Whole(required=True, validate=validate.Range(min=0))


class _TopicOutcome(Schema):
    topic_id = fields.String(required=True)
    title = FreeText(required=True)
    origin = fields.String(required=True)
    proposal_id = fields.String(allow_none=True, required=True)
    adopted = fields.Boolean(required=True)
    support = Whole(required=True)
    oppose = Whole(required=True)
    abstain = Whole(required=True)
    block = Whole(required=True)
    dissent_reasons = fields.List(FreeText(), required=True)


class _Resolution(Schema):
    resolution_id = fields.String(required=True)
    topic_id = fields.String(required=True)
    proposal_id = fields.String(allow_none=True, required=True)
    # The registered organisation that carries it out (tracking's registry); None in resolutions
    # published before resolutions named one. ``responsible_party``: its name.
    organisation_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))
    responsible_party = FreeText(required=True)
    deadline = fields.Date(required=True)
    agreed = FreeText(required=True)


@register("meetings.outcome.published")
class OutcomePublished(_Topics):
    decision = fields.String(required=True, validate=validate.OneOf(("decided", "no_consensus")))
    method = fields.String(required=True)
    published_at = Moment(required=True)
    explanation = FreeText(allow_none=True, required=True)
    topics = fields.List(fields.Nested(_TopicOutcome), required=True)
    resolutions = fields.List(fields.Nested(_Resolution), required=True)
    recorded_afterwards = fields.Boolean(load_default=False)  # held offline, recorded afterwards (补录)


# -- notify: the contact directory ------------------------------------------------------------------


class ContactRecord(Schema):
    """A contact of the directory, ids only: never its number, never a name."""

    contact_id = fields.String(required=True, validate=validate.Length(min=1, max=36))
    app_user_id = fields.String(required=True, allow_none=True, validate=validate.Length(min=1, max=64))
    kind = fields.String(required=True, validate=validate.OneOf(CONTACT_KINDS))
    community_code = fields.String(required=True, validate=DIVISION_CODE)
    removed = fields.Boolean(required=True)  # removal is final: a contact removed never returns


@register("notify.contacts.changed")
class ContactsChanged(_Payload):
    """Contacts of notify's directory added, changed or removed (at most 500 an event): meetings
    keeps a replica to check that an invitation names a known person of the consultation's area."""

    contacts = fields.List(fields.Nested(ContactRecord), required=True, validate=validate.Length(min=1, max=500))


REPLY_KINDS = ("support", "rsvp", "rating", "matter")


@register("notify.reply.received")
class ReplyReceived(_Payload):
    """A resident's SMS reply, read by notify (``services/notify/replies.py``), for the service whose
    use case it calls: co-sign a matter (intake; ``target_id`` the proposal), answer an invitation
    (meetings; the consultation, ``answer`` accepted/declined), rate a task (tracking; the task,
    ``answer`` the choice), raise a matter (intake; ``title`` and ``description`` the text, redacted).
    ``person_id``: the contact's account, or ``contact:<contact id>`` for a person without one; never
    the number. One event per (number, question): notify keeps the replies it acted on."""

    reply_id = fields.String(required=True, validate=validate.Length(min=1, max=36))
    kind = fields.String(required=True, validate=validate.OneOf(REPLY_KINDS))
    person_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    contact_id = fields.String(required=True, validate=validate.Length(min=1, max=36))
    community_code = fields.String(required=True, validate=DIVISION_CODE)
    target_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))
    answer = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=32))
    title = FreeText(load_default=None, allow_none=True, validate=validate.Length(min=1, max=200))
    description = FreeText(load_default=None, allow_none=True, validate=validate.Length(min=1, max=4000))
