"""monitor results: the headline statistic, a real column for the Monitoring pane's history

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Results stored before this revision keep NULL: their sparkline starts later.
    with op.batch_alter_table("monitor_result") as batch:
        batch.add_column(sa.Column("headline", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("monitor_result") as batch:
        batch.drop_column("headline")
