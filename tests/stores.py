"""Plain SQL on a test workspace's store, whichever engine holds it.

Tests that tamper with a store or look at its rows do it the way someone with write access
would: plain SQL through the engine's own driver (``sqlite3`` on a file, ``psycopg`` on
PostgreSQL), never through Dockyard's code. Statements are written with ``?`` placeholders.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from dockyard.core.workspace import Workspace


def is_postgres(workspace: Workspace) -> bool:
    return workspace.db_url.startswith("postgresql")


def _pg_connect(url: str) -> Any:
    import psycopg

    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))


def connect(workspace: Workspace) -> Any:
    """A DB-API connection of the store's own driver (close it, or use ``with``)."""
    if is_postgres(workspace):
        return _pg_connect(workspace.db_url)
    assert workspace.db_path is not None
    return sqlite3.connect(workspace.db_path)


def _statement(workspace: Workspace, statement: str) -> str:
    if not is_postgres(workspace):
        return statement
    return statement.replace("%", "%%").replace("?", "%s")


def rows(workspace: Workspace, statement: str, *params: object) -> list[tuple[Any, ...]]:
    """Every row ``statement`` returns."""
    conn = connect(workspace)
    try:
        return list(conn.execute(_statement(workspace, statement), params).fetchall())
    finally:
        conn.close()


def execute(workspace: Workspace, *statements: str | tuple[str, tuple[object, ...]]) -> None:
    """Run each statement (text, or (text, params)) in one committed transaction."""
    conn = connect(workspace)
    try:
        for item in statements:
            statement, params = (item, ()) if isinstance(item, str) else item
            conn.execute(_statement(workspace, statement), params)
        conn.commit()
    finally:
        conn.close()


def columns(workspace: Workspace, table: str) -> list[str]:
    """The column names of ``table``, in order."""
    conn = connect(workspace)
    try:
        cursor = conn.execute(f"SELECT * FROM {table} WHERE 1 = 0")
        return [column[0] for column in cursor.description]
    finally:
        conn.close()
