"""The read path for the lists the UI shows: plain SQL, paged, filtered in SQL.

Nothing here imports SQLAlchemy for a SQLite store: the TUI's home screen must be drawn
long before SQLAlchemy (~0.4 s to import) could even load. ``open_reader`` checks the schema
revision with the standard ``sqlite3`` module and only falls back to ``store.db`` (which
migrates) when the revision differs from :data:`store.schema.HEAD_REVISION`. A PostgreSQL
URL gets the same check and a reader on psycopg 3 (imported only then); any other database
URL a reader backed by SQLAlchemy, imported lazily.

Every list query takes ``:limit``/``:offset`` and an optional text filter that becomes a
``LIKE`` pattern; none of them ever loads a whole table. Lists whose order puts one group
first (running runs, pending requests, open alerts) are read as *segments*: one indexed
query per group, the page split across them by their counts, which keeps each query on
an index instead of sorting the whole table on a ``CASE`` expression.
"""

from __future__ import annotations

import contextlib
import functools
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dockyard.store.schema import HEAD_REVISION

if TYPE_CHECKING:
    from sqlalchemy import Engine

Row = dict[str, Any]
Params = Mapping[str, Any]

BUSY_TIMEOUT_MS = 10_000


class Reader(Protocol):
    """Runs read-only SQL with ``:name`` parameters and returns rows as dicts."""

    def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]: ...

    def fetch_one(self, sql: str, params: Params | None = None) -> Row | None: ...

    def iter_rows(self, sql: str, params: Params | None = None) -> Iterator[tuple[Any, ...]]:
        """Rows as tuples, streamed: memory does not grow with the result."""
        ...

    def close(self) -> None: ...


class SqliteReader:
    """A read-only ``sqlite3`` connection, shared by worker threads behind a lock."""

    #: SQLite's LIKE folds ASCII case (its lower() folds nothing more), so filters can skip
    #: a LOWER() call per row and column.
    like_ignores_case = True

    def __init__(self, path: Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = path
        uri = f"{path.resolve().as_uri()}?mode=ro"
        self._conn = sqlite3.connect(
            uri, uri=True, check_same_thread=False, timeout=busy_timeout_ms / 1000
        )
        self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        self._lock = threading.Lock()

    def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        with self._lock:
            cursor = self._conn.execute(sql, dict(params or {}))
            names = [column[0] for column in cursor.description or ()]
            return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]

    def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        rows = self.fetch_all(sql, params)
        return rows[0] if rows else None

    def iter_rows(self, sql: str, params: Params | None = None) -> Iterator[tuple[Any, ...]]:
        # A cursor of its own, so a long stream does not hold the lock the lists share.
        cursor = self._conn.cursor()
        try:
            cursor.arraysize = 1000
            with self._lock:
                cursor.execute(sql, dict(params or {}))
            while rows := cursor.fetchmany():
                yield from rows
        finally:
            cursor.close()

    def iter_batches(
        self, sql: str, params: Params | None = None, size: int = 10_000
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Rows in lists of ``size``, streamed: for callers that check a whole batch at
        once in C (slices, joins) instead of row by row in Python."""
        cursor = self._conn.cursor()
        try:
            cursor.arraysize = size
            with self._lock:
                cursor.execute(sql, dict(params or {}))
            while rows := cursor.fetchmany():
                yield rows
        finally:
            cursor.close()

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction around the statements run inside: they all see the store
        as the first of them found it (a check made of many statements needs one state)."""
        with self._lock:
            self._conn.execute("BEGIN")
        try:
            yield
        finally:
            with self._lock:
                self._conn.rollback()

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class SqlAlchemyReader:
    """A reader over an SQLAlchemy engine, for PostgreSQL and other non-file stores."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            result = conn.execute(text(sql), dict(params or {}))
            return [dict(row) for row in result.mappings()]

    def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        rows = self.fetch_all(sql, params)
        return rows[0] if rows else None

    def iter_rows(self, sql: str, params: Params | None = None) -> Iterator[tuple[Any, ...]]:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=1000).execute(
                text(sql), dict(params or {})
            )
            for row in result:
                yield tuple(row)

    def close(self) -> None:
        self.engine.dispose()


_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@functools.lru_cache(maxsize=512)
def _pyformat(sql: str) -> str:
    """``:name`` parameters as psycopg's ``%(name)s`` (a literal ``%`` doubled; ``::type``
    casts left alone), so one SQL text serves both readers."""
    return _PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))


def libpq_url(db_url: str) -> str | None:
    """The libpq connection URI of a ``postgresql[+psycopg|+psycopg2]://`` SQLAlchemy URL,
    else None.

    Both spell user, password, host, port, database and options the same way (percent
    escapes included); only SQLAlchemy's ``+driver`` has to go.
    """
    match = re.match(r"^postgresql(\+\w+)?://", db_url, re.IGNORECASE)
    if match is None or (match.group(1) or "+psycopg").lower() not in ("+psycopg", "+psycopg2"):
        return None  # another driver: left to SQLAlchemy, which knows it (or says it cannot)
    return "postgresql://" + db_url[match.end() :]


class PsycopgReader:
    """The read path on PostgreSQL: psycopg 3 directly, no SQLAlchemy.

    One autocommit connection serves the lists (each query its own snapshot, never an idle
    transaction holding locks), shared by worker threads behind a lock; a stream gets a
    connection and a server-side cursor of its own in one read-only snapshot, so memory
    stays flat and a long verification sees one consistent state of the table.
    """

    like_ignores_case = False

    def __init__(self, conninfo: str, *, connect_timeout: int = 10) -> None:
        import psycopg

        self._conninfo = conninfo
        self._timeout = connect_timeout
        self._conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=connect_timeout)
        self._lock = threading.Lock()
        #: count SQL -> (``run_change`` marker, the count read with it): see ``runs_page``
        self.counts_at_marker: dict[str, tuple[int, int]] = {}

    def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        with self._lock:
            cursor = self._conn.execute(_pyformat(sql), dict(params or {}))
            names = [column.name for column in cursor.description or ()]
            return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]

    def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        rows = self.fetch_all(sql, params)
        return rows[0] if rows else None

    def iter_rows(self, sql: str, params: Params | None = None) -> Iterator[tuple[Any, ...]]:
        for batch in self.iter_batches(sql, params, size=1000):
            yield from batch

    def iter_batches(
        self, sql: str, params: Params | None = None, size: int = 10_000
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Rows in lists of ``size``, streamed from a server-side cursor."""
        import psycopg

        with psycopg.connect(self._conninfo, connect_timeout=self._timeout) as conn:
            conn.read_only = True
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            with conn.cursor(name="dockyard_stream") as cursor:
                cursor.itersize = size
                cursor.execute(_pyformat(sql), dict(params or {}))
                while rows := cursor.fetchmany(size):
                    yield rows
            conn.rollback()

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def postgres_revision(db_url: str) -> str | None:
    """The Alembic revision the PostgreSQL store at ``db_url`` records (None before its
    schema exists), read without migrating anything.

    Raises ``store.db.StoreConnectError`` (one line, no password) when the server cannot be
    reached or refuses the login.
    """
    import psycopg

    conninfo = libpq_url(db_url)
    assert conninfo is not None
    try:
        reader = PsycopgReader(conninfo, connect_timeout=5)
    except psycopg.Error as exc:
        from dockyard.store.db import StoreConnectError, describe_connect_error

        raise StoreConnectError(describe_connect_error(db_url, exc)) from None
    try:
        return schema_revision(reader)
    except psycopg.errors.UndefinedTable:
        return None
    finally:
        reader.close()


def open_postgres_reader(db_url: str) -> PsycopgReader:
    """A ``PsycopgReader`` of the PostgreSQL store at ``db_url``, migrated if behind.

    Raises ``store.db.StoreError`` (one line, no password) when the server cannot be
    reached, refuses the login, or holds a schema newer than this code.
    """
    import psycopg

    conninfo = libpq_url(db_url)
    assert conninfo is not None
    try:
        reader = PsycopgReader(conninfo)
    except psycopg.Error as exc:
        from dockyard.store.db import StoreConnectError, describe_connect_error

        raise StoreConnectError(describe_connect_error(db_url, exc)) from None
    try:
        revision = schema_revision(reader)
    except psycopg.errors.UndefinedTable:
        revision = None
    if revision == HEAD_REVISION:
        return reader
    reader.close()
    from dockyard.store.db import open_engine  # migrates, or refuses a newer schema

    open_engine(db_url).dispose()
    return PsycopgReader(conninfo)


def sqlite_file(db_url: str) -> Path | None:
    """The file of a plain ``sqlite:///PATH`` URL; None for anything else (memory, options)."""
    prefix = "sqlite:///"
    if not db_url.startswith(prefix) or "?" in db_url:
        return None
    path = db_url[len(prefix) :]
    if not path or path == ":memory:":
        return None
    return Path(path)


def as_utc(value: Any) -> datetime | None:
    """A stored time as an aware UTC datetime (SQLite gives text, PostgreSQL datetimes)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class SessionReader:
    """A reader inside an open SQLAlchemy session: the same SQL as the plain readers, and it
    sees the session's own writes not committed yet (it flushes before each statement).

    Lets a writer build what it returns with the read path's code instead of a second,
    ORM-shaped copy of it.
    """

    like_ignores_case = False

    def __init__(self, session: Any) -> None:
        self.session = session

    def _execute(self, sql: str, params: Params | None) -> Any:
        from sqlalchemy import text

        self.session.flush()
        return self.session.connection().execute(text(sql), dict(params or {}))

    def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        return [dict(row) for row in self._execute(sql, params).mappings()]

    def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        rows = self.fetch_all(sql, params)
        return rows[0] if rows else None

    def iter_rows(self, sql: str, params: Params | None = None) -> Iterator[tuple[Any, ...]]:
        for row in self._execute(sql, params):
            yield tuple(row)

    def close(self) -> None:
        """The session belongs to its caller."""


def in_list(name: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """``(:name0, :name1, ...)`` and its parameters, for ``col IN`` a list of values."""
    params = {f"{name}{i}": value for i, value in enumerate(values)}
    return "(" + ", ".join(f":{key}" for key in params) + ")", params


def sql_time(moment: datetime) -> str:
    """``moment`` (aware) as the text SQLAlchemy's SQLite ``DateTime`` stores: UTC,
    ``YYYY-MM-DD HH:MM:SS.ffffff``, so that plain SQL compares stored times correctly."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def schema_revision(reader: Reader) -> str | None:
    """The Alembic revision recorded in the store (raises if the table is missing)."""
    row = reader.fetch_one("SELECT version_num FROM alembic_version")
    return None if row is None else str(row["version_num"])


def open_reader(db_url: str) -> Reader:
    """A reader for the store at ``db_url``, migrated to the current schema if needed.

    For a SQLite file at the current revision this costs one ``sqlite3.connect``; a store
    that is missing, empty or behind goes through ``store.db.open_engine`` (Alembic), and a
    store written by a newer Dockyard raises its ``SchemaTooNewError`` (a ``StoreError``).
    """
    if libpq_url(db_url) is not None and _has_psycopg():
        return open_postgres_reader(db_url)
    path = sqlite_file(db_url)
    if path is not None and path.is_file():
        try:
            reader = SqliteReader(path)
        except sqlite3.Error:
            reader = None
        if reader is not None:
            try:
                if schema_revision(reader) == HEAD_REVISION:
                    return reader
            except sqlite3.Error:
                pass  # no alembic_version yet, or not a database: let migrate() say why
            reader.close()

    from dockyard.store.db import open_engine  # heavy: SQLAlchemy, and Alembic if behind

    engine = open_engine(db_url)
    if path is None:
        return SqlAlchemyReader(engine)
    engine.dispose()
    return SqliteReader(path)


def _has_psycopg() -> bool:
    from importlib.util import find_spec

    return find_spec("psycopg") is not None


@dataclass(frozen=True)
class Page:
    """One page of a list: ``rows`` from ``offset``, out of ``total`` matching rows.

    ``counts`` holds the size of each segment of a segmented list (e.g. running runs,
    then the rest), keyed by segment name, so a face can say "3 running" for free.
    """

    rows: list[Row]
    total: int
    offset: int
    counts: dict[str, int]


@dataclass(frozen=True)
class Segment:
    """One ordered group of a list: its name, its count SQL and its page SQL."""

    name: str
    count_sql: str
    page_sql: str


def like_pattern(filter_text: str) -> str:
    """A case-insensitive ``LIKE`` pattern matching ``filter_text`` anywhere, wildcards escaped."""
    escaped = (
        filter_text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    )
    return f"%{escaped}%"


def filter_params(filter_text: str) -> dict[str, Any]:
    """The ``:pattern`` and ``:text`` parameters every filtered query takes."""
    return {"pattern": like_pattern(filter_text), "text": filter_text.strip()}


def read_segments(
    reader: Reader,
    segments: Sequence[Segment],
    params: Params,
    *,
    limit: int,
    offset: int,
    counts: Mapping[str, int] | None = None,
) -> Page:
    """Read ``limit`` rows from ``offset`` of the segments taken one after the other
    (each segment counted with its ``count_sql``, unless ``counts`` are given)."""
    if counts is None:
        counts = {}
        for segment in segments:
            row = reader.fetch_one(segment.count_sql, params)
            counts[segment.name] = int(row["n"]) if row else 0
    counts = dict(counts)
    rows: list[Row] = []
    start = offset
    for segment in segments:
        size = counts[segment.name]
        wanted = limit - len(rows)
        if wanted <= 0:
            break
        if start >= size:
            start -= size
            continue
        page_params = {**params, "limit": wanted, "offset": start}
        rows.extend(reader.fetch_all(segment.page_sql, page_params))
        start = 0
    return Page(rows=rows, total=sum(counts.values()), offset=offset, counts=counts)


def _where(filter_sql: str, filter_text: str) -> str:
    """The filter clause when there is a filter, else a clause that keeps every row."""
    return f"({filter_sql})" if filter_text.strip() else "1 = 1"


#: What a list shows of archived rows: ``hide`` them (the default), ``only`` them, or
#: ``include`` them with the rest (each row then says whether it is archived).
ARCHIVED_CHOICES = ("hide", "only", "include")


def archived_clause(column: str, archived: str = "hide") -> str:
    """The SQL condition on an ``archived_at`` column that ``archived`` asks for."""
    if archived == "hide":
        return f"{column} IS NULL"
    if archived == "only":
        return f"{column} IS NOT NULL"
    if archived == "include":
        return "1 = 1"
    raise ValueError(f"archived must be one of {', '.join(ARCHIVED_CHOICES)}, not {archived!r}")


# --- Datasets -----------------------------------------------------------------------------

DATASETS_FILTER = (
    "LOWER(d.name) LIKE :pattern ESCAPE '\\' OR LOWER(d.description) LIKE :pattern ESCAPE '\\'"
)

DATASETS_COUNT = "SELECT COUNT(*) AS n FROM dataset AS d WHERE {where} AND {archived}"

# The latest version comes from the (dataset_id, version) unique index, one probe per row;
# an archived version is skipped unless archived rows are asked for.
DATASETS_PAGE = """
SELECT d.id AS id, d.name AS name, d.description AS description,
       d.created_at AS created_at, d.updated_at AS updated_at,
       v.version AS version, v.n_rows AS n_rows, v.n_cols AS n_cols,
       v.size_bytes AS size_bytes, v.file_format AS file_format,
       v.created_at AS version_created_at, d.archived_at AS archived_at
FROM dataset AS d
LEFT JOIN dataset_version AS v ON v.id = (
    SELECT lv.id FROM dataset_version AS lv
    WHERE lv.dataset_id = d.id AND {version_archived} ORDER BY lv.version DESC LIMIT 1
)
WHERE {where} AND {archived}
ORDER BY d.updated_at DESC, d.id DESC
LIMIT :limit OFFSET :offset
"""


def datasets_page(
    reader: Reader,
    filter_text: str = "",
    *,
    limit: int = 100,
    offset: int = 0,
    archived: str = "hide",
) -> Page:
    """Datasets, most recently changed first, each with its latest version (archived
    datasets and versions as ``archived`` says: hidden by default)."""
    where = _where(DATASETS_FILTER, filter_text)
    shown = archived_clause("d.archived_at", archived)
    versions = archived_clause("lv.archived_at", "hide" if archived == "hide" else "include")
    segment = Segment(
        "datasets",
        DATASETS_COUNT.format(where=where, archived=shown),
        DATASETS_PAGE.format(where=where, archived=shown, version_archived=versions),
    )
    return read_segments(reader, [segment], filter_params(filter_text), limit=limit, offset=offset)


# --- Runs ---------------------------------------------------------------------------------

#: Statuses shown above all others in the runs list.
LIVE_RUN_STATUS = "running"

RUNS_FILTER = (
    "LOWER(p.name) LIKE :pattern ESCAPE '\\' OR LOWER(r.status) LIKE :pattern ESCAPE '\\'"
    " OR LOWER(r.user) LIKE :pattern ESCAPE '\\' OR r.id = :run_id"
)

# The same filter where LIKE already ignores case (SQLite): on 100,000 runs the LOWER()
# calls were half of a filtered query's time.
RUNS_FILTER_CI = (
    "p.name LIKE :pattern ESCAPE '\\' OR r.status LIKE :pattern ESCAPE '\\'"
    " OR r.user LIKE :pattern ESCAPE '\\' OR r.id = :run_id"
)

RUNS_COUNT = """
SELECT COUNT(*) AS n FROM run AS r JOIN project AS p ON p.id = r.project_id
WHERE r.status {status_op} :live_status AND {archived} AND {where}
"""

# Unfiltered counts skip the join so SQLite answers them from an index alone (archived_at
# is the last column of both run list indexes).
RUNS_COUNT_PLAIN = (
    "SELECT COUNT(*) AS n FROM run AS r WHERE r.status {status_op} :live_status AND {archived}"
)

# PostgreSQL, unfiltered: the running runs counted with the marker that migration 0011's
# trigger moves whenever the number of runs shown can change; the total as well (one
# snapshot, one statement) only when the marker moved since the total was last counted.
RUNS_COUNT_AT_MARKER = """
SELECT (SELECT n FROM run_change WHERE id = 1) AS marker,
       (SELECT COUNT(*) FROM run AS r WHERE r.status = :live_status AND {archived}) AS running
"""
RUNS_COUNT_ALL_AT_MARKER = """
SELECT (SELECT n FROM run_change WHERE id = 1) AS marker,
       (SELECT COUNT(*) FROM run AS r WHERE r.status = :live_status AND {archived}) AS running,
       (SELECT COUNT(*) FROM run AS r WHERE {archived}) AS total
"""

# Ordered by ix_run_status_created (live segment) and ix_run_created_filter (the rest).
RUNS_PAGE = """
SELECT r.id AS id, p.name AS project, r.status AS status, r.user AS user,
       r.created_at AS created_at, r.started_at AS started_at, r.ended_at AS ended_at,
       r.primary_metric AS primary_metric, r.primary_value AS primary_value,
       r.exit_code AS exit_code, r.error AS error, r.host AS host, r.command AS command,
       r.group_id AS group_id, r.archived_at AS archived_at
FROM run AS r JOIN project AS p ON p.id = r.project_id
WHERE r.status {status_op} :live_status AND {archived} AND {where}
ORDER BY r.created_at DESC, r.id DESC
LIMIT :limit OFFSET :offset
"""


def runs_page(
    reader: Reader,
    filter_text: str = "",
    *,
    limit: int = 100,
    offset: int = 0,
    archived: str = "hide",
) -> Page:
    """Runs: running ones first, then every other run, newest first (archived runs as
    ``archived`` says: hidden by default)."""
    ci = getattr(reader, "like_ignores_case", False)
    where = _where(RUNS_FILTER_CI if ci else RUNS_FILTER, filter_text)
    shown = archived_clause("r.archived_at", archived)
    count = RUNS_COUNT if filter_text.strip() else RUNS_COUNT_PLAIN
    segments = [
        Segment(
            name,
            count.format(status_op=op, where=where, archived=shown),
            RUNS_PAGE.format(status_op=op, where=where, archived=shown),
        )
        for name, op in (("running", "="), ("other", "<>"))
    ]
    text = filter_text.strip()
    params = {
        **filter_params(filter_text),
        "live_status": LIVE_RUN_STATUS,
        # An integer compare on the primary key, not a CAST of every run's id to text.
        "run_id": int(text) if text.isdigit() else None,
    }
    remembered = getattr(reader, "counts_at_marker", None)
    counts = None
    if remembered is not None and not text:
        counts = _runs_counts_at_marker(reader, remembered, shown, params)
    return read_segments(reader, segments, params, limit=limit, offset=offset, counts=counts)


def _runs_counts_at_marker(
    reader: Reader, remembered: dict[str, tuple[int, int]], shown: str, params: Params
) -> dict[str, int]:
    """The unfiltered Runs list's segment counts on PostgreSQL, exact: the total is counted
    again only when ``run_change`` moved since it was last counted (migration 0011).

    Each statement reads the marker with its counts in one snapshot, so a remembered total
    belongs to the marker read with it, and an equal marker later means that no run was
    added, deleted, archived or restored in between (a change not yet committed moves the
    marker when it commits). A status change moves runs between the segments, not the
    total: the running ones are counted every time.
    """
    key = RUNS_COUNT_ALL_AT_MARKER.format(archived=shown)
    seen = remembered.get(key)
    if seen is not None:
        row = reader.fetch_one(RUNS_COUNT_AT_MARKER.format(archived=shown), params)
        assert row is not None  # scalar subqueries: always one row
        marker, running = int(row["marker"]), int(row["running"])
    if seen is not None and seen[0] == marker:
        total = seen[1]
    else:
        row = reader.fetch_one(key, params)
        assert row is not None
        marker, running, total = int(row["marker"]), int(row["running"]), int(row["total"])
        remembered[key] = (marker, total)
    return {"running": running, "other": total - running}


# The newest points of one metric, by the covering index (run_id, key, step, value).
RECENT_METRIC_VALUES = """
SELECT value FROM metric WHERE run_id = :run_id AND key = :key ORDER BY step DESC LIMIT :n
"""


def recent_metric_values(reader: Reader, run_id: int, key: str, n: int) -> list[float]:
    """The last ``n`` values of a run's metric, oldest first."""
    rows = reader.fetch_all(RECENT_METRIC_VALUES, {"run_id": run_id, "key": key, "n": n})
    return [float(r["value"]) for r in reversed(rows)]


# The same for every live run of a page in one statement (one round trip instead of one
# per run: on a busy PostgreSQL server each round trip waits its turn for a CPU).
RECENT_METRIC_VALUES_PART = """
SELECT * FROM (
    SELECT m.run_id AS run_id, m.step AS step, m.value AS value FROM metric AS m
    WHERE m.run_id = :r{index} AND m.key = :k{index} ORDER BY m.step DESC LIMIT :n
) AS s{index}"""


def recent_metric_values_sql(count: int) -> str:
    """The statement reading the last ``:n`` values of ``count`` (``:rI``, ``:kI``) series."""
    parts = [RECENT_METRIC_VALUES_PART.format(index=index) for index in range(count)]
    return "\nUNION ALL".join(parts) + "\nORDER BY run_id, step"


def recent_metric_values_of(
    reader: Reader, series: Sequence[tuple[int, str]], n: int
) -> dict[int, list[float]]:
    """The last ``n`` values of each (run id, metric key), oldest first, by run id."""
    if not series:
        return {}
    params: dict[str, Any] = {"n": n}
    for index, (run_id, key) in enumerate(series):
        params[f"r{index}"], params[f"k{index}"] = run_id, key
    result: dict[int, list[float]] = {}
    for row in reader.fetch_all(recent_metric_values_sql(len(series)), params):
        result.setdefault(int(row["run_id"]), []).append(float(row["value"]))
    return result


# Every run of the sweep groups on one page (ix_run_group_id), to mark each group's best.
RUN_GROUPS = """
SELECT r.group_id AS group_id, r.id AS id, r.status AS status,
       r.primary_value AS primary_value, r.project_id AS project_id
FROM run AS r
WHERE r.group_id IN ({groups})
"""

PROJECT_SPECS = "SELECT id, spec_json FROM project WHERE id IN ({ids})"


def _in_list(prefix: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """``:p0, :p1, ...`` and their parameters, for an ``IN (...)`` of a page's values."""
    names = [f":{prefix}{index}" for index in range(len(values))]
    return ", ".join(names), {f"{prefix}{index}": value for index, value in enumerate(values)}


def run_groups(reader: Reader, group_ids: Sequence[str]) -> list[Row]:
    """Every run of the given sweep groups: group, id, status, primary value, project."""
    if not group_ids:
        return []
    names, params = _in_list("g", group_ids)
    return reader.fetch_all(RUN_GROUPS.format(groups=names), params)


def project_specs(reader: Reader, project_ids: Sequence[int]) -> dict[int, str]:
    """project id -> its ``spec_json``, for the given projects only."""
    if not project_ids:
        return {}
    names, params = _in_list("p", project_ids)
    rows = reader.fetch_all(PROJECT_SPECS.format(ids=names), params)
    return {int(row["id"]): str(row["spec_json"] or "{}") for row in rows}


# --- Models -------------------------------------------------------------------------------

MODELS_FILTER = (
    "LOWER(m.name) LIKE :pattern ESCAPE '\\' OR EXISTS ("
    "SELECT 1 FROM model_alias AS fa WHERE fa.model_id = m.id"
    " AND LOWER(fa.alias) LIKE :pattern ESCAPE '\\')"
)

MODELS_COUNT = "SELECT COUNT(*) AS n FROM registered_model AS m WHERE {where} AND {archived}"

# A model is archived as a whole (its row) or version by version; hidden when its row is
# archived or every version it has is.
MODELS_ARCHIVED = {
    "hide": "m.archived_at IS NULL AND (NOT EXISTS (SELECT 1 FROM model_version AS hv"
    " WHERE hv.model_id = m.id) OR EXISTS (SELECT 1 FROM model_version AS hv"
    " WHERE hv.model_id = m.id AND hv.archived_at IS NULL))",
    "only": "(m.archived_at IS NOT NULL OR EXISTS (SELECT 1 FROM model_version AS hv"
    " WHERE hv.model_id = m.id AND hv.archived_at IS NOT NULL))",
    "include": "1 = 1",
}

MODELS_PAGE = """
SELECT m.id AS id, m.name AS name, m.description AS description,
       m.updated_at AS updated_at,
       v.id AS version_id, v.version AS version, v.run_id AS run_id,
       v.created_at AS version_created_at, v.created_by AS created_by,
       r.primary_metric AS primary_metric, r.primary_value AS primary_value,
       m.archived_at AS archived_at, v.archived_at AS version_archived_at
FROM registered_model AS m
LEFT JOIN model_version AS v ON v.id = (
    SELECT lv.id FROM model_version AS lv
    WHERE lv.model_id = m.id AND {version_archived} ORDER BY lv.version DESC LIMIT 1
)
LEFT JOIN run AS r ON r.id = v.run_id
WHERE {where} AND {archived}
ORDER BY m.updated_at DESC, m.id DESC
LIMIT :limit OFFSET :offset
"""

MODEL_ALIASES = """
SELECT a.model_id AS model_id, a.alias AS alias, v.version AS version
FROM model_alias AS a JOIN model_version AS v ON v.id = a.model_version_id
WHERE a.model_id IN ({ids})
ORDER BY a.model_id, a.alias
"""


def models_page(
    reader: Reader,
    filter_text: str = "",
    *,
    limit: int = 100,
    offset: int = 0,
    archived: str = "hide",
) -> Page:
    """Registered models, most recently changed first, with the latest version's metric.

    Each row carries ``aliases``: a list of ``(alias, version)`` pairs, read in one extra
    query for the page's models only. Archived models and versions are hidden by default
    (``archived``); the latest version shown is the latest one not hidden.
    """
    where = _where(MODELS_FILTER, filter_text)
    archived_clause("m.archived_at", archived)  # validates the choice
    shown = MODELS_ARCHIVED[archived]
    versions = archived_clause("lv.archived_at", "hide" if archived == "hide" else "include")
    segment = Segment(
        "models",
        MODELS_COUNT.format(where=where, archived=shown),
        MODELS_PAGE.format(where=where, archived=shown, version_archived=versions),
    )
    page = read_segments(reader, [segment], filter_params(filter_text), limit=limit, offset=offset)
    ids = [int(row["id"]) for row in page.rows]
    aliases: dict[int, list[tuple[str, int]]] = {model_id: [] for model_id in ids}
    if ids:
        names = [f":m{index}" for index in range(len(ids))]
        params = {f"m{index}": model_id for index, model_id in enumerate(ids)}
        for row in reader.fetch_all(MODEL_ALIASES.format(ids=", ".join(names)), params):
            aliases[int(row["model_id"])].append((str(row["alias"]), int(row["version"])))
    for row in page.rows:
        row["aliases"] = aliases[int(row["id"])]
    return page


# --- Deployments --------------------------------------------------------------------------

PENDING_REQUEST_STATUS = "pending"
ACTIVE_DEPLOYMENT_STATUS = "active"

REQUESTS_FILTER = (
    "LOWER(m.name) LIKE :pattern ESCAPE '\\' OR LOWER(q.target) LIKE :pattern ESCAPE '\\'"
    " OR LOWER(q.requested_by) LIKE :pattern ESCAPE '\\'"
)

REQUESTS_COUNT = """
SELECT COUNT(*) AS n
FROM deployment_request AS q
JOIN model_version AS v ON v.id = q.model_version_id
JOIN registered_model AS m ON m.id = v.model_id
WHERE q.status = :pending_status AND {where}
"""

# Ordered by ix_deployment_request_status (status, requested_at).
REQUESTS_PAGE = """
SELECT 'request' AS kind, q.id AS id, m.name AS model, v.version AS version,
       q.target AS target, q.status AS status, q.requested_by AS actor,
       q.requested_at AS at, q.reason AS reason, q.checks_json AS checks_json,
       (SELECT COUNT(*) FROM approval AS a
        WHERE a.request_id = q.id AND a.decision = 'approve') AS approved,
       e.approvals AS needed, e.protected AS protected
FROM deployment_request AS q
LEFT JOIN environment AS e ON e.name = q.target
JOIN model_version AS v ON v.id = q.model_version_id
JOIN registered_model AS m ON m.id = v.model_id
WHERE q.status = :pending_status AND {where}
ORDER BY q.requested_at DESC, q.id DESC
LIMIT :limit OFFSET :offset
"""

DEPLOYMENTS_FILTER = (
    "LOWER(m.name) LIKE :pattern ESCAPE '\\' OR LOWER(d.target) LIKE :pattern ESCAPE '\\'"
    " OR LOWER(d.deployed_by) LIKE :pattern ESCAPE '\\'"
)

DEPLOYMENTS_COUNT = """
SELECT COUNT(*) AS n
FROM deployment AS d
JOIN model_version AS v ON v.id = d.model_version_id
JOIN registered_model AS m ON m.id = v.model_id
WHERE d.status = :active_status AND {where}
"""

DEPLOYMENTS_PAGE = """
SELECT 'deployment' AS kind, d.id AS id, m.name AS model, v.version AS version,
       d.target AS target, d.status AS status, d.deployed_by AS actor,
       d.deployed_at AS at, '' AS reason, NULL AS checks_json, 0 AS approved,
       NULL AS needed, NULL AS protected
FROM deployment AS d
JOIN model_version AS v ON v.id = d.model_version_id
JOIN registered_model AS m ON m.id = v.model_id
WHERE d.status = :active_status AND {where}
ORDER BY d.deployed_at DESC, d.id DESC
LIMIT :limit OFFSET :offset
"""


def deployments_page(
    reader: Reader, filter_text: str = "", *, limit: int = 100, offset: int = 0
) -> Page:
    """Pending deployment requests (newest first), then active deployments.

    Rows carry ``kind`` (``request`` or ``deployment``); their ids come from two tables.
    """
    request_where = _where(REQUESTS_FILTER, filter_text)
    deployment_where = _where(DEPLOYMENTS_FILTER, filter_text)
    segments = [
        Segment(
            "pending",
            REQUESTS_COUNT.format(where=request_where),
            REQUESTS_PAGE.format(where=request_where),
        ),
        Segment(
            "active",
            DEPLOYMENTS_COUNT.format(where=deployment_where),
            DEPLOYMENTS_PAGE.format(where=deployment_where),
        ),
    ]
    params = {
        **filter_params(filter_text),
        "pending_status": PENDING_REQUEST_STATUS,
        "active_status": ACTIVE_DEPLOYMENT_STATUS,
    }
    return read_segments(reader, segments, params, limit=limit, offset=offset)


# Pending requests someone else made that the user has not decided yet, per environment,
# with who approves there (the approver check itself, groups included, is core's).
WAITING_REQUESTS = """
SELECT q.target AS target, e.approvers_json AS approvers_json, COUNT(*) AS n
FROM deployment_request AS q
JOIN environment AS e ON e.name = q.target
WHERE q.status = :pending_status AND q.requested_by != :user
  AND NOT EXISTS (SELECT 1 FROM approval AS a WHERE a.request_id = q.id AND a.reviewer = :user)
GROUP BY q.target, e.approvers_json
"""


def waiting_requests(reader: Reader, user: str) -> list[Row]:
    """Pending requests ``user`` did not make nor decide, counted per environment."""
    return reader.fetch_all(
        WAITING_REQUESTS, {"pending_status": PENDING_REQUEST_STATUS, "user": user}
    )


# --- Monitoring ---------------------------------------------------------------------------

ALERTS_FILTER = (
    "LOWER(mo.name) LIKE :pattern ESCAPE '\\' OR LOWER(p.name) LIKE :pattern ESCAPE '\\'"
    " OR LOWER(al.message) LIKE :pattern ESCAPE '\\'"
    " OR LOWER(al.severity) LIKE :pattern ESCAPE '\\'"
)

ALERTS_COUNT = """
SELECT COUNT(*) AS n
FROM alert AS al
JOIN monitor AS mo ON mo.id = al.monitor_id
JOIN project AS p ON p.id = mo.project_id
WHERE al.acknowledged_at IS NULL AND {where}
"""

# Ordered by ix_alert_open (acknowledged_at, created_at).
ALERTS_PAGE = """
SELECT 'alert' AS kind, al.id AS id, mo.name AS monitor, p.name AS project,
       al.severity AS status, al.created_at AS at, al.message AS message,
       mo.kind AS monitor_kind, mo.id AS monitor_id, al.result_id AS result_id,
       mo.enabled AS enabled, mo.schedule AS schedule, mo.paused AS paused,
       mo.last_checked_at AS checked_at
FROM alert AS al
JOIN monitor AS mo ON mo.id = al.monitor_id
JOIN project AS p ON p.id = mo.project_id
WHERE al.acknowledged_at IS NULL AND {where}
ORDER BY al.created_at DESC, al.id DESC
LIMIT :limit OFFSET :offset
"""

MONITORS_FILTER = (
    "LOWER(mo.name) LIKE :pattern ESCAPE '\\' OR LOWER(p.name) LIKE :pattern ESCAPE '\\'"
    " OR LOWER(mo.kind) LIKE :pattern ESCAPE '\\'"
)

MONITORS_COUNT = """
SELECT COUNT(*) AS n FROM monitor AS mo JOIN project AS p ON p.id = mo.project_id
WHERE {where}
"""

# The latest result of each monitor comes from ix_monitor_result_monitor_ran.
MONITORS_PAGE = """
SELECT 'monitor' AS kind, mo.id AS id, mo.name AS monitor, p.name AS project,
       res.status AS status, res.ran_at AS at, res.summary AS message,
       mo.kind AS monitor_kind, mo.enabled AS enabled, mo.schedule AS schedule,
       mo.id AS monitor_id, res.id AS result_id, mo.paused AS paused,
       mo.last_checked_at AS checked_at, p.archived_at AS project_archived_at
FROM monitor AS mo
JOIN project AS p ON p.id = mo.project_id
LEFT JOIN monitor_result AS res ON res.id = (
    SELECT lr.id FROM monitor_result AS lr
    WHERE lr.monitor_id = mo.id ORDER BY lr.ran_at DESC, lr.id DESC LIMIT 1
)
WHERE {where}
ORDER BY p.name, mo.name, mo.id
LIMIT :limit OFFSET :offset
"""


def monitoring_page(
    reader: Reader, filter_text: str = "", *, limit: int = 100, offset: int = 0
) -> Page:
    """Open alerts (newest first), then every monitor with its latest result.

    Rows carry ``kind`` (``alert`` or ``monitor``).
    """
    alert_where = _where(ALERTS_FILTER, filter_text)
    monitor_where = _where(MONITORS_FILTER, filter_text)
    segments = [
        Segment(
            "alerts",
            ALERTS_COUNT.format(where=alert_where),
            ALERTS_PAGE.format(where=alert_where),
        ),
        Segment(
            "monitors",
            MONITORS_COUNT.format(where=monitor_where),
            MONITORS_PAGE.format(where=monitor_where),
        ),
    ]
    return read_segments(reader, segments, filter_params(filter_text), limit=limit, offset=offset)


# The newest :n results of each monitor on a page, one index range per monitor
# (ix_monitor_result_monitor_ran), for the pane's history sparkline: one subquery per
# monitor joined by UNION ALL. The older form, `r.id IN (SELECT ... WHERE lr.monitor_id =
# mo.id ... LIMIT :n)`, was fine on SQLite, but PostgreSQL ran that subquery once per
# (result, monitor) pair: 0.45 s and 130,000 buffer reads for 618 results, on every home
# screen refresh (docs/performance.md, "Team scale on PostgreSQL").
MONITOR_HEADLINES_PART = """
SELECT * FROM (
    SELECT r.monitor_id AS monitor_id, r.headline AS headline, r.ran_at AS ran_at, r.id AS id
    FROM monitor_result AS r WHERE r.monitor_id = :m{index}
    ORDER BY r.ran_at DESC, r.id DESC LIMIT :n
) AS h{index}"""


def monitor_headlines_sql(count: int) -> str:
    """The statement reading the newest ``:n`` results of monitors ``:m0`` ... ``:m<count-1>``."""
    parts = [MONITOR_HEADLINES_PART.format(index=index) for index in range(count)]
    return "\nUNION ALL".join(parts) + "\nORDER BY monitor_id, ran_at, id"


def monitor_headlines(reader: Reader, monitor_ids: Sequence[int], n: int) -> dict[int, list[float]]:
    """The headline statistic of the last ``n`` results of each monitor, oldest first
    (results without one are left out)."""
    if not monitor_ids:
        return {}
    _names, params = _in_list("m", list(monitor_ids))
    rows = reader.fetch_all(monitor_headlines_sql(len(monitor_ids)), {**params, "n": n})
    result: dict[int, list[float]] = {}
    for row in rows:
        if row["headline"] is not None:
            result.setdefault(int(row["monitor_id"]), []).append(float(row["headline"]))
    return result


# --- Agent --------------------------------------------------------------------------------

AGENT_LEASE = """
SELECT holder, host, pid, acquired_at, heartbeat_at FROM agent_lease WHERE id = 1
"""


def agent_lease(reader: Reader) -> Row | None:
    """The agent lease row, or None when no agent ever ran on this store."""
    return reader.fetch_one(AGENT_LEASE)
