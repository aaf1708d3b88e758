"""monitor runs: pause/source on monitors, batch/version/timing on results, references

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("monitor") as batch:
        batch.add_column(sa.Column("paused", sa.Boolean(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("source", sa.String(), nullable=False, server_default="file"))
        batch.add_column(
            sa.Column("checks_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("monitor_result") as batch:
        batch.add_column(sa.Column("batch_hash", sa.String(), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("batch_size", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("batch_mtime_ns", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("rows", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("model_version_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("model_ref", sa.String(), nullable=False, server_default=""))
        batch.add_column(sa.Column("runner", sa.String(), nullable=False, server_default=""))
        batch.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True))
    # A batch is checked once per monitor: the insert of the run's row is the claim, and an
    # interrupted run gives its claim back.
    op.create_index(
        "ux_monitor_result_batch",
        "monitor_result",
        ["monitor_id", "batch_hash"],
        unique=True,
        sqlite_where=sa.text("batch_hash != '' AND status != 'interrupted'"),
        postgresql_where=sa.text("batch_hash != '' AND status != 'interrupted'"),
    )
    op.create_index("ix_monitor_result_status", "monitor_result", ["status"])
    op.create_table(
        "monitor_reference",
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reference_json", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["model_version_id"], ["model_version.id"]),
        sa.PrimaryKeyConstraint("model_version_id"),
    )


def downgrade() -> None:
    op.drop_table("monitor_reference")
    op.drop_index("ix_monitor_result_status", table_name="monitor_result")
    op.drop_index("ux_monitor_result_batch", table_name="monitor_result")
    with op.batch_alter_table("monitor_result") as batch:
        for name in (
            "finished_at",
            "started_at",
            "runner",
            "model_ref",
            "model_version_id",
            "rows",
            "batch_mtime_ns",
            "batch_size",
            "batch_hash",
        ):
            batch.drop_column(name)
    with op.batch_alter_table("monitor") as batch:
        for name in ("last_checked_at", "checks_count", "source", "paused"):
            batch.drop_column(name)
