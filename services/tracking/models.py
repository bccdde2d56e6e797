"""Tracking's tables: the division registry it owns; organisations and their accounts; tasks with
their history, progress notes and ratings; who may rate them (replicas from intake's and meetings'
events); consultations held, as coverage counts them; plus outbox/inbox."""

from sqlalchemy import JSON, Boolean, Column, Date, Index, Integer, MetaData, String, Table, Text

from shared.bus.tables import bus_tables
from shared.db import UTCDateTime
from shared.division_registry import division_table
from shared.history import history_table

# The participation mix a held consultation reports (meetings' ``ParticipationMix``).
MIX = ("declared_age", "under_45", "declared_occupation", "not_retired", "social_organisations")
# The counters of the coverage aggregates (area_month), summed over consultations or communities.
COUNTERS = ("consultations", "communities", "topics", "resident_topics", "newly_covered", "last_held", *MIX,
            "with_social_organisations")  # fmt: skip

metadata = MetaData()
bus = bus_tables(metadata)
divisions = division_table(metadata)

# Who carries outcomes out: departments, property companies, owners' committees, social
# organisations, local units; each serving a division-code prefix.
organisations = Table(
    "organisation",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("name", String(100), nullable=False),
    Column("scope", String(12), nullable=False, index=True),
    Column("active", Boolean, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# Accounts of role ``department`` and the one organisation each acts for.
organisation_members = Table(
    "organisation_member",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("organisation_id", String(64), nullable=False, index=True),
    Column("added_at", UTCDateTime(), nullable=False),
)

tasks = Table(
    "task",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("source", String(16), nullable=False),
    Column("source_id", String(64), nullable=False, unique=True),  # one task per resolution or referral
    Column("community_code", String(12), nullable=False),
    Column("title", String(200), nullable=False),
    Column("agreed", Text, nullable=False),
    Column("organisation_id", String(64), nullable=False, index=True),
    Column("deadline", Date, nullable=False),
    Column("status", String(16), nullable=False),
    Column("consultation_id", String(36), nullable=True),
    Column("proposal_ids", JSON, nullable=False),
    Column("assigned_at", UTCDateTime(), nullable=False),
    Column("accepted_at", UTCDateTime(), nullable=True),
    Column("completed_at", UTCDateTime(), nullable=True),
    Column("evaluated_at", UTCDateTime(), nullable=True),
    Column("closed_at", UTCDateTime(), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("progress", Integer, nullable=False),
    Column("reminded_at", UTCDateTime(), nullable=True),
    Column("escalation_level", Integer, nullable=False),
    Column("noticed_at", UTCDateTime(), nullable=True),
    Column("rating_closes_at", UTCDateTime(), nullable=True),
    Column("reopened", Integer, nullable=False),
    Column("extension_requested", Integer, nullable=True),
    Column("extension_reason", String(500), nullable=True),
    Index("ix_task_community_assigned", "community_code", "assigned_at"),
    Index("ix_task_community_prefix", "community_code", postgresql_ops={"community_code": "varchar_pattern_ops"}),
    Index("ix_task_status_deadline", "status", "deadline"),
)

# Every step of a task, with who and why.
task_history = history_table(metadata, "task_history", "task_id", status_length=16, reason_length=2000)

progress_notes = Table(
    "task_progress",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("task_id", String(36), nullable=False, index=True),
    Column("author_id", String(64), nullable=False),
    Column("percent", Integer, nullable=False),
    Column("note", Text, nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
)

ratings = Table(
    "rating",
    metadata,
    Column("task_id", String(36), primary_key=True),
    Column("rater_id", String(64), primary_key=True),  # once per person
    Column("choice", String(24), nullable=False),
    Column("comment", String(500), nullable=True),
    Column("channel", String(16), nullable=False),
    Column("community_code", String(12), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_rating_community_at", "community_code", "at"),
)

# Who is concerned by a proposal (its submitter and co-signers) or a consultation (its invitees):
# the people asked to rate the tasks that carry them out. Replicas of intake's and meetings' events.
stakeholders = Table(
    "stakeholder",
    metadata,
    Column("subject", String(16), primary_key=True),  # "proposal" or "consultation"
    Column("subject_id", String(36), primary_key=True),
    Column("person_id", String(64), primary_key=True),
)

# Consultations held (live, or recorded afterwards), as coverage and regularity count them.
held_consultations = Table(
    "held_consultation",
    metadata,
    Column("consultation_id", String(36), primary_key=True),
    Column("community_code", String(12), nullable=False),
    Column("held_at", UTCDateTime(), nullable=False),
    Column("month", Integer, nullable=False),  # domain.month_index of the day in Beijing
    Column("form", String(32), nullable=False),
    Column("attendees", Integer, nullable=False),
    Column("topics", Integer, nullable=False),
    Column("resident_topics", Integer, nullable=False),
    Column("recorded_afterwards", Boolean, nullable=False),
    # The attendees' participation mix (counts; nobody named): see ``meetings.consultation.held``.
    *(Column(name, Integer, nullable=False, server_default="0") for name in MIX),
    Index("ix_held_community_month", "community_code", "month"),
    # Prefix look-ups (a city's consultations in a period) whatever the database's collation.
    Index(
        "ix_held_community_prefix", "community_code", "month", postgresql_ops={"community_code": "varchar_pattern_ops"}
    ),
)

# Running aggregates of coverage, kept per area (every prefix of a community's code: province,
# city, district, street, the community itself) and month, so that a report or a scrape sums a
# few rows per area instead of rescanning consultations, and a new consultation updates a
# handful of rows (services.held).
community_coverage = Table(
    "community_coverage",
    metadata,
    Column("community_code", String(12), primary_key=True),
    Column("first_month", Integer, nullable=False),
    Column("last_month", Integer, nullable=False),
)

area_months = Table(
    "area_month",
    metadata,
    Column("area", String(12), primary_key=True),
    Column("month", Integer, primary_key=True),
    Column("digits", Integer, nullable=False),  # the area's level: 2, 4, 6, 9 or 12 digits
    Column("consultations", Integer, nullable=False),
    Column("communities", Integer, nullable=False),  # communities of the area with one held that month
    Column("topics", Integer, nullable=False),
    Column("resident_topics", Integer, nullable=False),
    Column("newly_covered", Integer, nullable=False),  # communities whose first consultation was that month
    Column("last_held", Integer, nullable=False),  # communities whose latest consultation is that month
    *(Column(name, Integer, nullable=False, server_default="0") for name in MIX),  # summed over consultations
    # consultations with a social organisation among the attendees
    Column("with_social_organisations", Integer, nullable=False, server_default="0"),
    # Reports and scrapes read one level at a time (all districts, a city's streets…).
    # The counters ride along in the index, so a level's rows are read from it alone (index-only).
    Index(
        "ix_area_month_level",
        "digits",
        "area",
        "month",
        postgresql_ops={"area": "varchar_pattern_ops"},
        postgresql_include=[*COUNTERS],
    ),
)

# Active communities per area (every prefix), recounted whenever the registry is loaded.
area_totals = Table(
    "area_total",
    metadata,
    Column("area", String(12), primary_key=True),
    Column("digits", Integer, nullable=False),
    Column("communities", Integer, nullable=False),
    Index("ix_area_total_level", "digits", "area", postgresql_ops={"area": "varchar_pattern_ops"}),
)

# The case library (典型案例): what tracking knows of the proposals behind its tasks (a replica of
# ``intake.proposal.submitted``: title and category, nobody named) and which finished tasks
# officials chose as typical cases (每月一课), shown on the public board too.
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

featured_cases = Table(
    "featured_case",
    metadata,
    Column("task_id", String(36), primary_key=True),
    Column("featured_by", String(64), nullable=False),
    Column("featured_role", String(32), nullable=False),
    Column("featured_at", UTCDateTime(), nullable=False),
)
