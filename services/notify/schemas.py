"""Notify's HTTP payloads."""

from marshmallow import Schema, fields


class NotificationOut(Schema):
    id = fields.String()
    channel = fields.String()
    template = fields.String()
    body = fields.String()
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)


class InboxOut(Schema):
    unread = fields.Integer()
    items = fields.List(fields.Nested(NotificationOut))
