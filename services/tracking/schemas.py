"""Tracking's HTTP payloads."""

from marshmallow import Schema, fields


class DivisionOut(Schema):
    code = fields.String()
    name = fields.String()
    level = fields.String()
    parent_code = fields.String(allow_none=True)
    source = fields.String()
    active = fields.Boolean()


class DivisionQuery(Schema):
    parent = fields.String(load_default=None, metadata={"description": "12-digit parent code"})
