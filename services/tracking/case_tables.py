"""Tables of the case library (典型案例) and the public board, on tracking's metadata: what tracking
knows of the proposals behind its tasks (a replica of ``intake.proposal.submitted``: title and
category, nobody named) and which finished tasks officials chose as typical cases."""

from sqlalchemy import Column, Index, String, Table

from services.tracking.models import metadata
from shared.db import UTCDateTime

# The proposal a task carries out, as the case library names it (filled by board_handlers).
case_proposals = Table(
    "case_proposal",
    metadata,
    Column("proposal_id", String(36), primary_key=True),
    Column("community_code", String(12), nullable=False),
    Column("title", String(200), nullable=False),
    Column("category", String(64), nullable=False),
    Column("submitted_at", UTCDateTime(), nullable=False),
    Index("ix_case_proposal_category", "category"),
)

# Finished tasks marked as typical cases (每月一课), shown on the public board too.
featured_cases = Table(
    "featured_case",
    metadata,
    Column("task_id", String(36), primary_key=True),
    Column("featured_by", String(64), nullable=False),
    Column("featured_role", String(32), nullable=False),
    Column("featured_at", UTCDateTime(), nullable=False),
)
