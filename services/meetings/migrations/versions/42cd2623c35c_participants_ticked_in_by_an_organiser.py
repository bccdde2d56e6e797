"""participants ticked in by an organiser

Who ticked a participant in at the venue (the organiser's account), for those without a phone to
sign in with; empty for everyone who signed in or joined themselves, every earlier row included.

Revision ID: 42cd2623c35c
Revises: f0ed60f26275
Create Date: 2026-12-01 14:38:41.518119
"""

import sqlalchemy as sa
from alembic import op

revision = "42cd2623c35c"
down_revision = "f0ed60f26275"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("participant", schema=None) as batch_op:
        batch_op.add_column(sa.Column("checked_in_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("participant", schema=None) as batch_op:
        batch_op.drop_column("checked_in_by")
