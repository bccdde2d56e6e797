"""Intake's HTTP payloads."""

from marshmallow import Schema, fields, validate

from services.intake.domain import MAX_DESCRIPTION, MAX_TITLE, RECORDED_CHANNELS, SIMILAR_LIMIT, STATUSES
from services.intake.repository import SORTS
from shared.fields import In, Moment, Text, Whole, length
from shared.vocabulary import CHANNELS

COMMUNITY_CODE = validate.Regexp(r"^\d{12}$", error="社区代码必须是12位数字")


class LocationIn(In):
    latitude = fields.Float(load_default=None, validate=validate.Range(-90, 90, error="纬度须在-90到90之间"))
    longitude = fields.Float(load_default=None, validate=validate.Range(-180, 180, error="经度须在-180到180之间"))
    address = fields.String(load_default=None, validate=validate.Length(max=200))


class ProposalIn(In):
    """A matter raised. Its ``channel`` is not the caller's to send (an unknown field, refused):
    the platform decides it from the way in and the caller (``domain.channel_of``)."""

    community_code = Text(required=True, validate=COMMUNITY_CODE)
    title = Text(required=True, validate=length("事项标题", MAX_TITLE))
    description = Text(required=True, validate=length("详细情况", MAX_DESCRIPTION))
    category = Text(required=True)
    recorded_from = fields.String(
        load_default=None,
        validate=validate.OneOf(RECORDED_CHANNELS, error="未知的来源渠道,可选:{choices}"),
        metadata={
            "description": "How the resident brought the matter to the worker recording it (offline: in person, "
            "hotline: by telephone); the proposal's channel. Staff only; otherwise the channel is the platform's: "
            "app here, district_system for a district system's API key"
        },
    )
    location = fields.Nested(LocationIn, load_default=None)
    attachments = fields.List(fields.String(), load_default=list)
    submitter_id = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "The resident a worker or district system records the matter for"},
    )


class ProposalOut(Schema):
    id = fields.String()
    community_code = fields.String()
    title = fields.String()
    description = fields.String()
    category = fields.String()
    channel = fields.String(
        metadata={"description": "How the matter reached the platform, decided by the platform", "enum": list(CHANNELS)}
    )
    origin = fields.String()
    status = fields.String()
    latitude = fields.Float(allow_none=True)
    longitude = fields.Float(allow_none=True)
    address = fields.String(allow_none=True)
    attachments = fields.List(fields.String())
    supporters = fields.Integer()
    merged_into = fields.String(allow_none=True)
    department_id = fields.String(allow_none=True)
    submitted_at = fields.DateTime()
    updated_at = fields.DateTime()
    mine = fields.Boolean(metadata={"description": "Whether the caller submitted it"})


class SimilarQuery(Schema):
    """A matter about to be raised, to find its likely duplicates in the community first."""

    community = fields.String(required=True, validate=COMMUNITY_CODE, metadata={"description": "The community"})
    title = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TITLE))
    description = fields.String(load_default="", validate=validate.Length(max=MAX_DESCRIPTION))
    limit = Whole(digits=True, load_default=5, validate=validate.Range(1, SIMILAR_LIMIT))


class DuplicateOut(Schema):
    id = fields.String()
    title = fields.String()
    status = fields.String()
    score = fields.Float(metadata={"description": "How alike the two read, 0 to 1; 0.4 and above is likely the same"})


class SimilarOut(Schema):
    items = fields.List(fields.Nested(DuplicateOut), metadata={"description": "Best first"})


class ProposalQuery(Schema):
    community = fields.String(load_default=None, validate=validate.Regexp(r"^\d{2,12}$"))
    category = fields.List(fields.String(), load_default=None)
    status = fields.List(fields.String(validate=validate.OneOf(STATUSES)), load_default=None)
    channel = fields.List(fields.String(validate=validate.OneOf(CHANNELS)), load_default=None)
    origin = fields.List(fields.String(validate=validate.OneOf(("resident", "top_down"))), load_default=None)
    since = Moment(load_default=None)
    until = Moment(load_default=None)
    q = fields.String(load_default=None, validate=validate.Length(max=100))
    mine = fields.Boolean(load_default=False)
    sort = fields.String(load_default="-submitted_at", validate=validate.OneOf(sorted(SORTS)))
    limit = Whole(digits=True, load_default=20, validate=validate.Range(1, 100))
    cursor = fields.String(load_default=None)


class ProposalPage(Schema):
    items = fields.List(fields.Nested(ProposalOut))
    next_cursor = fields.String(allow_none=True)


class HistoryOut(Schema):
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    actor_role = fields.String()
    reason = fields.String(allow_none=True)
    at = fields.DateTime()


class RejectIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class MergeIn(Schema):
    into = fields.String(required=True, validate=validate.Length(min=1, max=36))


class ReferIn(Schema):
    department_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    note = fields.String(load_default="", validate=validate.Length(max=500))


class SupportOut(Schema):
    proposal_id = fields.String()
    supporters = fields.Integer()
    status = fields.String()
    supported = fields.Boolean()


class SupporterOut(Schema):
    supporter = fields.String()
    supported_at = fields.DateTime()


class CategoryIn(Schema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{1,31}$"))
    name = fields.String(required=True, validate=validate.Length(min=1, max=32))
    active = fields.Boolean(load_default=True)


class CategoryOut(Schema):
    code = fields.String()
    name = fields.String()


class SettingsIn(Schema):
    support_threshold = Whole(required=True, validate=validate.Range(1, 100_000))


class SettingsOut(Schema):
    community_code = fields.String()
    support_threshold = fields.Integer()
