"""Finding and creating workspaces: the ``.dockyard/`` folder, found upward like ``.git``.

A workspace folder holds ``dockyard.db`` (SQLite), ``objects/`` (content-addressed files)
and ``logs/`` (one log file per run). ``--home``/``DOCKYARD_HOME`` name it directly,
``DOCKYARD_DB`` replaces the database with any SQLAlchemy URL and ``DOCKYARD_OBJECTS`` the
object store with a folder every machine mounts (both also recorded in
``.dockyard/settings.toml``, read by ``core.settings``).
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from dockyard.core.errors import DockyardError, InputError, WorkspaceNotFoundError
from dockyard.core.settings import Settings, read_settings, toml_string

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from dockyard.store.queries import Reader
    from dockyard.store.writes import Writer

DIRNAME = ".dockyard"
#: What SQLAlchemy ships (``sqlalchemy.dialects.__all__``, plus mariadb on mysql's code).
BUILTIN_DIALECTS = frozenset({"sqlite", "postgresql", "mysql", "mariadb", "oracle", "mssql"})
_URL_RE = re.compile(r"^([A-Za-z][A-Za-z0-9]*)(\+[A-Za-z0-9_]+)?://")
DB_FILENAME = "dockyard.db"
#: The workspace's own settings (``core.settings``), beside its store.
SETTINGS_FILENAME = "settings.toml"

_ENGINES: dict[str, Engine] = {}
_READERS: dict[str, Reader] = {}
#: The workspace folder of each engine opened by ``engine_for``, for code that holds only a
#: session (the audit log writes its witness there, whatever the store's URL).
_HOMES: WeakKeyDictionary[Engine, Path] = WeakKeyDictionary()


#: The environment variable naming the object store's folder (over ``[objects] path``).
OBJECTS_ENV = "DOCKYARD_OBJECTS"
#: How rows name an object: ``objects/<name>``, relative to the object store's root.
OBJECTS_PREFIX = "objects"


class ObjectPathError(DockyardError):
    """A row names an object outside the object store (a damaged or forged row)."""


@dataclass(frozen=True)
class Workspace:
    """Where one store lives: ``home`` is the ``.dockyard`` folder itself.

    ``objects_root`` is the object store when it is not the workspace's own ``objects/``
    folder (``DOCKYARD_OBJECTS`` or ``[objects] path``), and ``objects_from`` says which of
    the two named it, for messages.
    """

    home: Path
    db_url: str
    objects_root: Path | None = None
    objects_from: str | None = None

    @property
    def root(self) -> Path:
        """The folder that holds ``.dockyard`` (the user's project folder)."""
        return self.home.parent if self.home.name == DIRNAME else self.home

    @property
    def objects(self) -> Path:
        """The object store's folder: configured, or ``.dockyard/objects``."""
        return self.objects_root if self.objects_root is not None else self.home / "objects"

    def object_file(self, stored: str | Path) -> Path:
        """The file a row's ``object_path`` names, confined to the object store.

        Rows name objects ``objects/<name>``, relative to the object store's root wherever
        it is mounted; an absolute path is accepted only inside the root (rows written
        before the store could move). Anything else (``..``, another folder, an empty
        path) raises :class:`ObjectPathError`: a row must never make Dockyard read, hash
        or deploy a file outside the store.
        """
        return confined_object(self.objects, stored)

    def check_objects(self, *, write: bool = False) -> Path:
        """The object store's folder after checking this machine can use it.

        A configured folder that is missing (an unmounted share) or, with ``write``, not
        writable raises :class:`InputError` naming it and where it was configured: it is
        never created here, so a missing mount does not quietly fill a local folder that
        no other machine sees. The workspace's own folder is created when missing.
        """
        root = self.objects
        if self.objects_root is None:
            if write:
                root.mkdir(parents=True, exist_ok=True)
            return root
        source = self.objects_from or OBJECTS_ENV
        if not root.is_dir():
            what = "is not a folder" if root.exists() else "does not exist on this machine"
            raise InputError(
                f"the object store {root} ({source}) {what}; mount the shared object store "
                f"there or change {source}"
            )
        if write and not os.access(root, os.W_OK | os.X_OK):
            raise InputError(
                f"the object store {root} ({source}) is not writable by this user; "
                "fix its permissions or change " + source
            )
        return root

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


def os_user() -> str:
    """The operating-system account of this process, from its effective user id.

    Deployment decisions (requests, approvals, environment changes) use this and never
    ``DOCKYARD_USER``: an environment variable is whatever its setter wants it to be,
    while the user id is what the kernel vouches for.
    """
    import pwd

    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # no passwd entry (some containers): the number is still the truth
        return f"uid{uid}"


_DB_USERS: dict[str, str] = {}


def is_postgresql(workspace: Workspace) -> bool:
    """Whether the workspace's store is a PostgreSQL database (not an SQLite file)."""
    return workspace.db_url.lower().startswith("postgresql")


def acting_user(workspace: Workspace, fallback: Callable[[], str] | None = None) -> str:
    """Who acts on ``workspace``: on PostgreSQL the database login (``current_user``),
    which the server authenticated and its triggers hold every write to; elsewhere
    ``fallback()`` (default :func:`os_user`, the account the kernel vouches for).

    Read once per process and store URL.
    """
    if not is_postgresql(workspace):
        return (fallback or os_user)()
    name = _DB_USERS.get(workspace.db_url)
    if name is None:
        row = reader_for(workspace).fetch_one("SELECT CAST(current_user AS TEXT) AS name")
        assert row is not None
        name = _DB_USERS[workspace.db_url] = str(row["name"])
    return name


def host_name(env: Mapping[str, str] | None = None) -> str:
    """The name of this machine as agents, runs and monitor results record it:
    ``DOCKYARD_HOSTNAME`` if set, else the OS host name.

    Agents on one store judge each other's processes by it: a process recorded under this
    name is checked by its pid, one under another name by its heartbeat alone. Set it where
    machines share a name (containers started from one image, tests standing in for two
    machines); every process of one machine must then see the same value.
    """
    env = os.environ if env is None else env
    name = env.get("DOCKYARD_HOSTNAME", "").strip()
    if name:
        return name
    import socket

    return socket.gethostname()


def confined_object(root: Path, stored: str | Path) -> Path:
    """``stored`` (a row's ``object_path``) as a path under ``root``; see
    :meth:`Workspace.object_file`."""
    text = str(stored)
    if text.startswith("/") or (os.sep != "/" and os.path.isabs(text)):
        inside = os.path.relpath(os.path.normpath(text), os.path.normpath(root))
    else:
        parts = text.replace(os.sep, "/").split("/")
        inside = "/".join(parts[1:]) if parts[0] == OBJECTS_PREFIX else text
    name = os.path.normpath(inside) if inside else ""
    if not name or name in (".", "..") or name.startswith(("..", "/")) or os.path.isabs(name):
        shown = text if len(text) <= 120 else text[:117] + "..."
        raise ObjectPathError(
            f"a row names the object {shown!r}, which is not inside the object store {root}; "
            "the row was damaged or written by hand, and is not read"
        )
    return root / name


def _workspace(home: Path, env: Mapping[str, str]) -> Workspace:
    """The workspace of the folder ``home``, its settings file read once."""
    settings = read_settings(home)
    url = env.get("DOCKYARD_DB", "").strip()
    if url:
        db_url = check_db_url(url)
    elif settings.store_db:
        db_url = check_db_url(settings.store_db, source=str(settings.path))
    else:
        db_url = f"sqlite:///{home / DB_FILENAME}"
    configured = _configured_objects(home, env, settings)
    if configured is None:
        return Workspace(home=home, db_url=db_url)
    root, source = configured
    return Workspace(home=home, db_url=db_url, objects_root=root, objects_from=source)


def _configured_objects(
    home: Path, env: Mapping[str, str], settings: Settings
) -> tuple[Path, str] | None:
    """(folder, where it was named) of an object store configured away from the workspace."""
    objects = env.get(OBJECTS_ENV, "").strip()
    if objects:
        return Path(os.path.normpath(Path(objects).expanduser().absolute())), OBJECTS_ENV
    if settings.objects_path:
        # relative to the folder holding .dockyard, like a path in dockyard.toml
        base = home.parent if home.name == DIRNAME else home
        root = Path(os.path.normpath((base / Path(settings.objects_path).expanduser()).absolute()))
        return root, settings.where("objects.path")
    return None


def objects_root(home: Path, env: Mapping[str, str], *, write: bool = False) -> Path:
    """The object store of the workspace folder ``home``, checked as
    :meth:`Workspace.check_objects` does, without looking at its database URL (the
    tracking client in a training process has only ``DOCKYARD_HOME``)."""
    configured = _configured_objects(home, env, read_settings(home))
    root, source = configured if configured is not None else (None, None)
    workspace = Workspace(home=home, db_url="", objects_root=root, objects_from=source)
    return workspace.check_objects(write=write)


def settings_db_url(home: Path) -> str | None:
    """The store URL recorded in ``home``'s settings file, or None (no file, no entry)."""
    return read_settings(home).store_db


def check_db_url(url: str, source: str = "DOCKYARD_DB") -> str:
    """``url`` if it is an SQLAlchemy URL of a database kind that is installed.

    Checked when the workspace is found, without importing SQLAlchemy, so a typo in
    ``DOCKYARD_DB`` (or the workspace's settings, ``source``) is one line naming where it
    came from rather than a driver error later. The URL itself is never repeated: it may
    hold a password.
    """
    match = _URL_RE.match(url)
    if match is None:
        raise InputError(
            f"{source} is not a database URL; write e.g. sqlite:////abs/path/dockyard.db "
            "or postgresql+psycopg://USER@HOST/DBNAME (or unset it to use the workspace's "
            "own file)"
        )
    dialect = match.group(1).lower()
    if dialect not in BUILTIN_DIALECTS and dialect not in _plugin_dialects():
        raise InputError(
            f"{source} names an unknown kind of database {dialect[:20]!r}; use "
            "sqlite:///PATH or postgresql+psycopg://USER@HOST/DBNAME"
        )
    return url


def _plugin_dialects() -> set[str]:
    """Database kinds third-party packages register with SQLAlchemy (read only when a URL
    names a kind SQLAlchemy does not ship, so a normal start never scans the packages)."""
    from importlib.metadata import entry_points

    return {e.name.split(".")[0].lower() for e in entry_points(group="sqlalchemy.dialects")}


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
        if not any((path / name).exists() for name in (DB_FILENAME, SETTINGS_FILENAME)) and (
            not env.get("DOCKYARD_DB")
        ):
            raise WorkspaceNotFoundError(
                f"no Dockyard workspace at {path}; create one with `dockyard init {path.parent}`"
            )
        return _workspace(path, env)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / DIRNAME
        if candidate.is_dir():
            return _workspace(candidate, env)
    raise WorkspaceNotFoundError(
        "not inside a Dockyard workspace (no .dockyard here or above); "
        "run `dockyard init` to make one or `dockyard demo` to try the sample projects"
    )


def init_workspace(
    directory: Path | None = None,
    env: Mapping[str, str] | None = None,
    db: str | None = None,
    objects: str | Path | None = None,
) -> Workspace:
    """Create (or reuse) ``directory/.dockyard`` with its store, objects and logs folders.

    ``db`` (a database URL) puts the store there instead of in the folder's SQLite file and
    records it in the workspace's settings, once the store has opened (and been migrated),
    so that every later command finds it without ``DOCKYARD_DB``. ``objects`` (a folder,
    typically on a share every machine mounts) likewise becomes the object store and is
    recorded as ``[objects] path``; the folder is created if its parent exists, never a
    whole missing path (an unmounted share must not turn into a local folder).
    """
    env = os.environ if env is None else env
    root = (directory or Path.cwd()).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise InputError(f"{root} is a file, not a folder; give a folder to `dockyard init`")
    home = root / DIRNAME
    settings = read_settings(home)
    recorded = settings.store_db
    if db is not None:
        db = check_db_url(db.strip(), source="--db")
        if recorded is not None and recorded != db:
            raise InputError(
                f"{home} already uses another store ({home / SETTINGS_FILENAME}); "
                "edit that file to move it"
            )
    objects_root = _init_objects(objects, settings.objects_path, home) if objects else None
    if db is not None:
        # the store first: an unreachable server or a wrong password leaves no folder
        engine_for(Workspace(home=home, db_url=db))
    own_objects = objects_root is None and not env.get(OBJECTS_ENV, "").strip()
    try:
        for folder in (home, home / "objects", home / "logs"):
            if folder.name != "objects" or own_objects:
                folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        # /proc/xx, a read-only mount, a file in the way, no permission: one line, exit 2
        raise InputError(
            f"cannot create a workspace in {root}: {exc.strerror or exc} "
            f"(making {exc.filename or home}); give a folder you can write to"
        ) from None
    entries: dict[str, str] = {}
    if db is not None and recorded is None:
        entries["store.db"] = db
    if objects_root is not None and settings.objects_path is None:
        entries["objects.path"] = str(objects_root)
    if entries:
        _record_settings(home, entries)
    if db is None:
        workspace = _workspace(home, env)
        engine_for(workspace)
        return workspace
    return _workspace(home, {**env, "DOCKYARD_DB": db})


def _init_objects(given: str | Path, recorded: str | None, home: Path) -> Path:
    """The folder ``init --objects`` names, made if only its last part is missing."""
    root = Path(os.path.normpath(Path(given).expanduser().absolute()))
    if recorded is not None:
        previous = Path(os.path.normpath((home.parent / Path(recorded).expanduser()).absolute()))
        if previous != root:
            raise InputError(
                f"{home} already uses another object store ({home / SETTINGS_FILENAME}); "
                "edit that file to move it"
            )
    if not root.parent.is_dir():
        raise InputError(
            f"--objects: {root.parent} does not exist; mount the shared folder first "
            "(only the last folder of the path is created)"
        )
    try:
        root.mkdir(exist_ok=True)
    except OSError as exc:
        raise InputError(f"--objects: cannot create {root}: {exc.strerror or exc}") from None
    if not root.is_dir() or not os.access(root, os.W_OK | os.X_OK):
        raise InputError(f"--objects: {root} is not a folder this user can write to")
    return root


def _write_settings(home: Path, db_url: str, by: str = "`dockyard init --db`") -> None:
    """Record the store URL (``[store] db``) in the settings file."""
    _record_settings(home, {"store.db": db_url}, by)


def record_store_url(home: Path, db_url: str, by: str = "`dockyard init --db`") -> None:
    """Record ``db_url`` as ``[store] db`` in ``home``'s settings (as `dockyard init --db`
    does), keeping the file's other tables; ``by`` names the command in its comment."""
    _write_settings(home, db_url, by)


def _record_settings(home: Path, entries: Mapping[str, str], by: str = "`dockyard init`") -> None:
    """Add ``{"table.key": value}`` to the settings file, creating it if needed; keys the
    file already holds are the caller's to check (``read_settings``).

    A file that holds other tables (``[agent]``, docs/dask.md) keeps them: a key goes under
    its table's existing header, or a new table is appended, and the file is replaced at
    once (a rename), so a reader sees the old file or the new one. Readable by the owner
    only when a URL carries a password.
    """
    path = home / SETTINGS_FILENAME
    has_password = any(
        re.match(r"^[^:/]+(\+\w+)?://[^/@]*:[^/@]*@", value) is not None
        for key, value in entries.items()
        if key == "store.db"
    )
    tables: dict[str, list[str]] = {}
    for dotted, value in entries.items():
        table, key = dotted.split(".", 1)
        tables.setdefault(table, []).append(f"{key} = {toml_string(value)}\n")
    try:
        old = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        old = None
    if old is None:
        text = f"# written by {by}\n" + "".join(
            f"[{table}]\n" + "".join(lines) for table, lines in tables.items()
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if has_password else 0o666)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        return
    text = old
    for table, lines in tables.items():
        header = re.search(rf"^[ \t]*\[{re.escape(table)}\][ \t]*(#.*)?$\n?", text, re.MULTILINE)
        if header is not None:
            head = text[: header.end()] + ("" if text[: header.end()].endswith("\n") else "\n")
            text = head + "".join(lines) + text[header.end() :]
        else:
            text += ("" if not text or text.endswith("\n") else "\n") + (
                f"\n# written by {by}\n[{table}]\n" + "".join(lines)
            )
    mode = 0o600 if has_password else os.stat(path).st_mode & 0o777
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, mode)  # whatever the umask took away
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


SHARED_FILE = "shared-group"


def share_workspace(workspace: Workspace, group: str) -> None:
    """Make the workspace usable by every member of OS group ``group`` on this machine.

    Every folder gets the group, group read/write and the setgid bit (new files inherit
    the group); every file the group and group read/write; ``shared-group`` records the
    group so that each ``dockyard`` process sets a umask of 002 (new files stay group
    writable). This lets several accounts share one store; it does not protect one
    member from another (any member can edit the SQLite file directly): the audit log's
    chain and witness make such edits detectable, not impossible.
    """
    import grp
    import stat

    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        raise InputError(
            f"no OS group named {group!r}; create it with `groupadd {group}`"
        ) from None
    (workspace.home / SHARED_FILE).write_text(group + "\n")
    for folder, _dirs, files in os.walk(workspace.home):
        os.chown(folder, -1, gid)
        mode = os.stat(folder).st_mode
        os.chmod(folder, stat.S_IMODE(mode) | stat.S_ISGID | stat.S_IRWXG)
        for name in files:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                continue
            os.chown(path, -1, gid)
            os.chmod(path, stat.S_IMODE(os.stat(path).st_mode) | stat.S_IRGRP | stat.S_IWGRP)


def apply_shared_umask(workspace: Workspace) -> None:
    """In a shared workspace, create files group-writable (umask 002)."""
    if (workspace.home / SHARED_FILE).is_file():
        os.umask(0o002)


def engine_for(workspace: Workspace) -> Engine:
    """The migrated engine of ``workspace``, opened once per process and URL.

    SQLAlchemy is imported here, not at module level: it costs a few hundred
    milliseconds that the TUI's first paint must not pay.
    """
    engine = _ENGINES.get(workspace.db_url)
    if engine is None:
        from dockyard.store.db import open_engine

        try:
            engine = open_engine(workspace.db_url)
        except Exception as exc:
            if workspace.db_url != f"sqlite:///{workspace.home / DB_FILENAME}":
                _check_url_failure(exc)
            raise
        if engine.dialect.name == "postgresql":
            from sqlalchemy import event

            event.listen(engine, "handle_error", _refused_by_database)
        _ENGINES[workspace.db_url] = engine
    _HOMES.setdefault(engine, workspace.home)
    return engine


#: The SQLSTATE of the refusals the migrations' triggers raise (store/migrations 0008).
REFUSED_SQLSTATE = "DY001"
#: PostgreSQL's own "permission denied" (a privilege the role was not granted).
NO_PRIVILEGE_SQLSTATE = "42501"


def _refused_by_database(context: Any) -> None:
    """SQLAlchemy's ``handle_error`` hook: a refusal by the database's rules for the
    login's role becomes one line (``NotPermittedError``, exit 1) instead of a driver
    error with the statement attached."""
    from dockyard.core.errors import NotPermittedError

    original = context.original_exception
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate not in (REFUSED_SQLSTATE, NO_PRIVILEGE_SQLSTATE):
        return
    diag = getattr(original, "diag", None)
    message = " ".join(str(getattr(diag, "message_primary", None) or original).split())
    if sqlstate == NO_PRIVILEGE_SQLSTATE:
        message += " (the database role lacks the privilege; see docs/team.md, Roles)"
    raise NotPermittedError(f"refused by the database: {message}") from None


def reader_for(workspace: Workspace) -> Reader:
    """A read-only reader of ``workspace``'s store, opened once per process and URL.

    On a SQLite file at the code's schema revision this is the standard library's
    ``sqlite3`` (``store.queries.SqliteReader``): the read commands answer without importing
    SQLAlchemy, SQLModel or pydantic, which cost far more than the queries themselves
    (docs/architecture.md, decision 21). A store that must be created or migrated goes
    through :func:`engine_for` first. A PostgreSQL store reads through psycopg 3 directly
    (``store.queries.PsycopgReader``), any other URL through SQLAlchemy.
    """
    reader = _READERS.get(workspace.db_url)
    if reader is None:
        from dockyard.store.queries import SqlAlchemyReader, libpq_url, open_reader, sqlite_file

        path = sqlite_file(workspace.db_url)
        if libpq_url(workspace.db_url) is not None:
            try:
                reader = open_reader(workspace.db_url)  # psycopg when installed
            except ImportError as exc:
                _check_url_failure(exc)
                raise
        elif path is not None and path.is_file():
            reader = open_reader(workspace.db_url)  # migrates through store.db if behind
        elif path is not None:
            engine_for(workspace)  # creates and migrates the missing file
            reader = open_reader(workspace.db_url)
        else:
            reader = SqlAlchemyReader(engine_for(workspace))
        _READERS[workspace.db_url] = reader
    return reader


def open_writer(workspace: Workspace) -> Writer:
    """A new writer of ``workspace``'s store for one command's few rows; close it after.

    On a SQLite file at the code's schema revision this is the standard library's
    ``sqlite3`` (``store.writes.SqliteWriter``), so `run start`, `project add` and `model
    register` do not import SQLAlchemy, SQLModel or pydantic (decision 28). The revision is
    checked (and a store behind it migrated) by :func:`reader_for` first; any other URL
    writes through SQLAlchemy. Not shared between threads: each call opens its own.
    """
    from dockyard.store.queries import SqliteReader, sqlite_file
    from dockyard.store.writes import SqlAlchemyWriter, SqliteWriter

    reader = reader_for(workspace)  # creates or migrates the store when it must
    path = sqlite_file(workspace.db_url)
    if path is not None and isinstance(reader, SqliteReader):
        return SqliteWriter(path)
    return SqlAlchemyWriter(engine_for(workspace))


def close_stores() -> None:
    """Close every reader and dispose of every engine this process opened and cached.

    For a process that is done with its stores (a test suite opens hundreds of them: each
    cached reader or pooled connection holds the database, WAL and shared-memory files
    open). A later :func:`reader_for` or :func:`engine_for` opens afresh.
    """
    _DB_USERS.clear()
    while _READERS:
        _READERS.popitem()[1].close()
    while _ENGINES:
        _ENGINES.popitem()[1].dispose()


def home_of_engine(engine: Engine) -> Path | None:
    """The workspace folder ``engine`` serves: the one ``engine_for`` opened it for, else
    the folder of its SQLite file (the workspace folder unless ``DOCKYARD_DB`` moved it)."""
    home = _HOMES.get(engine)
    if home is None and engine.dialect.name == "sqlite" and engine.url.database:
        database = engine.url.database
        if database != ":memory:" and not database.startswith("file:"):
            home = Path(database).resolve().parent
    return home


def _check_url_failure(exc: Exception) -> None:
    """Turn a ``DOCKYARD_DB`` URL that SQLAlchemy cannot use into one line naming it."""
    from sqlalchemy.exc import ArgumentError  # its NoSuchModuleError: an unknown +driver

    if isinstance(exc, ImportError):  # postgresql:// without its driver installed
        raise InputError(
            f"DOCKYARD_DB needs a database driver that is not installed ({exc.name or exc}); "
            "install it, or name an installed one as in postgresql+psycopg://USER@HOST/DBNAME"
        ) from None
    if isinstance(exc, ArgumentError):
        raise InputError(
            "DOCKYARD_DB is not a usable database URL (an unknown driver, or malformed); "
            "write e.g. postgresql+psycopg://USER@HOST/DBNAME"
        ) from None


def open_store(workspace: Workspace) -> Engine:
    """Alias of :func:`engine_for`, for readers who look for "open"."""
    return engine_for(workspace)


def _postgres_revision(db_url: str) -> str | None:
    from dockyard.store.queries import postgres_revision

    try:
        return postgres_revision(db_url)
    except ImportError:
        raise InputError(
            "the store is on PostgreSQL and its driver is not installed: "
            "pip install 'dockyard[postgres]'"
        ) from None
    except Exception as exc:
        from dockyard.store.db import StoreError  # loaded already if that is what this is

        if isinstance(exc, StoreError):
            raise InputError(str(exc)) from None
        raise


def store_revision(workspace: Workspace) -> str | None:
    """The schema revision recorded in the workspace's store, or None if the store does
    not exist yet or records none.

    Read-only and without SQLAlchemy (the standard ``sqlite3`` module, or psycopg for a
    PostgreSQL store), no migration, so ``dockyard --version`` stays quick and changes
    nothing. Raises :class:`InputError` for a store that cannot be reached or read, or is
    not a database at all.
    """
    import sqlite3

    from dockyard.store.queries import SqliteReader, libpq_url, schema_revision

    path = workspace.db_path
    if path is None and libpq_url(workspace.db_url) is not None:
        return _postgres_revision(workspace.db_url)
    if path is None:
        raise InputError(
            "the store is neither a SQLite file nor PostgreSQL; its revision is not read"
        )
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
