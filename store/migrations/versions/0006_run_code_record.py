"""run: the code record (git commit and diff, or a content-addressed snapshot)

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Runs recorded before this revision keep "{}": they show "no code record".
    with op.batch_alter_table("run") as batch:
        batch.add_column(
            sa.Column("code_json", sa.Text(), nullable=False, server_default=sa.text("'{}'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.drop_column("code_json")
