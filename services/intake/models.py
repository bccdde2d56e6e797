"""Intake's tables: proposals, plus the outbox/inbox and the division replica every service has."""

from __future__ import annotations

from sqlalchemy import Column, Index, MetaData, String, Table, Text

from shared.bus.tables import bus_tables
from shared.db import UTCDateTime
from shared.divisions import division_table

metadata = MetaData()
bus = bus_tables(metadata)
divisions = division_table(metadata)

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
    Column("submitted_at", UTCDateTime(), nullable=False),
    Index("ix_proposal_community_submitted", "community_code", "submitted_at"),
)
