"""recorded consultations and organisations replica

Consultations held offline and recorded afterwards (补录): a flag (false for every consultation
already stored), the minutes' link and the attendance by category. The replica of the
organisations tracking registers, whom a resolution names.

Revision ID: e290b7e3ef1b
Revises: a514aa497d9b
Create Date: 2026-12-01 08:32:23.577256
"""

import sqlalchemy as sa
from alembic import op

revision = "e290b7e3ef1b"
down_revision = "a514aa497d9b"
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
    with op.batch_alter_table("consultation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recorded_afterwards", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("minutes_url", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("attendance", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("consultation", schema=None) as batch_op:
        batch_op.drop_column("attendance")
        batch_op.drop_column("minutes_url")
        batch_op.drop_column("recorded_afterwards")
    op.drop_table("organisation")
