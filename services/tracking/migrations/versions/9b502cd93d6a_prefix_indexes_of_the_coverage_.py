"""prefix indexes of the coverage aggregates, and their counters in the level index

Revision ID: 9b502cd93d6a
Revises: 6113c259ca9c
Create Date: 2026-12-01 09:15:01.218248
"""

from alembic import op

revision = "9b502cd93d6a"
down_revision = "6113c259ca9c"
branch_labels = None
depends_on = None

COUNTERS = [
    "consultations", "communities", "topics", "resident_topics", "newly_covered", "last_held", "declared_age",
    "under_45", "declared_occupation", "not_retired", "social_organisations", "with_social_organisations",
]  # fmt: skip
AREA_PREFIX = {"area": "varchar_pattern_ops"}


def upgrade() -> None:
    with op.batch_alter_table("held_consultation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_held_community_prefix",
            ["community_code", "month"],
            unique=False,
            postgresql_ops={"community_code": "varchar_pattern_ops"},
        )
    # A level's rows are then read from the index alone (index-only scans: the scrape, the reports).
    with op.batch_alter_table("area_month", schema=None) as batch_op:
        batch_op.drop_index("ix_area_month_level")
        batch_op.create_index("ix_area_month_level", ["digits", "area", "month"], unique=False,
                              postgresql_ops=AREA_PREFIX, postgresql_include=COUNTERS)  # fmt: skip


def downgrade() -> None:
    with op.batch_alter_table("area_month", schema=None) as batch_op:
        batch_op.drop_index("ix_area_month_level")
        batch_op.create_index("ix_area_month_level", ["digits", "area", "month"], unique=False,
                              postgresql_ops=AREA_PREFIX)  # fmt: skip
    with op.batch_alter_table("held_consultation", schema=None) as batch_op:
        batch_op.drop_index("ix_held_community_prefix", postgresql_ops={"community_code": "varchar_pattern_ops"})
