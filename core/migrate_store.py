"""Moving a workspace's SQLite store into an empty PostgreSQL database.

``dockyard migrate-store --to URL`` copies every table of the SQLite file, unchanged (same
ids, same audit chain), into a PostgreSQL database that holds no rows yet, then records the
new URL in the workspace's settings. The order of the work is what makes it safe:

1. Refusals first, before anything is written: a source that is not the workspace's own
   SQLite file, an agent that serves it or runs that are running (either would write to
   the store during the copy), an audit log that does not verify (a broken chain must not
   be laundered into a fresh store), a target that cannot be reached, holds rows, or is at
   another schema revision.
2. The target's schema is created by the same Alembic migrations as any store's (its own
   transaction: a later failure leaves the schema and no rows, and a second attempt goes on
   from there).
3. One PostgreSQL transaction copies the tables in foreign-key order, one ``COPY`` per
   table fed in batches from one read snapshot of the SQLite file (opened read-only), sets
   each sequence past the largest id, compares the row counts of every table and checks
   that the SQLite file did not change meanwhile (``PRAGMA data_version``). Any failure,
   or the process being killed, rolls it all back: the target keeps no rows.
4. After the commit the audit chain is verified on PostgreSQL against the workspace's
   witness (``core.audit.check_chain``); should it fail, the copied rows are removed again.
5. Only then is ``[store] db`` written to ``.dockyard/settings.toml``. The SQLite file is
   left as it was.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.core.errors import ConflictError, DockyardError, InputError
from dockyard.core.workspace import (
    SETTINGS_FILENAME,
    Workspace,
    check_db_url,
    record_store_url,
    settings_db_url,
)

if TYPE_CHECKING:
    from dockyard.core.audit import ChainReport

#: Rows read from SQLite and written into the table's ``COPY`` at a time.
BATCH_ROWS = 5_000
#: APScheduler's job store (core/scheduling.py): created by APScheduler, not by the
#: migrations, and copied too so that each monitor's next run time survives the move.
JOBS_TABLE = "apscheduler_jobs"
#: The copy of the audit witness kept beside it for going back to the SQLite file.
SQLITE_WITNESS = "audit-witness.sqlite"
#: Tables the copy leaves out: the target records its own schema revision, and its own
#: marker of run changes (migration 0011, PostgreSQL only), which the copy's inserts move.
NOT_COPIED = frozenset({"alembic_version", "run_change"})

#: ``progress(table, rows_done, rows_in_table)``, called after each batch.
Progress = Callable[[str, int, int], None]


class MigrationError(DockyardError):
    """The copy failed or did not verify; the target was left without rows."""


@dataclass(frozen=True)
class TableCount:
    """One table's rows in the SQLite store and, after the copy, in PostgreSQL."""

    table: str
    source_rows: int
    target_rows: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "sqlite": self.source_rows, "postgresql": self.target_rows}


@dataclass(frozen=True)
class MigrationReport:
    """What was (or, with ``dry_run``, would be) copied, and how it verified."""

    source: str
    target: str  # without its password
    tables: tuple[TableCount, ...]
    dry_run: bool
    schema_created: bool
    audit: ChainReport | None
    settings: Path
    seconds: float

    @property
    def rows(self) -> int:
        return sum(t.source_rows for t in self.tables)

    @property
    def ok(self) -> bool:
        counts_equal = all(t.target_rows == t.source_rows for t in self.tables)
        return self.dry_run or (counts_equal and self.audit is not None and self.audit.ok)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "dry_run": self.dry_run,
            "schema_created": self.schema_created,
            "tables": [t.to_dict() for t in self.tables],
            "rows": self.rows,
            "audit": None if self.audit is None else self.audit.to_dict(),
            "settings": str(self.settings),
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
        }


def shown_url(url: str) -> str:
    """``url`` without its password, for messages and reports."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


# --- refusals --------------------------------------------------------------------------


def _check_source(workspace: Workspace, env: dict[str, str]) -> Path:
    """The workspace's own SQLite file, if that is what the store is and may move."""
    settings = workspace.home / SETTINGS_FILENAME
    if env.get("DOCKYARD_DB", "").strip():
        raise InputError(
            "DOCKYARD_DB is set: migrate-store moves the workspace's own store and records the "
            f"new one in {settings}; unset DOCKYARD_DB and run it again"
        )
    path = workspace.db_path
    if path is None:
        raise InputError(
            f"this workspace's store is already {shown_url(workspace.db_url)}, not a SQLite "
            "file; migrate-store moves a SQLite store"
        )
    if settings_db_url(workspace.home) is not None:
        raise InputError(
            f"{settings} already names the store ([store] db); remove that line to move the "
            "workspace's own SQLite file"
        )
    if not path.is_file():
        raise InputError(f"no SQLite store at {path} to move; nothing to do")
    from dockyard.core.workspace import store_revision
    from dockyard.store.schema import HEAD_REVISION

    revision = store_revision(workspace)
    if revision != HEAD_REVISION:
        raise InputError(
            f"the SQLite store is at schema revision {revision}, this Dockyard at "
            f"{HEAD_REVISION}: open it once (e.g. `dockyard run list`) to bring it up to date, "
            "then migrate"
        )
    return path


def _check_quiet(workspace: Workspace) -> None:
    """Refuse while anything may write to the store: an agent, or runs under way."""
    from dockyard.core.agent import agent_status
    from dockyard.store.queries import SqliteReader

    status = agent_status(workspace)
    if status.alive:
        raise ConflictError(
            f"an agent serves this store (pid {status.pid} on {status.host}); stop it with "
            "`dockyard agent stop` and migrate again"
        )
    assert workspace.db_path is not None
    reader = SqliteReader(workspace.db_path)
    try:
        running = reader.fetch_all(
            "SELECT id FROM run WHERE status IN ('running', 'cancelling') ORDER BY id"
        )
    finally:
        reader.close()
    if running:
        ids = ", ".join(str(row["id"]) for row in running[:5])
        more = "" if len(running) <= 5 else f" and {len(running) - 5} more"
        raise ConflictError(
            f"{len(running)} run(s) are running ({ids}{more}); wait for them to end or cancel "
            "them (`dockyard run cancel ID`), then migrate"
        )


def _check_audit(workspace: Workspace) -> None:
    from dockyard.core.audit import check_chain

    report = check_chain(workspace)
    if not report.ok:
        raise MigrationError(
            f"the SQLite store's audit log does not verify ({report.describe()}); "
            "migrate-store copies only a store whose audit log is intact"
        )


def _target_conninfo(url: str) -> str:
    from dockyard.store.queries import libpq_url

    url = check_db_url(url.strip(), source="--to")
    conninfo = libpq_url(url)
    if conninfo is None:
        raise InputError(
            "--to must name a PostgreSQL database, as in postgresql+psycopg://USER@HOST:5432/DBNAME"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise InputError(
            "moving to PostgreSQL needs psycopg; install it with pip install 'dockyard[postgres]'"
        ) from None
    return conninfo


def _connect(url: str, conninfo: str) -> Any:
    import psycopg

    try:
        return psycopg.connect(conninfo, connect_timeout=10)
    except psycopg.Error as exc:
        from dockyard.store.db import StoreConnectError, describe_connect_error

        raise StoreConnectError(describe_connect_error(url, exc)) from None


def _target_tables(conn: Any) -> list[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
    ).fetchall()
    return [str(name) for (name,) in rows]


def _target_state(conn: Any) -> str | None:
    """The target's schema revision (None: no Dockyard schema yet); refuses a target that
    is not empty or is at another revision."""
    from dockyard.store.schema import HEAD_REVISION

    tables = _target_tables(conn)
    if "alembic_version" not in tables:
        if tables:
            raise InputError(
                f"the target database holds {len(tables)} table(s) ({', '.join(tables[:3])}) "
                "but no Dockyard schema; give an empty database"
            )
        conn.rollback()
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    revision = None if row is None else str(row[0])
    if revision != HEAD_REVISION:
        raise InputError(
            f"the target database is at schema revision {revision}, this Dockyard at "
            f"{HEAD_REVISION}; give an empty database"
        )
    _refuse_rows(conn, tables)
    conn.rollback()
    return revision


def _refuse_rows(conn: Any, tables: list[str]) -> None:
    from psycopg import sql

    for table in tables:
        if table in NOT_COPIED:
            continue
        query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(table))
        if conn.execute(query).fetchone()[0]:
            raise InputError(
                f"the target database is not empty (table {table} has rows); migrate-store "
                "copies only into an empty database"
            )


# --- the source ------------------------------------------------------------------------


def _open_source(path: Path) -> sqlite3.Connection:
    """The SQLite file, read-only; transactions are begun by hand (one snapshot)."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=10)
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _source_tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name"
    ).fetchall()
    return [str(name) for (name,) in rows if name not in NOT_COPIED]


def _source_counts(conn: sqlite3.Connection, tables: list[str]) -> dict[str, int]:
    return {t: int(conn.execute(f"SELECT count(*) FROM {_quote(t)}").fetchone()[0]) for t in tables}


def _data_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


# --- converting values -----------------------------------------------------------------


def _as_datetime(value: Any, aware: bool) -> datetime:
    # SQLAlchemy keeps DateTime on SQLite as naive UTC text; Dockyard's own writers the same
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment if aware else moment.astimezone(UTC).replace(tzinfo=None)


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "t", "true")
    return bool(value)


#: The PostgreSQL column types whose values SQLite hands over in another form (0/1,
#: naive UTC text, text dates). Numbers and text go to ``COPY`` as they come: a value
#: PostgreSQL refuses there fails the transaction, which leaves the target empty anyway.
_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "boolean": _as_bool,
    "timestamp with time zone": lambda v: _as_datetime(v, aware=True),
    "timestamp without time zone": lambda v: _as_datetime(v, aware=False),
    "date": lambda v: v if isinstance(v, date) else date.fromisoformat(str(v)),
    "bytea": lambda v: v.encode("utf-8") if isinstance(v, str) else bytes(v),
}
_TEXT_TYPES = frozenset({"text", "character varying", "character", "json", "jsonb"})


def _row_converter(
    table: str, columns: list[str], types: list[str]
) -> Callable[[tuple[Any, ...]], tuple[Any, ...]] | None:
    """A function making one SQLite row what the PostgreSQL columns take (None: the rows
    go as they are); a value that cannot be is a :class:`MigrationError` naming the
    table, the column and the row."""
    steps = [(i, _CONVERTERS[kind]) for i, kind in enumerate(types) if kind in _CONVERTERS]
    if not steps:
        return None

    def convert(row: tuple[Any, ...]) -> tuple[Any, ...]:
        values = list(row)
        for index, step in steps:
            value = values[index]
            if value is None:
                continue
            try:
                values[index] = step(value)
            except (ValueError, TypeError) as exc:
                raise MigrationError(
                    f"table {table}, {_which_row(columns, row)}: column {columns[index]} "
                    f"holds {str(value)[:40]!r}, not a {types[index]} ({exc}); nothing was "
                    "copied (fix the value in the SQLite store and migrate again)"
                ) from None
        return tuple(values)

    return convert


def _which_row(columns: list[str], row: tuple[Any, ...]) -> str:
    return f"id {row[columns.index('id')]}" if "id" in columns else "a row"


def _refuse_nul(source: sqlite3.Connection, table: str, columns: list[tuple[str, str]]) -> None:
    """PostgreSQL text cannot hold a NUL character, which SQLite text can: name the first
    such value before anything is sent (SQLite searches the bytes, in C)."""
    names = [name for name, _kind in columns]
    for name, kind in columns:
        if kind not in _TEXT_TYPES:
            continue
        found = source.execute(
            f"SELECT {', '.join(_quote(n) for n in names)} FROM {_quote(table)} "
            f"WHERE instr(CAST({_quote(name)} AS BLOB), X'00') > 0 LIMIT 1"
        ).fetchone()
        if found is not None:
            raise MigrationError(
                f"table {table}, {_which_row(names, found)}: column {name} holds a NUL "
                "character, which PostgreSQL text cannot store; nothing was copied (fix the "
                "value in the SQLite store and migrate again)"
            )


# --- the target's catalogue --------------------------------------------------------------


def _columns(conn: Any) -> dict[str, list[tuple[str, str]]]:
    """Each target table's (column, data type), in column order."""
    found: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in conn.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
    ):
        found.setdefault(str(table), []).append((str(column), str(kind)))
    return found


#: References PostgreSQL checks with triggers instead of a foreign key (migration 0012):
#: invisible to ``pg_constraint``, still refused if the rows come before their parents.
_TRIGGER_REFERENCES = {"metric": {"run"}}


def _dependency_order(conn: Any, tables: list[str]) -> list[str]:
    """``tables`` ordered so that each comes after the tables its foreign keys name."""
    from graphlib import TopologicalSorter

    graph: dict[str, set[str]] = {table: set() for table in tables}
    for child, parent in conn.execute(
        "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c "
        "JOIN pg_namespace n ON n.oid = c.connamespace "
        "WHERE c.contype = 'f' AND n.nspname = current_schema()"
    ):
        child, parent = str(child).strip('"'), str(parent).strip('"')
        if child in graph and parent in graph and child != parent:
            graph[child].add(parent)
    for child, parents in _TRIGGER_REFERENCES.items():
        if child in graph:
            graph[child] |= parents & graph.keys()
    sorter = TopologicalSorter(graph)
    sorter.prepare()
    ordered: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())  # stable: the same order every time
        ordered.extend(ready)
        sorter.done(*ready)
    return ordered


def _primary_key(conn: Any, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT a.attname FROM pg_index i "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = to_regclass(%s) AND i.indisprimary ORDER BY a.attnum",
        (table,),
    ).fetchall()
    return [str(name) for (name,) in rows]


def _create_jobs_table(conn: Any, url: str) -> None:
    """APScheduler's table, exactly as its job store would create it on this database."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from sqlalchemy import create_engine
    from sqlalchemy.schema import CreateIndex, CreateTable

    engine = create_engine(url)  # for the dialect only: it never connects
    table = SQLAlchemyJobStore(engine=engine).jobs_t
    conn.execute(str(CreateTable(table).compile(dialect=engine.dialect)))
    for index in table.indexes:
        conn.execute(str(CreateIndex(index).compile(dialect=engine.dialect)))
    engine.dispose()


# --- the copy ----------------------------------------------------------------------------


def _copy_table(
    source: sqlite3.Connection,
    cursor: Any,
    table: str,
    columns: list[tuple[str, str]],
    order: list[str],
    total: int,
    progress: Progress | None,
) -> None:
    from psycopg import sql

    names = [name for name, _kind in columns]
    _refuse_nul(source, table, columns)
    convert = _row_converter(table, names, [kind for _name, kind in columns])
    select = f"SELECT {', '.join(_quote(n) for n in names)} FROM {_quote(table)}"
    if order:
        select += f" ORDER BY {', '.join(_quote(n) for n in order)}"
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(n) for n in names)
    )
    rows = source.execute(select)
    done = 0
    # one COPY per table: a row may name another of the same table (run.parent_run_id),
    # and foreign keys are checked at the end of the statement
    with cursor.copy(copy_sql) as copy:
        while batch := rows.fetchmany(BATCH_ROWS):
            for row in batch if convert is None else map(convert, batch):
                copy.write_row(row)
            done += len(batch)
            if progress is not None:
                progress(table, done, total)
    if progress is not None and done == 0:
        progress(table, 0, 0)


def _reset_sequences(cursor: Any, table: str, columns: list[tuple[str, str]]) -> None:
    """Each sequence of ``table`` set past its largest id, so the next insert gets max+1."""
    from psycopg import sql

    for name, _kind in columns:
        row = cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", (table, name)).fetchone()
        if row is None or row[0] is None:
            continue
        cursor.execute(
            sql.SQL(
                "SELECT setval(%s, COALESCE(MAX({col}), 1), MAX({col}) IS NOT NULL) FROM {tbl}"
            ).format(col=sql.Identifier(name), tbl=sql.Identifier(table)),
            (row[0],),
        )


def _target_counts(cursor: Any, tables: list[str]) -> dict[str, int]:
    from psycopg import sql

    counts: dict[str, int] = {}
    for table in tables:
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        counts[table] = int(cursor.execute(query).fetchone()[0])
    return counts


def _empty(url: str, conninfo: str, tables: list[str]) -> None:
    """Remove every copied row again (the copy committed but did not verify)."""
    from psycopg import sql

    conn = _connect(url, conninfo)
    try:
        with conn.transaction():
            conn.execute(
                sql.SQL("TRUNCATE {} RESTART IDENTITY").format(
                    sql.SQL(", ").join(sql.Identifier(t) for t in tables)
                )
            )
    finally:
        conn.close()


@dataclass
class _Plan:
    path: Path
    conninfo: str
    revision: str | None
    tables: list[str]
    counts: dict[str, int]


def _plan(workspace: Workspace, url: str, env: dict[str, str]) -> _Plan:
    path = _check_source(workspace, env)
    conninfo = _target_conninfo(url)
    _check_quiet(workspace)
    _check_audit(workspace)
    import psycopg

    conn = _connect(url, conninfo)
    try:
        revision = _target_state(conn)
    except psycopg.Error as exc:  # no right to read the catalogue, the server went away
        detail = " ".join(str(exc).split())[:300]
        raise MigrationError(f"cannot inspect the target database: {detail}") from None
    finally:
        conn.close()
    source = _open_source(path)
    try:
        tables = _source_tables(source)
        counts = _source_counts(source, tables)
    finally:
        source.close()
    return _Plan(path, conninfo, revision, tables, counts)


def migrate_store(
    workspace: Workspace,
    url: str,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    env: dict[str, str] | None = None,
) -> MigrationReport:
    """Copy ``workspace``'s SQLite store into the empty PostgreSQL database ``url``, verify
    the copy (row counts, audit chain) and record ``url`` in the workspace's settings.

    With ``dry_run`` only the checks run and the report says what would be copied. Raises
    :class:`InputError` (exit 2) for a bad or non-empty target, :class:`ConflictError`
    while an agent or runs are running, :class:`MigrationError` when the copy fails or does
    not verify; in every case the target keeps no rows and the settings are unchanged.
    """
    started = time.monotonic()
    env = dict(os.environ if env is None else env)
    url = url.strip()
    plan = _plan(workspace, url, env)
    settings = workspace.home / SETTINGS_FILENAME
    if dry_run:
        return MigrationReport(
            source=workspace.db_url,
            target=shown_url(url),
            tables=tuple(TableCount(t, plan.counts[t], None) for t in plan.tables),
            dry_run=True,
            schema_created=plan.revision is None,
            audit=None,
            settings=settings,
            seconds=time.monotonic() - started,
        )
    if plan.revision is None:
        from dockyard.store.db import open_engine

        open_engine(url).dispose()  # the same migrations, to the same head
    tables, counts = _copy(workspace, url, plan, progress)
    report = _verify(workspace, url, plan, tables, counts, started)
    _keep_witness(workspace)
    record_store_url(workspace.home, url, by="`dockyard migrate-store`")
    return report


def _keep_witness(workspace: Workspace) -> None:
    """A copy of the audit witness as it matches the SQLite file: the witness goes on
    recording the events made on PostgreSQL, which going back to the file would report as
    missing; with this copy put back, going back verifies."""
    import shutil

    from dockyard.core.audit import witness_path

    witness = witness_path(workspace)
    if witness.is_file():
        shutil.copy2(witness, witness.with_name(SQLITE_WITNESS))


def _copy(
    workspace: Workspace, url: str, plan: _Plan, progress: Progress | None
) -> tuple[list[str], dict[str, int]]:
    """The one transaction: every table copied, sequences set, counts compared."""
    import psycopg
    from psycopg import sql

    source = _open_source(plan.path)
    conn = _connect(url, plan.conninfo)
    try:
        version = _data_version(source)
        source.execute("BEGIN")  # one snapshot for every table and count
        tables = _source_tables(source)
        counts = _source_counts(source, tables)
        with conn.transaction(), conn.cursor() as cursor:
            if JOBS_TABLE in tables and JOBS_TABLE not in _target_tables(conn):
                _create_jobs_table(conn, url)
            catalogue = _columns(conn)
            unknown = [t for t in tables if t not in catalogue]
            if unknown:
                raise MigrationError(
                    f"the SQLite store has table(s) {', '.join(unknown)} that this Dockyard's "
                    "schema does not; nothing was copied"
                )
            ordered = _dependency_order(conn, tables)
            # nobody writes to the target while it fills (a command run against it, a
            # second migrate-store): the emptiness checked before holds until the commit
            cursor.execute(
                sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                    sql.SQL(", ").join(sql.Identifier(t) for t in ordered)
                )
            )
            _refuse_rows(conn, _target_tables(conn))
            for table in ordered:
                columns = catalogue[table]
                have = {row[1] for row in source.execute(f"PRAGMA table_info({_quote(table)})")}
                if have != {name for name, _kind in columns}:
                    raise MigrationError(
                        f"table {table} has other columns in the SQLite store than in the "
                        "PostgreSQL schema; nothing was copied"
                    )
                _copy_table(
                    source,
                    cursor,
                    table,
                    columns,
                    _primary_key(conn, table),
                    counts[table],
                    progress,
                )
                _reset_sequences(cursor, table, columns)
            copied = _target_counts(cursor, ordered)
            wrong = [t for t in ordered if copied[t] != counts[t]]
            if wrong:
                table = wrong[0]
                raise MigrationError(
                    f"table {table}: {counts[table]} rows in SQLite, {copied[table]} copied; "
                    "nothing was copied"
                )
            source.execute("COMMIT")
            if _data_version(source) != version:
                raise ConflictError(
                    "the SQLite store changed during the copy (an agent or a command wrote to "
                    "it); nothing was copied: stop what writes to it and migrate again"
                )
    except psycopg.Error as exc:
        detail = " ".join(str(exc).split())[:300]
        raise MigrationError(f"the copy failed, nothing was copied: {detail}") from None
    finally:
        conn.close()
        source.close()
    return ordered, counts


def _verify(
    workspace: Workspace,
    url: str,
    plan: _Plan,
    tables: list[str],
    counts: dict[str, int],
    started: float,
) -> MigrationReport:
    """Counts and audit chain read back through a new connection, after the commit."""
    from dockyard.core.audit import check_chain

    target = Workspace(home=workspace.home, db_url=url)
    conn = _connect(url, plan.conninfo)
    try:
        with conn.cursor() as cursor:
            copied = _target_counts(cursor, tables)
    finally:
        conn.close()
    audit = check_chain(target)
    report = MigrationReport(
        source=workspace.db_url,
        target=shown_url(url),
        tables=tuple(TableCount(t, counts[t], copied[t]) for t in tables),
        dry_run=False,
        schema_created=plan.revision is None,
        audit=audit,
        settings=workspace.home / SETTINGS_FILENAME,
        seconds=time.monotonic() - started,
    )
    if not report.ok:
        _empty(url, plan.conninfo, tables)
        why = audit.describe() if not audit.ok else "row counts differ"
        raise MigrationError(
            f"the copy did not verify on PostgreSQL ({why}); its rows were removed again and "
            "the workspace still uses its SQLite file"
        )
    return report


def iter_lines(report: MigrationReport) -> Iterator[str]:
    """The closing lines for a person: verdict, where the store is, how to go back."""
    if report.dry_run:
        schema = (
            "its schema would be created first"
            if report.schema_created
            else "its schema is there and empty"
        )
        yield (
            f"dry run: {len(report.tables)} tables, {report.rows} rows would be copied into "
            f"{report.target} ({schema}); nothing was changed"
        )
        return
    assert report.audit is not None
    yield (
        f"verified: every table's row count is equal ({report.rows} rows in "
        f"{len(report.tables)} tables, {report.seconds:.1f} s) and the audit log is intact on "
        f"PostgreSQL ({report.audit.events} events)"
    )
    yield f"the workspace now uses {report.target} (recorded in {report.settings})"
    yield (
        f"the SQLite file {report.source.removeprefix('sqlite:///')} is kept as it was; to go "
        f"back, remove the [store] lines from {report.settings.name} and put "
        f"{SQLITE_WITNESS} back as audit-witness (what is done on PostgreSQL from now on is "
        "not in that file)"
    )
