"""Opening a store: engine, SQLite pragmas, and schema migrations on open.

Importing this module pulls in SQLAlchemy but not Alembic: Alembic is imported only when
the schema on disk is behind the code, which keeps a normal open fast.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.pool import ConnectionPoolEntry

from dockyard.store.schema import HEAD_REVISION as HEAD_REVISION

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
)


class StoreError(Exception):
    """The store cannot be opened or used as it is; the message says why and what to do."""


class SchemaTooNewError(StoreError):
    """The database was written by a newer Dockyard; we refuse rather than corrupt it."""


class StoreConnectError(StoreError):
    """The database server cannot be reached, or refuses the login or the database: the
    URL or its credentials are wrong (or the server is down); the message says which."""


def describe_connect_error(db_url: str, exc: BaseException) -> str:
    """One line saying why the PostgreSQL server at ``db_url`` refused or could not be
    reached, naming user, host, port and database but never the password."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(db_url)
    try:
        port = parts.port or 5432
    except ValueError:
        port = 5432
    host = parts.hostname or "localhost"
    user = unquote(parts.username or "") or "(your login)"
    database = unquote(parts.path.lstrip("/")) or user
    where = f"{host}:{port}"
    detail = " ".join(str(exc).split())
    lowered = detail.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return (
            f"PostgreSQL at {where} refused the login of {user!r} (wrong password); "
            "fix the user or password in DOCKYARD_DB (or the workspace's `dockyard init --db`)"
        )
    if "does not exist" in lowered and "database" in lowered:
        return (
            f"PostgreSQL at {where} has no database {database!r}; create it (createdb "
            f"{database}) or name another in DOCKYARD_DB"
        )
    if "role" in lowered and "does not exist" in lowered:
        return f"PostgreSQL at {where} has no user {user!r}; create the role or fix DOCKYARD_DB"
    if any(
        word in lowered
        for word in ("connection refused", "timeout expired", "could not translate host",
                     "name or service not known", "no route to host", "network is unreachable",
                     "could not connect", "connection to server")
    ):  # fmt: skip
        return (
            f"cannot reach the PostgreSQL server at {where} for database {database!r}: is it "
            "running, and do DOCKYARD_DB's host and port name it?"
        )
    return f"cannot open the PostgreSQL store at {where}/{database}: {detail[:200]}"


def _connect_failure(exc: BaseException) -> BaseException | None:
    """The driver's connection error inside ``exc`` (SQLAlchemy wraps it), if it is one."""
    for candidate in (exc, getattr(exc, "orig", None), exc.__cause__):
        if candidate is None:
            continue
        module = type(candidate).__module__
        if module.startswith("psycopg") and type(candidate).__name__ == "OperationalError":
            return candidate
    return None


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _apply_sqlite_pragmas(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
    # pysqlite opens transactions lazily; pragmas must run outside one.
    cursor = dbapi_conn.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with Dockyard's connection settings, schema not checked."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _apply_sqlite_pragmas)
        return engine
    if url.startswith("postgresql"):
        if url.startswith("postgresql://") and _installed("psycopg") and not _installed("psycopg2"):
            # SQLAlchemy's default driver for a bare URL is psycopg2; use the one we ship
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        # A server that does not answer is an error after 10 s, not a hang.
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    return create_engine(url, pool_pre_ping=True)


def _installed(module: str) -> bool:
    from importlib.util import find_spec

    return find_spec(module) is not None


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision recorded in the database, or None for an empty one."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return None if row is None else str(row[0])


def known_revisions() -> list[str]:
    """Every revision id shipped with this code, oldest first."""
    return sorted(p.stem.split("_", 1)[0] for p in (MIGRATIONS_DIR / "versions").glob("*.py"))


def migrate(engine: Engine) -> None:
    """Bring the schema to ``HEAD_REVISION``; refuse a schema this code does not know."""
    revision = current_revision(engine)
    if revision == HEAD_REVISION:
        return
    if revision is not None and revision not in known_revisions():
        raise SchemaTooNewError(
            f"the store's schema (revision {revision}) is newer than this Dockyard knows "
            f"(up to {HEAD_REVISION}); upgrade Dockyard to open it"
        )
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def _revision_or_none(url: str) -> str | None:
    engine = make_engine(url)
    try:
        return current_revision(engine)
    except Exception:
        return None
    finally:
        engine.dispose()


def open_engine(url: str) -> Engine:
    """Open (creating and migrating as needed) the store at ``url``."""
    engine = make_engine(url)
    try:
        migrate(engine)
    except sqlite3.DatabaseError as exc:  # pragma: no cover - wrapped below as well
        raise StoreError(f"cannot open the store at {url}: {exc}") from exc
    except Exception as exc:
        engine.dispose()
        if isinstance(exc, StoreError):
            raise
        failure = _connect_failure(exc)
        if failure is not None:
            raise StoreConnectError(describe_connect_error(url, failure)) from None
        if getattr(getattr(exc, "orig", None), "sqlstate", None) == "42501":
            # a member's login opening a store behind the code: only the tables' owner
            # may migrate them (docs/team.md, Roles)
            raise StoreError(
                f"the store's schema is at revision {_revision_or_none(url)}, behind this "
                f"Dockyard's {HEAD_REVISION}, and this login may not upgrade it; run any "
                "dockyard command once as the admin role that owns the tables"
            ) from None
        if engine.dialect.name != "sqlite":  # the URL may hold a password: never repeat it
            detail = " ".join(str(getattr(exc, "orig", exc)).split())[:200]
            raise StoreError(f"cannot open the store ({engine.dialect.name}): {detail}") from exc
        raise StoreError(f"cannot open the store at {url}: {exc}") from exc
    return engine
