"""covering indexes for metric reads and the runs filter

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The new indexes start with the old ones' columns, so every query the old ones served
    # is served as well; built before the old ones are dropped.
    op.create_index("ix_metric_run_key_step_value", "metric", ["run_id", "key", "step", "value"])
    op.drop_index("ix_metric_run_key_step", table_name="metric")
    op.create_index("ix_run_created_filter", "run", ["created_at", "status", "user", "project_id"])
    op.drop_index("ix_run_created_at", table_name="run")


def downgrade() -> None:
    op.create_index("ix_run_created_at", "run", ["created_at"])
    op.drop_index("ix_run_created_filter", table_name="run")
    op.create_index("ix_metric_run_key_step", "metric", ["run_id", "key", "step"])
    op.drop_index("ix_metric_run_key_step_value", table_name="metric")
