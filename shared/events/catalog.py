"""Every event the platform publishes, one payload schema per (type, version).

Payloads carry ids and facts about matters, never phone numbers or names of people (DESIGN.md).
A new version of an event is a new schema beside the old one; consumers accept both while any
producer still sends the old one.
"""

from marshmallow import Schema, fields, validate

from shared.events.envelope import register

DIVISION_CODE = validate.Regexp(r"^\d{12}$", error="必须是12位统计用区划代码")
CHANNELS = ("app", "web", "sms", "district_system", "hotline", "offline")
ORIGINS = ("resident", "top_down")
DIVISION_LEVELS = ("province", "city", "county", "street", "community")


class _Payload(Schema):
    class Meta:
        ordered = True


# -- intake -----------------------------------------------------------------------------------


@register("intake.proposal.submitted")
class ProposalSubmitted(_Payload):
    proposal_id = fields.String(required=True)
    community_code = fields.String(required=True, validate=DIVISION_CODE)
    submitter_id = fields.String(required=True)
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    category = fields.String(required=True)
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    origin = fields.String(required=True, validate=validate.OneOf(ORIGINS))
    submitted_at = fields.AwareDateTime(required=True)


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
    part = fields.Integer(required=True, validate=validate.Range(min=1))
    parts = fields.Integer(required=True, validate=validate.Range(min=1))
    divisions = fields.List(fields.Nested(DivisionRecord), required=True)
