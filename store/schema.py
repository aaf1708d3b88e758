"""The schema revision this code expects, importable without SQLAlchemy.

The TUI's read path checks the revision with the standard ``sqlite3`` module before it
decides whether it needs ``store.db`` (and SQLAlchemy) to migrate.
"""

from __future__ import annotations

#: The newest migration this code knows; ``tests/test_store.py`` checks it against Alembic.
HEAD_REVISION = "0012"

#: Every value ``run.status`` holds, in the order a run can pass through them. Plain
#: constants here (not in ``store.models``) so the command line can offer them as choices
#: without importing SQLModel.
RUN_STATUSES = ("queued", "running", "cancelling", "finished", "failed", "cancelled", "lost")

#: Every value ``deployment_request.status`` holds.
REQUEST_STATUSES = ("pending", "approved", "deployed", "rejected", "failed")
