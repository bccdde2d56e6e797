"""Notify's tables: app notifications (the in-app inbox), plus outbox/inbox and the division replica."""

from __future__ import annotations

from sqlalchemy import Column, Index, MetaData, String, Table, Text, UniqueConstraint

from shared.bus.tables import bus_tables
from shared.db import UTCDateTime
from shared.divisions import division_table

metadata = MetaData()
bus = bus_tables(metadata)
divisions = division_table(metadata)

notifications = Table(
    "notification",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("recipient_id", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("template", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("division_code", String(12), nullable=True),
    Column("event_id", String(36), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("read_at", UTCDateTime(), nullable=True),
    # One message per (event, recipient, channel), however often the event arrives.
    UniqueConstraint("event_id", "recipient_id", "channel", name="uq_notification_once"),
    Index("ix_notification_recipient_created", "recipient_id", "created_at"),
)
