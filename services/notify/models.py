"""Notify's tables: app notifications (the in-app inbox), outbox/inbox, the division replica, and the
audience replicas that say who a step concerns (kept from events, ids only, no personal data)."""

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


# -- audience replicas (services/notify/routing.py says which events keep them) -------------------

proposal_audience = Table(
    "proposal_audience",
    metadata,
    Column("proposal_id", String(36), primary_key=True),
    Column("community_code", String(12), nullable=False),
    Column("title", String(200), nullable=False),
    Column("submitter_id", String(64), nullable=False),
)

proposal_supporters = Table(
    "proposal_supporter",
    metadata,
    Column("proposal_id", String(36), primary_key=True),
    Column("supporter_id", String(64), primary_key=True),
)

consultation_audience = Table(
    "consultation_audience",
    metadata,
    Column("consultation_id", String(36), primary_key=True),
    Column("community_code", String(12), nullable=False),
    Column("title", String(200), nullable=False),
)

consultation_invitees = Table(
    "consultation_invitee",
    metadata,
    Column("consultation_id", String(36), primary_key=True),
    Column("invitee_id", String(64), primary_key=True),
)
