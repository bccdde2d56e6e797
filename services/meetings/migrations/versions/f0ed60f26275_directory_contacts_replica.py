"""directory contacts replica

The replica of notify's contact directory (ids only, from ``notify.contacts.changed``): whom an
invitation may name and the community each lives in. Empty until notify tells its contacts:
after upgrading, run ``xieshang contacts resync`` once.

Revision ID: f0ed60f26275
Revises: e290b7e3ef1b
Create Date: 2026-12-01 10:44:08.393271
"""

import sqlalchemy as sa
from alembic import op

revision = "f0ed60f26275"
down_revision = "e290b7e3ef1b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "directory_contact",
        sa.Column("contact_id", sa.String(length=36), nullable=False),
        sa.Column("app_user_id", sa.String(length=64), nullable=True),
        sa.Column("community_code", sa.String(length=12), nullable=False),
        sa.Column("removed", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("contact_id"),
    )
    with op.batch_alter_table("directory_contact", schema=None) as batch_op:
        batch_op.create_index("ix_directory_contact_app_user", ["app_user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("directory_contact", schema=None) as batch_op:
        batch_op.drop_index("ix_directory_contact_app_user")
    op.drop_table("directory_contact")
