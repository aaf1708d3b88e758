"""run_log_chunk: a run's log, streamed into the store in batches by its supervisor, so
that a run executed on another machine shows its log everywhere

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The primary key is the read path: a follower asks for (run_id, seq > n), the run
    # screen for the last few chunks of one run. start_char says where a chunk starts in
    # the whole log, so that chunks dropped from the front (the store keeps each run's
    # newest part) are counted, not silently missed.
    op.create_table(
        "run_log_chunk",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("start_char", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"]),
        sa.PrimaryKeyConstraint("run_id", "seq"),
    )


def downgrade() -> None:
    op.drop_table("run_log_chunk")
