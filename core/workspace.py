"""Finding and creating workspaces: the ``.dockyard/`` folder, found upward like ``.git``.

A workspace folder holds ``dockyard.db`` (SQLite), ``objects/`` (content-addressed files)
and ``logs/`` (one log file per run). ``--home``/``DOCKYARD_HOME`` name it directly and
``DOCKYARD_DB`` replaces the database with any SQLAlchemy URL.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import InputError, WorkspaceNotFoundError

if TYPE_CHECKING:
    from sqlalchemy import Engine

DIRNAME = ".dockyard"
DB_FILENAME = "dockyard.db"

_ENGINES: dict[str, Engine] = {}


@dataclass(frozen=True)
class Workspace:
    """Where one store lives: ``home`` is the ``.dockyard`` folder itself."""

    home: Path
    db_url: str

    @property
    def root(self) -> Path:
        """The folder that holds ``.dockyard`` (the user's project folder)."""
        return self.home.parent if self.home.name == DIRNAME else self.home

    @property
    def objects(self) -> Path:
        return self.home / "objects"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def db_path(self) -> Path | None:
        """The SQLite file, or None when ``DOCKYARD_DB`` points elsewhere."""
        prefix = "sqlite:///"
        return Path(self.db_url[len(prefix) :]) if self.db_url.startswith(prefix) else None


def current_user(env: Mapping[str, str] | None = None) -> str:
    """The acting user: ``DOCKYARD_USER`` if set, else the login name."""
    env = os.environ if env is None else env
    user = env.get("DOCKYARD_USER", "").strip()
    if user:
        return user
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in some containers
        return "unknown"


def _db_url(home: Path, env: Mapping[str, str]) -> str:
    url = env.get("DOCKYARD_DB", "").strip()
    return url or f"sqlite:///{home / DB_FILENAME}"


def _as_home(path: Path) -> Path:
    """Accept either a workspace root (holding ``.dockyard``) or the folder itself."""
    return path / DIRNAME if (path / DIRNAME).is_dir() else path


def find_workspace(
    start: Path | None = None,
    home: str | Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Workspace:
    """The workspace for ``start`` (default: the current folder).

    Order: ``home`` argument, ``DOCKYARD_HOME``, then ``.dockyard`` in ``start`` or any
    folder above it.
    """
    env = os.environ if env is None else env
    override = home if home is not None else env.get("DOCKYARD_HOME") or None
    if override is not None:
        path = _as_home(Path(override).expanduser().resolve())
        if not (path / DB_FILENAME).exists() and not env.get("DOCKYARD_DB"):
            raise WorkspaceNotFoundError(
                f"no Dockyard workspace at {path}; create one with `dockyard init {path.parent}`"
            )
        return Workspace(home=path, db_url=_db_url(path, env))
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / DIRNAME
        if candidate.is_dir():
            return Workspace(home=candidate, db_url=_db_url(candidate, env))
    raise WorkspaceNotFoundError(
        "not inside a Dockyard workspace (no .dockyard here or above); "
        "run `dockyard init` to make one or `dockyard demo` to try the sample projects"
    )


def init_workspace(
    directory: Path | None = None, env: Mapping[str, str] | None = None
) -> Workspace:
    """Create (or reuse) ``directory/.dockyard`` with its store, objects and logs folders."""
    env = os.environ if env is None else env
    root = (directory or Path.cwd()).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise InputError(f"{root} is a file, not a folder; give a folder to `dockyard init`")
    home = root / DIRNAME
    for folder in (home, home / "objects", home / "logs"):
        folder.mkdir(parents=True, exist_ok=True)
    workspace = Workspace(home=home, db_url=_db_url(home, env))
    engine_for(workspace)
    return workspace


def engine_for(workspace: Workspace) -> Engine:
    """The migrated engine of ``workspace``, opened once per process and URL.

    SQLAlchemy is imported here, not at module level: it costs a few hundred
    milliseconds that the TUI's first paint must not pay.
    """
    engine = _ENGINES.get(workspace.db_url)
    if engine is None:
        from store.db import open_engine

        engine = _ENGINES[workspace.db_url] = open_engine(workspace.db_url)
    return engine


def open_store(workspace: Workspace) -> Engine:
    """Alias of :func:`engine_for`, for readers who look for "open"."""
    return engine_for(workspace)


def store_revision(workspace: Workspace) -> str | None:
    """The schema revision recorded in the workspace's SQLite store, or None if the file
    does not exist yet or records none.

    Read with the standard ``sqlite3`` module, read-only: no SQLAlchemy import, no
    migration, so ``dockyard --version`` stays instant and changes nothing. Raises
    :class:`InputError` for a store that is not a SQLite file (``DOCKYARD_DB``) or not a
    database at all.
    """
    import sqlite3

    from store.queries import SqliteReader, schema_revision

    path = workspace.db_path
    if path is None:
        raise InputError("the store is not a SQLite file (DOCKYARD_DB); its revision is not read")
    if not path.is_file():
        return None
    try:
        reader = SqliteReader(path)
    except sqlite3.Error as exc:
        raise InputError(f"{path}: cannot open it as a SQLite database ({exc})") from None
    try:
        return schema_revision(reader)
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None  # created but never migrated
        raise InputError(f"{path}: not a Dockyard store ({exc})") from None
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{path}: not a Dockyard store ({exc})") from None
    finally:
        reader.close()
