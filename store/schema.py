"""The schema revision this code expects, importable without SQLAlchemy.

The TUI's read path checks the revision with the standard ``sqlite3`` module before it
decides whether it needs ``store.db`` (and SQLAlchemy) to migrate.
"""

from __future__ import annotations

#: The newest migration this code knows; ``tests/test_store.py`` checks it against Alembic.
HEAD_REVISION = "0003"
