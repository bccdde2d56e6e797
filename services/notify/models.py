"""Notify's tables: app notifications (the in-app inbox), outbox/inbox, the division replica, and the
audience replicas that say who a step concerns (kept from events, ids only, no personal data)."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Index, LargeBinary, MetaData, String, Table, Text, UniqueConstraint

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


# -- the contact directory (services/notify/phones.py: how numbers are kept) -------------------------

contacts = Table(
    "contact",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(24), nullable=False),
    Column("community_code", String(12), nullable=False),
    Column("department_id", String(64), nullable=True),
    Column("app_user_id", String(64), nullable=True),
    # AES-GCM ciphertext of the number; erased (NULL) when the contact is removed.
    Column("phone_cipher", LargeBinary, nullable=True),
    # HMAC-SHA256 of the number (hex): look-ups and uniqueness without decrypting; kept after removal.
    Column("phone_hash", String(64), nullable=False),
    Column("channels", JSON, nullable=False),
    Column("quiet_start", String(5), nullable=False),
    Column("quiet_end", String(5), nullable=False),
    Column("opt_outs", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("removed_at", UTCDateTime(), nullable=True),
    # True while the contact is in the directory, NULL once removed: NULLs never collide, so the
    # constraints below hold among live contacts only (on SQLite and PostgreSQL alike).
    Column("live", Boolean, nullable=True),
    UniqueConstraint("community_code", "phone_hash", "live", name="uq_contact_phone"),
    UniqueConstraint("app_user_id", "live", name="uq_contact_app_user"),
    Index("ix_contact_created", "created_at", "id"),
    Index("ix_contact_hash", "phone_hash"),
)
