"""A write path in plain SQL, for the few rows a command-line call writes.

``dockyard run start``, ``project add`` and ``model register`` each write a handful of
rows; importing SQLModel, pydantic and SQLAlchemy to do so costs several times the whole
rest of the command (docs/architecture.md, decision 28). :func:`open_writer` gives them the
standard library's ``sqlite3`` on a SQLite store at the code's schema revision, with the
same connection settings as ``store.db`` (WAL, ``busy_timeout``, foreign keys,
``synchronous=NORMAL``), and an SQLAlchemy-backed writer for any other URL, so the SQL is
written once. The schema itself stays defined in ``store.models`` and its migrations;
``tests/test_cli_fast_reads.py`` checks every statement and every inserted row against it.

A transaction takes the write lock when it begins (``BEGIN IMMEDIATE``), so whatever it
reads (the chain's head, the next version number) cannot change before it commits.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dockyard.store.queries import BUSY_TIMEOUT_MS, Params, Row, sql_time

if TYPE_CHECKING:
    from sqlalchemy import Engine


class Transaction(Protocol):
    """One open transaction: statements with ``:name`` parameters, rows as dicts."""

    dialect: str

    def execute(self, sql: str, params: Params | None = None) -> int:
        """Run a statement; the number of rows it changed."""
        ...

    def fetch_one(self, sql: str, params: Params | None = None) -> Row | None: ...

    def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]: ...

    def insert(self, table: str, values: Mapping[str, Any]) -> int:
        """Insert one row; its ``id``."""
        ...

    def add(self, table: str, values: Mapping[str, Any]) -> None:
        """Insert one row of a table without an ``id`` column."""
        ...


def _insert_sql(table: str, values: Mapping[str, Any], returning: str = " RETURNING id") -> str:
    names = ", ".join(f'"{name}"' for name in values)
    marks = ", ".join(f":{name}" for name in values)
    return f'INSERT INTO "{table}" ({names}) VALUES ({marks}){returning}'


class SqliteTransaction:
    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @staticmethod
    def _params(params: Params | None) -> dict[str, Any]:
        # times as SQLAlchemy's SQLite DateTime stores them, so both paths write one format
        return {
            key: sql_time(value) if isinstance(value, datetime) else value
            for key, value in (params or {}).items()
        }

    def execute(self, sql: str, params: Params | None = None) -> int:
        return self._conn.execute(sql, self._params(params)).rowcount

    def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        cursor = self._conn.execute(sql, self._params(params))
        names = [column[0] for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        rows = self.fetch_all(sql, params)
        return rows[0] if rows else None

    def insert(self, table: str, values: Mapping[str, Any]) -> int:
        row = self._conn.execute(_insert_sql(table, values), self._params(values)).fetchone()
        return int(row[0])

    def add(self, table: str, values: Mapping[str, Any]) -> None:
        self._conn.execute(_insert_sql(table, values, ""), self._params(values))


class SqliteWriter:
    """A ``sqlite3`` connection in autocommit mode; transactions are explicit."""

    def __init__(self, path: Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = path
        self._conn = sqlite3.connect(path, timeout=busy_timeout_ms / 1000, isolation_level=None)
        # the settings store.db gives every SQLAlchemy connection
        self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA synchronous=NORMAL")

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """``BEGIN IMMEDIATE`` (the write lock, now) ... ``COMMIT``; rolled back on error."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield SqliteTransaction(self._conn)
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def durable(self) -> None:
        """Make the last commit survive a power cut (fsync the WAL: with
        ``synchronous=NORMAL`` a commit is durable only at the next checkpoint)."""
        import os

        for suffix in ("-wal", ""):
            try:
                fd = os.open(str(self.path) + suffix, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            return

    def close(self) -> None:
        self._conn.close()


class SqlAlchemyTransaction:
    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.dialect = str(conn.dialect.name)

    def execute(self, sql: str, params: Params | None = None) -> int:
        from sqlalchemy import text

        return int(self._conn.execute(text(sql), dict(params or {})).rowcount)

    def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        from sqlalchemy import text

        return [dict(row) for row in self._conn.execute(text(sql), dict(params or {})).mappings()]

    def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        rows = self.fetch_all(sql, params)
        return rows[0] if rows else None

    def insert(self, table: str, values: Mapping[str, Any]) -> int:
        from sqlalchemy import text

        return int(self._conn.execute(text(_insert_sql(table, values)), dict(values)).scalar_one())

    def add(self, table: str, values: Mapping[str, Any]) -> None:
        from sqlalchemy import text

        self._conn.execute(text(_insert_sql(table, values, "")), dict(values))


class SqlAlchemyWriter:
    """The same interface over an SQLAlchemy engine (PostgreSQL and other URLs)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self.engine.begin() as conn:
            yield SqlAlchemyTransaction(conn)

    def durable(self) -> None:
        """The server makes its commits durable."""

    def close(self) -> None:
        """The engine belongs to ``core.workspace``."""


Writer = SqliteWriter | SqlAlchemyWriter


def integrity_errors() -> tuple[type[Exception], ...]:
    """The exception types a violated constraint raises, for ``except`` clauses (SQLAlchemy's
    only if it is already loaded: a SQLite writer never loads it)."""
    import sys

    errors: tuple[type[Exception], ...] = (sqlite3.IntegrityError,)
    exc = sys.modules.get("sqlalchemy.exc")
    if exc is not None:
        errors += (exc.IntegrityError,)
    return errors
