"""housekeeping: archived_at/archived_by on projects, datasets, dataset versions, runs,
models and model versions; max_deleted_version on datasets and models; the runs list's
indexes carry archived_at

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Every table whose rows can be archived (hidden from lists, restorable).
ARCHIVABLE = (
    "project",
    "dataset",
    "dataset_version",
    "run",
    "registered_model",
    "model_version",
)


def upgrade() -> None:
    # Plain ADD COLUMN (nullable, no default): SQLite does it without rewriting the table,
    # so a store with 100,000 runs migrates in milliseconds. NULL means "not archived".
    for table in ARCHIVABLE:
        op.add_column(table, sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
        op.add_column(table, sa.Column("archived_by", sa.String(), nullable=True))
    # The highest version number ever deleted, so a deleted number is never given again.
    for table in ("dataset", "registered_model"):
        op.add_column(table, sa.Column("max_deleted_version", sa.Integer(), nullable=True))
    # The Runs pane counts and pages runs from these two indexes alone; with archived_at
    # in them, hiding archived runs costs no lookup of the table's rows.
    op.drop_index("ix_run_status_created", table_name="run")
    op.create_index("ix_run_status_created", "run", ["status", "created_at", "archived_at"])
    op.drop_index("ix_run_created_filter", table_name="run")
    op.create_index(
        "ix_run_created_filter",
        "run",
        ["created_at", "status", "user", "project_id", "archived_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_run_created_filter", table_name="run")
    op.create_index("ix_run_created_filter", "run", ["created_at", "status", "user", "project_id"])
    op.drop_index("ix_run_status_created", table_name="run")
    op.create_index("ix_run_status_created", "run", ["status", "created_at"])
    for table in ("dataset", "registered_model"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("max_deleted_version")
    for table in ARCHIVABLE:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("archived_by")
            batch.drop_column("archived_at")
