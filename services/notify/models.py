"""Notify's tables (SQLAlchemy Core; the SQL that uses them is in ``repository.py``): app
notifications (the in-app inbox), outbox/inbox, the division replica, the audience replicas that
say who a step concerns (kept from events, ids only, no personal data), the contact directory and
the SMS queue with its stop list."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from shared.bus.tables import bus_tables
from shared.db import UTCDateTime
from shared.division_registry import division_table

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
    # The matter's status as the events notify consumes tell it (``domain.MATTER_STATUS``): what an
    # SMS 查询 answers.
    Column("status", String(16), nullable=False, default="submitted", server_default="submitted"),
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
    # For the reminder 24 h before: when and where it meets (as shown), whether it was called off,
    # and the start time a reminder was last sent for (a postponement makes a new reminder due).
    Column("starts_at", UTCDateTime(), nullable=True),
    Column("place", Text, nullable=True),
    Column("cancelled", Boolean, nullable=False, default=False, server_default=false()),
    Column("reminded_for", UTCDateTime(), nullable=True),
    Index("ix_consultation_audience_starts", "starts_at"),
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


# -- SMS (services/notify/sms.py: states; periodic/sender.py: how they are sent) ----------------------

sms_messages = Table(
    "sms_message",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("event_id", String(36), nullable=False),
    Column("contact_id", String(36), nullable=False),
    Column("template", String(64), nullable=False),
    Column("category", String(32), nullable=False),
    # The template's variables; the sender composes the signed text (body, parts) when it sends, so
    # the signature and the length limit in force then apply. No phone number: the sender decrypts
    # the contact's at send time.
    Column("variables", JSON, nullable=False),
    Column("body", Text, nullable=True),
    Column("parts", Integer, nullable=True),
    Column("urgent", Boolean, nullable=False),
    Column("division_code", String(12), nullable=True),
    Column("status", String(16), nullable=False),
    Column("not_before", UTCDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("provider", String(16), nullable=True),
    Column("provider_reference", String(64), nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime(), nullable=True),
    Column("delivered_at", UTCDateTime(), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
    # The question this SMS asks (``sms_question``; its prompt ends the text), if it asks one.
    Column("question_id", String(36), nullable=True),
    # An answer to a number without a contact (how to register): its number's ciphertext, erased as
    # soon as it is sent (``contact_id`` is then a stand-in derived from the number's hash).
    Column("phone_cipher", LargeBinary, nullable=True),
    # One SMS per (event, contact), however often the event arrives.
    UniqueConstraint("event_id", "contact_id", name="uq_sms_once"),
    Index("ix_sms_due", "status", "not_before"),
    Index("ix_sms_contact_created", "contact_id", "created_at"),
)

# Numbers that replied T/TD/退订 (keyed hash only): no SMS goes to them until they reply 订阅.
sms_stops = Table(
    "sms_stop",
    metadata,
    Column("phone_hash", String(64), primary_key=True),
    Column("keyword", String(16), nullable=False),
    Column("stopped_at", UTCDateTime(), nullable=False),
)


# -- SMS replies (services/notify/replies.py: the grammar) -----------------------------------------

# What an SMS asked (once per event and route, shared by all its recipients): a reply is matched to
# it by its code or as the newest question sent to the number.
sms_questions = Table(
    "sms_question",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("code", String(8), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("target_id", String(64), nullable=False),
    Column("community_code", String(12), nullable=True),
    # A receipt's likely duplicates: [{"proposal_id", "title"}], offered by their digit.
    Column("options", JSON, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

# One effect per (number, question): a reply delivered twice, or answered again, adds nothing.
sms_replies = Table(
    "sms_reply",
    metadata,
    Column("phone_hash", String(64), primary_key=True),
    Column("question_key", String(80), primary_key=True),
    Column("action", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_sms_reply_created", "created_at"),
)
