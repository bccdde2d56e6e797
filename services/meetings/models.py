"""Meetings' tables: consultations with their small owned parts (JSON), participants, rounds of
deliberation, opinions and their moderation, votes, the audit of every step; the replica of the
proposals intake accepted as topics, of the organisations tracking registered (who carries a
resolution out) and of notify's contact directory (whom an invitation may name); plus the
outbox/inbox and the division replica every service has."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    false,
)

from shared.bus.tables import bus_tables
from shared.db import UTCDateTime
from shared.division_registry import division_table
from shared.history import history_table
from shared.organisation_registry import organisation_table

metadata = MetaData()
bus = bus_tables(metadata)
divisions = division_table(metadata)

# One consultation (协商). Topics, materials, the decision rule (fractions as "2/3"), the topics'
# results and the resolutions are small parts it owns, kept beside it as JSON.
consultations = Table(
    "consultation",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("division_code", String(12), nullable=False),  # a community, or a street ending in 000
    Column("title", String(200), nullable=False),
    Column("form", String(32), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("organiser_id", String(64), nullable=False),
    Column("status", String(24), nullable=False),
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("ends_at", UTCDateTime(), nullable=True),
    Column("venue", String(200), nullable=True),
    Column("online_link", String(500), nullable=True),
    Column("materials", JSON, nullable=False),
    Column("topics", JSON, nullable=False),
    Column("rule", JSON, nullable=False),
    Column("announced_at", UTCDateTime(), nullable=True),
    Column("attendance_code", String(16), nullable=True),
    Column("decision", String(16), nullable=True),
    Column("results", JSON, nullable=False),
    Column("minutes", Text, nullable=True),
    Column("explanation", Text, nullable=True),
    Column("resolutions", JSON, nullable=False),
    Column("published_at", UTCDateTime(), nullable=True),
    Column("cancel_reason", String(500), nullable=True),
    Column("follows_id", String(36), nullable=True),
    # Held in a room and recorded afterwards (补录): the attendance by category, the minutes a link.
    Column("recorded_afterwards", Boolean, nullable=False, server_default=false()),
    Column("minutes_url", String(500), nullable=True),
    Column("attendance", JSON, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_consultation_division_starts", "division_code", "starts_at"),
    # Prefix look-ups (a street's or district's consultations) whatever the database's collation.
    Index("ix_consultation_division_prefix", "division_code", postgresql_ops={"division_code": "varchar_pattern_ops"}),
    Index("ix_consultation_status_starts", "status", "starts_at"),
)

# One invitation per person per consultation; the profile is self-declared and only ever counted.
participants = Table(
    "participant",
    metadata,
    Column("consultation_id", String(36), nullable=False),
    Column("participant_id", String(64), nullable=False),
    Column("category", String(32), nullable=False),
    Column("invited_at", UTCDateTime(), nullable=False),
    Column("rsvp", String(16), nullable=False),
    Column("rsvp_at", UTCDateTime(), nullable=True),
    Column("attended", Boolean, nullable=False),
    Column("attended_at", UTCDateTime(), nullable=True),
    Column("attended_via", String(16), nullable=True),
    Column("checked_in_by", String(64), nullable=True),  # the organiser who ticked them in
    Column("age_band", String(16), nullable=True),
    Column("occupation", String(16), nullable=True),
    Column("stakeholder_type", String(16), nullable=True),
    PrimaryKeyConstraint("consultation_id", "participant_id"),
    Index("ix_participant_person", "participant_id"),  # "the consultations I am invited to"
)

rounds = Table(
    "deliberation_round",
    metadata,
    Column("consultation_id", String(36), nullable=False),
    Column("number", Integer, nullable=False),
    Column("opens_at", UTCDateTime(), nullable=False),
    Column("closes_at", UTCDateTime(), nullable=False),
    Column("summary", Text, nullable=True),
    Column("summarised_by", String(64), nullable=True),
    Column("summarised_at", UTCDateTime(), nullable=True),
    PrimaryKeyConstraint("consultation_id", "number"),
)

opinions = Table(
    "opinion",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("consultation_id", String(36), nullable=False),
    Column("topic_id", String(36), nullable=False),
    Column("round_number", Integer, nullable=False),
    Column("author_id", String(64), nullable=False),
    Column("stance", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("posted_at", UTCDateTime(), nullable=False),
    Column("parent_id", String(36), nullable=True),
    Column("hidden", Boolean, nullable=False),
    Column("hidden_reason", String(500), nullable=True),
    Index("ix_opinion_consultation_posted", "consultation_id", "posted_at"),
)

# One vote per participant per topic.
votes = Table(
    "vote",
    metadata,
    Column("consultation_id", String(36), nullable=False),
    Column("topic_id", String(36), nullable=False),
    Column("participant_id", String(64), nullable=False),
    Column("choice", String(16), nullable=False),
    Column("reason", String(500), nullable=True),
    Column("at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("consultation_id", "topic_id", "participant_id"),
)

# A moderator's act on an opinion (hiding it), with who and why.
moderations = Table(
    "moderation",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("consultation_id", String(36), nullable=False, index=True),
    Column("opinion_id", String(36), nullable=False),
    Column("action", String(16), nullable=False),
    Column("actor_id", String(64), nullable=False),
    Column("actor_role", String(32), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
)

# Every step of the procedure, with who, when and why (the audit of the 2015 procedure); a
# postponement's reason comes with both times, hence the longer reason.
transitions = history_table(
    metadata, "consultation_transition", "consultation_id", status_length=24, reason_length=1000
)

# Intake's accepted proposals (replica from ``intake.proposal.accepted``): what a topic may name.
accepted_proposals = Table(
    "accepted_proposal",
    metadata,
    Column("proposal_id", String(36), primary_key=True),
    Column("community_code", String(12), nullable=False, index=True),
    Column("title", String(200), nullable=False),
    Column("origin", String(16), nullable=False),
    Column("category", String(32), nullable=False),
    Column("accepted_at", UTCDateTime(), nullable=False),
)

# Tracking's registered organisations (replica from ``tracking.organisations.changed``, upserted by
# id, ``shared.organisation_registry``): whom a resolution may name.
organisations = organisation_table(metadata)

# Notify's contact directory, ids only (replica from ``notify.contacts.changed``, upserted by contact
# id): the people an invitation may name (by their account) and the community each lives in. A
# removed contact stays, as removed, so that a telling of it that arrives late does not revive it;
# ``changed_at``: when notify told it, so an older telling does not undo a newer one.
contacts = Table(
    "directory_contact",
    metadata,
    Column("contact_id", String(36), primary_key=True),
    Column("app_user_id", String(64), nullable=True),
    Column("community_code", String(12), nullable=False),
    Column("removed", Boolean, nullable=False),
    Column("changed_at", UTCDateTime(), nullable=False),
    Index("ix_directory_contact_app_user", "app_user_id"),
)
