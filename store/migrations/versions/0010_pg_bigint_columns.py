"""PostgreSQL only: 64-bit columns for steps, sizes, row counts, seeds and metric ids (a
no-op on SQLite, whose INTEGER is 64 bits already)

Revision ID: 0010
Revises: 0009

On PostgreSQL, INTEGER is 32 bits: a step counted in tokens (2**31 is reached early in a
language model's training), a file over 2 GiB, a seed drawn from NumPy's 0..2**32-1, or
the two-billionth metric point of a busy team store did not fit. Each table is altered
in one statement, so that ``metric`` (the big one) is rewritten once, not once per column.
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: table -> its columns that hold 64-bit values (``sa_type=BigInteger`` in store.models)
WIDENED = {
    "metric": ("id", "step"),
    "dataset_version": ("size_bytes", "n_rows"),
    "artifact": ("size_bytes",),
    "run": ("seed",),
    "monitor_result": ("rows",),
}


def _alter(sql_type: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table, columns in WIDENED.items():
        changes = ", ".join(f"ALTER COLUMN {column} TYPE {sql_type}" for column in columns)
        op.execute(f"ALTER TABLE {table} {changes}")
    # metric.id's numbers come from its sequence, itself bounded by its own type
    sequence = bind.execute(text("SELECT pg_get_serial_sequence('metric', 'id')")).scalar_one()
    if sequence is not None:
        op.execute(f"ALTER SEQUENCE {sequence} AS {sql_type}")


def upgrade() -> None:
    _alter("BIGINT")


def downgrade() -> None:
    # refused by PostgreSQL ("integer out of range") if a value no longer fits: nothing is
    # cut short on the way down
    _alter("INTEGER")
