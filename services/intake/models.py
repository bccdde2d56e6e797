"""Intake's tables: proposals and their history, co-signatures, categories, community settings,
the replica of tracking's organisations (whom a referral names), plus the outbox/inbox and the
division replica every service has."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, Index, Integer, MetaData, String, Table, Text

from services.intake.similarity import duplicate_tables
from shared.bus.tables import bus_tables
from shared.db import UTCDateTime
from shared.division_registry import division_table
from shared.history import history_table
from shared.organisation_registry import organisation_table

metadata = MetaData()
bus = bus_tables(metadata)
divisions = division_table(metadata)
duplicates = duplicate_tables(metadata)

proposals = Table(
    "proposal",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("community_code", String(12), nullable=False),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("category", String(32), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("origin", String(16), nullable=False),
    Column("submitter_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("latitude", Float, nullable=True),
    Column("longitude", Float, nullable=True),
    Column("address", String(200), nullable=True),
    Column("attachments", JSON, nullable=False),
    Column("supporters", Integer, nullable=False),
    Column("merged_into", String(36), nullable=True),
    Column("department_id", String(64), nullable=True),
    Column("submitted_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_proposal_community_submitted", "community_code", "submitted_at"),
    # Prefix look-ups (a street's or district's proposals) whatever the database's collation.
    Index("ix_proposal_community_prefix", "community_code", postgresql_ops={"community_code": "varchar_pattern_ops"}),
    Index("ix_proposal_submitter", "submitter_id"),
)

# Every change of status, with who and why (the matter's whole life).
proposal_history = history_table(metadata, "proposal_history", "proposal_id", status_length=16, reason_length=500)

# One co-signature (附议) per resident per proposal; withdrawing deletes it.
supports = Table(
    "proposal_support",
    metadata,
    Column("proposal_id", String(36), primary_key=True),
    Column("supporter_id", String(64), primary_key=True),
    Column("supported_at", UTCDateTime(), nullable=False),
)

categories = Table(
    "category",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(32), nullable=False),
    Column("active", Boolean, nullable=False),
)

# Per-community rules; a community without a row uses the defaults of the configuration.
community_settings = Table(
    "community_setting",
    metadata,
    Column("community_code", String(12), primary_key=True),
    Column("support_threshold", Integer, nullable=False),
)

# Tracking's registered organisations (replica from ``tracking.organisations.changed``, upserted by
# id, ``shared.organisation_registry``): whom a referral may name, and the name the public reads.
organisations = organisation_table(metadata)
