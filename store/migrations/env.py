"""Alembic environment: the connection is handed in by ``store.db.migrate``."""

from alembic import context
from sqlmodel import SQLModel

import dockyard.store.models  # noqa: F401  (registers the tables on SQLModel.metadata)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
