"""compact duplicate index

The duplicate index in about 1 KB per proposal instead of 11.5: a proposal's grams as 32-bit ids in
one row (``proposal_features``), a community's postings packed in bytea (``gram_posting``), its
count of indexed proposals (``duplicate_community``). The old row-per-gram tables go; the live
proposals (neither rejected nor merged) are indexed again, in bursts of 2,000.

Revision ID: 1cd45606dbae
Revises: b015a8ca9873
Create Date: 2026-12-01 11:03:02.601950
"""

import sqlalchemy as sa
from alembic import op

revision = "1cd45606dbae"
down_revision = "b015a8ca9873"
branch_labels = None
depends_on = None

INTEGERS = sa.LargeBinary()  # integers packed 4 bytes each (services.intake.similarity.Integers)
BURST = 2_000


def upgrade() -> None:
    op.drop_table("proposal_gram")
    with op.batch_alter_table("gram_frequency", schema=None) as batch_op:
        batch_op.drop_index("ix_gram_frequency_common")
    op.drop_table("gram_frequency")
    op.drop_table("proposal_features")
    op.create_table(
        "proposal_features",
        sa.Column("doc", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("proposal_id", sa.String(length=36), nullable=False),
        sa.Column("community_code", sa.String(length=12), nullable=False),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.Column("titled", sa.SmallInteger(), nullable=False),
        sa.Column("grams", INTEGERS, nullable=False),
        sa.PrimaryKeyConstraint("doc"),
        sa.UniqueConstraint("proposal_id", name="uq_proposal_features_proposal_id"),
    )
    op.create_table(
        "gram_posting",
        sa.Column("community_code", sa.String(length=12), nullable=False),
        sa.Column("gram", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("chunk", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("appended", sa.Integer(), nullable=False),
        sa.Column("docs", INTEGERS, nullable=False),
        sa.PrimaryKeyConstraint("community_code", "gram", "chunk"),
    )
    op.create_table(
        "duplicate_community",
        sa.Column("community_code", sa.String(length=12), nullable=False),
        sa.Column("proposals", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("community_code"),
    )
    _index_live_proposals()


def _index_live_proposals() -> None:
    """Index the live proposals again with the index of this revision's time."""
    from sqlalchemy.orm import Session

    from services.intake.similarity import DuplicateIndex, Indexed, duplicate_tables

    index = DuplicateIndex(duplicate_tables(sa.MetaData()))
    proposal = sa.table(
        "proposal", *(sa.column(name) for name in ("id", "community_code", "title", "description", "status"))
    )
    session = Session(bind=op.get_bind())
    last = ""
    while True:
        rows = session.execute(
            sa.select(proposal.c.id, proposal.c.community_code, proposal.c.title, proposal.c.description)
            .where(proposal.c.id > last, proposal.c.status.not_in(["merged", "rejected"]))
            .order_by(proposal.c.id)
            .limit(BURST)
        ).all()
        if not rows:
            break
        index.add_many(session, [Indexed(*row) for row in rows])
        last = rows[-1][0]
    session.flush()


def downgrade() -> None:
    op.drop_table("duplicate_community")
    op.drop_table("gram_posting")
    op.drop_table("proposal_features")
    op.create_table(
        "proposal_features",
        sa.Column("proposal_id", sa.String(length=36), nullable=False),
        sa.Column("community_code", sa.String(length=12), nullable=False),
        sa.Column("title_grams", sa.Text(), nullable=False),
        sa.Column("text_grams", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("proposal_id"),
    )
    op.create_table(
        "gram_frequency",
        sa.Column("community_code", sa.String(length=12), nullable=False),
        sa.Column("gram", sa.String(length=8), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("community_code", "gram"),
    )
    with op.batch_alter_table("gram_frequency", schema=None) as batch_op:
        batch_op.create_index("ix_gram_frequency_common", ["community_code", "n"], unique=False)
    op.create_table(
        "proposal_gram",
        sa.Column("community_code", sa.String(length=12), nullable=False),
        sa.Column("gram", sa.String(length=8), nullable=False),
        sa.Column("proposal_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("community_code", "gram", "proposal_id"),
    )
    # The old index is empty after a downgrade: the matters raised before it are not suggested.
