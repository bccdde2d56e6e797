"""Intake's HTTP payloads."""

from marshmallow import Schema, fields, validate

from services.intake.domain import CHANNELS, MAX_DESCRIPTION, MAX_TITLE


class ProposalIn(Schema):
    community_code = fields.String(required=True, validate=validate.Regexp(r"^\d{12}$", error="社区代码必须是12位数字"))
    title = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TITLE))
    description = fields.String(required=True, validate=validate.Length(min=1, max=MAX_DESCRIPTION))
    category = fields.String(required=True)
    channel = fields.String(load_default="app", validate=validate.OneOf(CHANNELS))


class ProposalOut(Schema):
    id = fields.String()
    community_code = fields.String()
    title = fields.String()
    description = fields.String()
    category = fields.String()
    channel = fields.String()
    origin = fields.String()
    status = fields.String()
    submitted_at = fields.DateTime()
