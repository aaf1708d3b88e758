"""environments and the deployment workflow's columns

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "environment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("approvals", sa.Integer(), nullable=False),
        sa.Column("approvers_json", sa.String(), nullable=False),
        sa.Column("protected", sa.Boolean(), nullable=False),
        sa.Column("emergency_rollback", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_environment_name", "environment", ["name"], unique=True)
    with op.batch_alter_table("deployment_request") as batch:
        batch.add_column(sa.Column("kind", sa.String(), nullable=False, server_default="deploy"))
        batch.add_column(sa.Column("base_deployment_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("input_schema_json", sa.String(), nullable=False, server_default="null")
        )
    with op.batch_alter_table("approval") as batch:
        batch.add_column(
            sa.Column("override_reason", sa.String(), nullable=False, server_default="")
        )
    with op.batch_alter_table("deployment") as batch:
        batch.add_column(sa.Column("path", sa.String(), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("manifest_json", sa.String(), nullable=False, server_default="{}")
        )
        batch.add_column(sa.Column("previous_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployment") as batch:
        batch.drop_column("previous_id")
        batch.drop_column("manifest_json")
        batch.drop_column("path")
    with op.batch_alter_table("approval") as batch:
        batch.drop_column("override_reason")
    with op.batch_alter_table("deployment_request") as batch:
        batch.drop_column("input_schema_json")
        batch.drop_column("base_deployment_id")
        batch.drop_column("kind")
    op.drop_index("ix_environment_name", table_name="environment")
    op.drop_table("environment")
