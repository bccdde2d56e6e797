"""organisations replica

The replica of the organisations tracking registers (``tracking.organisations.changed``), whom a
referral names. Empty until tracking's next telling: a referral is refused until the organisation
it names has been replicated.

Revision ID: b015a8ca9873
Revises: 033dc9abced8
Create Date: 2026-12-01 08:36:07.210595
"""

import sqlalchemy as sa
from alembic import op

revision = "b015a8ca9873"
down_revision = "033dc9abced8"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organisation",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("scope", sa.String(length=12), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("organisation")
