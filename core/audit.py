"""The audit log: append-only and hash-chained, so an edited or deleted entry is detectable.

Each event's ``hash`` is SHA-256 over the previous event's hash and the event's canonical
JSON (time, actor, action, entity, details). The chain alone cannot show that its newest
events were deleted, nor that someone rewrote an event and recomputed every hash after it:
both leave a chain that is valid on its own. So every committed append is also recorded
in the *witness*, ``audit-witness`` in the workspace folder: append-only lines
``COUNT ID HASH`` (the event's position in the chain, its id and its hash). An edit of the
table alone then disagrees with the witness. ``check_chain`` streams both and names the
first event that is wrong.

Ordering, and why a crash never looks like tampering: an append commits the event, makes
the commit durable (SQLite: an fsync of the WAL), and only then writes its witness line.
The witness is therefore never ahead of the store; the store may be ahead of it (a crash
between the commit and the witness write, or a shared PostgreSQL store written from
another workspace folder). Such unwitnessed newest events are reported, not treated as
tampering, and the next append writes their lines (they are in the chain it extends).
A witness record the store does not have, or has with another hash, is tampering.

Appends are serialised: on SQLite the appending transaction takes the write lock
(``BEGIN IMMEDIATE``) before it reads the chain's head, on PostgreSQL a transaction-level
advisory lock (``AUDIT_LOCK_KEY``), so two processes appending at the same instant extend
one chain instead of forking it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from dockyard.core.errors import DockyardError

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlmodel import Session

    from dockyard.core.workspace import Workspace
    from dockyard.store.writes import Transaction, Writer

GENESIS = "0" * 64
WITNESS_FILENAME = "audit-witness"
WITNESS_HEADER = b"# dockyard audit witness: COUNT ID SHA256 of each event, after its commit\n"

_PENDING = "dockyard.audit.pending"
#: The PostgreSQL advisory lock that serialises appends (per database; any fixed number
#: that no other tool sharing the database uses: "DYAUDIT" in ASCII).
AUDIT_LOCK_KEY = 0x44594155444954
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str
    details: dict[str, Any]
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "details": self.details,
            "hash": self.hash,
        }


@dataclass(frozen=True)
class ChainReport:
    """What ``check_chain`` found: the chain's size and head, and the first problem if any.

    ``broken_id`` is the id of the first event that is wrong (or missing); ``problem``
    says what is wrong with it. ``unwitnessed`` counts the newest events that the witness
    does not record yet, which is not tampering (see the module docstring).
    """

    events: int
    head_id: int | None
    head_hash: str
    witnessed: int
    unwitnessed: int
    witness_found: bool
    broken_id: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def describe(self) -> str:
        """One line for the user: the first problem, or what was checked."""
        if self.problem is not None:
            return self.problem
        if not self.events:
            return "audit log intact: no events yet"
        text = f"audit log intact: {self.events} events, head {self.head_hash[:12]}"
        if self.unwitnessed:
            text += (
                f"; the newest {self.unwitnessed} are not in the witness yet (an append "
                "interrupted after its commit, or written from another workspace folder); "
                "the chain covers them and the next audited change records them"
            )
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head_id": self.head_id,
            "head_hash": self.head_hash,
            "witnessed": self.witnessed,
            "unwitnessed": self.unwitnessed,
            "witness_found": self.witness_found,
            "broken_event": self.broken_id,
            "problem": self.problem,
        }


class AuditChainError(DockyardError):
    """The audit log has been tampered with; the message names the first broken event."""

    def __init__(self, report: ChainReport) -> None:
        super().__init__(report.describe())
        self.report = report


def _digest(prev_hash: str, at: datetime, actor: str, action: str, entity_type: str,
            entity_id: str, details_json: str) -> str:  # fmt: skip
    return _digest_text(prev_hash, at.isoformat(), actor, action, entity_type, entity_id,
                        details_json)  # fmt: skip


# One encoder built once: json.dumps with custom separators builds a new one per call,
# which is a third of the time of verifying a large chain.
_CANONICAL = json.JSONEncoder(separators=(",", ":")).encode


def _digest_text(*fields: str) -> str:
    return hashlib.sha256(_CANONICAL(list(fields)).encode()).hexdigest()


def _iso(at: Any) -> str:
    """The ``isoformat`` of the aware UTC time the event was hashed with."""
    if isinstance(at, str):  # SQLite keeps ``YYYY-MM-DD HH:MM:SS.ffffff``, naive UTC
        at = datetime.fromisoformat(at)
    if at.tzinfo is None:
        return str(at.replace(tzinfo=UTC).isoformat())
    return str(at.astimezone(UTC).isoformat())


def witness_path(workspace: Workspace) -> Path:
    """The witness file of ``workspace``: always in the workspace folder, whatever the store."""
    return workspace.home / WITNESS_FILENAME


# --- appending --------------------------------------------------------------------------------


def append_event(
    session: Session,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str | int,
    details: dict[str, Any] | None = None,
) -> None:
    """Add an event to ``session``'s transaction, chained to the newest one.

    The caller commits: the event lands with the change it records, or neither does. The
    transaction holds the store's write lock from here to its commit, so concurrent
    appenders queue instead of forking the chain; after the commit the event's witness line
    is written.
    """
    from sqlmodel import col, select

    from dockyard.store.models import AuditEvent, utcnow

    _lock_chain(session)
    last = session.exec(select(AuditEvent).order_by(col(AuditEvent.id).desc()).limit(1)).first()
    prev = last.hash if last else GENESIS
    at = utcnow()
    details_json = json.dumps(details or {}, sort_keys=True, default=str)
    event = AuditEvent(
        at=at,
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        details_json=details_json,
        prev_hash=prev,
        hash=_digest(prev, at, actor, action, entity_type, str(entity_id), details_json),
    )
    session.add(event)
    session.flush()  # the id is needed for the witness, which is written after the commit
    assert event.id is not None
    _pending(session).append(((last.id or 0) if last else 0, event.id, event.hash))


def append_event_in(
    tx: Transaction,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str | int,
    details: dict[str, Any] | None = None,
) -> tuple[int, int, str]:
    """:func:`append_event` for a ``store.writes`` transaction (the plain-SQL write path).

    The transaction already holds the write lock (a SQLite writer begins ``IMMEDIATE``;
    on PostgreSQL the chain's advisory lock is taken here, as :func:`_lock_chain` does for
    the ORM path), so the head read below is the chain's true head. Returns the witness
    record to hand to :func:`witness_appended` after the commit.
    """
    if tx.dialect == "postgresql":
        tx.execute("SELECT pg_advisory_xact_lock(:key)", {"key": AUDIT_LOCK_KEY})
    last = tx.fetch_one("SELECT id, hash FROM audit_event ORDER BY id DESC LIMIT 1")
    prev = str(last["hash"]) if last else GENESIS
    at = datetime.now(UTC)
    details_json = json.dumps(details or {}, sort_keys=True, default=str)
    event_id = tx.insert(
        "audit_event",
        {
            "at": at,
            "actor": actor,
            "action": action,
            "entity_type": entity_type,
            "entity_id": str(entity_id),
            "details_json": details_json,
            "prev_hash": prev,
            "hash": (digest := _digest(prev, at, actor, action, entity_type, str(entity_id),
                                       details_json)),
        },
    )  # fmt: skip
    return (int(last["id"]) if last else 0, event_id, digest)


def witness_appended(
    workspace: Workspace, writer: Writer, pending: list[tuple[int, int, str]]
) -> None:
    """After the commit of :func:`append_event_in`'s transaction: make the commit durable,
    then write the events' witness lines (as a session's commit does, decision 17)."""
    from dockyard.core.workspace import reader_for

    if not pending:
        return
    try:
        writer.durable()
        reader = reader_for(workspace)
        _write_witness(witness_path(workspace), partial(_events_read, reader), pending)
    except (OSError, DockyardError) as exc:
        _log.warning("could not write the audit witness: %s", exc)


def _events_read(reader: Any, after_id: int, up_to_id: int) -> list[tuple[int, str]]:
    rows = reader.fetch_all(
        "SELECT id, hash FROM audit_event WHERE id > :a AND id <= :b ORDER BY id",
        {"a": after_id, "b": up_to_id},
    )
    return [(int(row["id"]), str(row["hash"])) for row in rows]


def _lock_chain(session: Session) -> None:
    """Take the store's write lock now, before the head is read, until the commit."""
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect == "sqlite":
        raw = connection.connection.driver_connection
        # Python's sqlite3 opens a transaction only before a write; a transaction already
        # open here has written, so it holds the write lock. Otherwise take it now: a
        # deferred transaction would read the head unlocked and race another appender.
        if raw is not None and not raw.in_transaction:
            raw.execute("BEGIN IMMEDIATE")
    elif dialect == "postgresql":
        from sqlalchemy import text

        # A transaction-scoped advisory lock: appenders queue on it, readers never wait, and
        # it needs no privilege on the table (a LOCK TABLE in a mode that excludes other
        # appenders needs UPDATE or DELETE on audit_event, which team roles will not have).
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})


def _pending(session: Session) -> list[tuple[int, int, str]]:
    pending: list[tuple[int, int, str]] | None = session.info.get(_PENDING)
    if pending is None:
        from sqlalchemy import event

        pending = session.info[_PENDING] = []
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_rollback", _after_rollback)
    return pending


def _after_rollback(session: Session) -> None:
    session.info[_PENDING] = []


def _after_commit(session: Session) -> None:
    pending: list[tuple[int, int, str]] = session.info.get(_PENDING) or []
    session.info[_PENDING] = []
    if not pending:
        return
    from sqlalchemy import Engine

    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    try:
        _sync_store(engine)
        _write_witness(_witness_for_engine(engine), partial(_events_between, engine), pending)
    except (OSError, DockyardError) as exc:
        # The change is committed and stays so; a missing witness line is reported by
        # `dockyard audit verify` as unwitnessed and written by the next append.
        _log.warning("could not write the audit witness: %s", exc)


def _witness_for_engine(engine: Any) -> Path:
    from dockyard.core.workspace import home_of_engine

    home = home_of_engine(engine)
    if home is None:
        raise DockyardError(f"the workspace folder of the store {engine.url!r} is unknown")
    return home / WITNESS_FILENAME


def _sync_store(engine: Any) -> None:
    """Make the commit durable before the witness names it (WAL with synchronous=NORMAL
    may lose the newest commits on power loss, and a witness line for a lost commit would
    look like truncation)."""
    if engine.dialect.name != "sqlite" or not engine.url.database:
        return
    for suffix in ("-wal", ""):
        try:
            fd = os.open(engine.url.database + suffix, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return


def _write_witness(
    path: Path,
    events_between: Callable[[int, int], list[tuple[int, str]]],
    pending: list[tuple[int, int, str]],
) -> None:
    """Append the witness lines of ``pending`` (prev id, id, hash), catching up first on
    committed events the witness lacks, under an exclusive lock so lines stay in order."""
    with path.open("a+b") as handle:
        _lock_file(handle.fileno())
        count, last_id = _read_witness_tail(handle)
        lines: list[bytes] = []
        for prev_id, event_id, event_hash in sorted(pending, key=lambda p: p[1]):
            if event_id <= last_id:
                # a later appender's catch-up wrote it already (or the table was cut back
                # under the witness, which `dockyard audit verify` reports)
                continue
            if prev_id != last_id:
                for missed_id, missed_hash in events_between(last_id, prev_id):
                    count += 1
                    lines.append(b"%d %d %s\n" % (count, missed_id, missed_hash.encode()))
            count += 1
            lines.append(b"%d %d %s\n" % (count, event_id, event_hash.encode()))
            last_id = event_id
        if lines:
            handle.write(b"".join(lines))
            handle.flush()


def _lock_file(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: appends are serialised by the store
        return
    fcntl.flock(fd, fcntl.LOCK_EX)  # released when the file is closed


def _read_witness_tail(handle: Any) -> tuple[int, int]:
    """(count, id) of the witness's last complete record; writes the header into a new
    file and cuts a line a crash left half-written."""
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    if size == 0:
        handle.write(WITNESS_HEADER)
        return 0, 0
    handle.seek(max(0, size - 4096))
    tail = handle.read()
    if not tail.endswith(b"\n"):
        cut = tail.rfind(b"\n") + 1
        handle.truncate(size - len(tail) + cut)
        tail = tail[:cut]
    for line in reversed(tail.splitlines()):
        record = _parse_record(line)
        if record is not None:
            return record[0], record[1]
        if not line.startswith(b"#"):
            break
    return 0, 0


def _parse_record(line: bytes) -> tuple[int, int, str] | None:
    parts = line.split()
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    return int(parts[0]), int(parts[1]), parts[2].decode("ascii", "replace")


def _events_between(engine: Engine, after_id: int, up_to_id: int) -> list[tuple[int, str]]:
    from sqlalchemy import text

    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, hash FROM audit_event WHERE id > :a AND id <= :b ORDER BY id"),
            {"a": after_id, "b": up_to_id},
        )
        return [(int(row[0]), str(row[1])) for row in rows]


# --- reading ----------------------------------------------------------------------------------


def list_events(
    workspace: Workspace, entity_type: str | None = None, entity_id: str | int | None = None
) -> list[AuditEntry]:
    """Events of one entity (or all), oldest first.

    Read through ``reader_for`` (no ORM import: `model show` lists alias moves with it).
    """
    from dockyard.core.workspace import reader_for
    from dockyard.store.queries import as_utc

    # Conditions are added, not written as ``:x IS NULL OR ...``, so that SQLite can seek
    # ix_audit_entity instead of scanning a million events.
    where, params = [], {}
    if entity_type is not None:
        where.append("entity_type = :entity_type")
        params["entity_type"] = entity_type
    if entity_id is not None:
        where.append("entity_id = :entity_id")
        params["entity_id"] = str(entity_id)
    sql = (
        "SELECT id, at, actor, action, entity_type, entity_id, details_json, hash FROM audit_event"
    )
    if where:
        sql += " WHERE " + " AND ".join(where)
    entries = []
    for row in reader_for(workspace).fetch_all(sql + " ORDER BY id", params):
        at = as_utc(row["at"])
        assert at is not None  # a NOT NULL column
        entries.append(
            AuditEntry(
                id=int(row["id"]),
                at=at,
                actor=row["actor"],
                action=row["action"],
                entity_type=row["entity_type"],
                entity_id=row["entity_id"],
                details=json.loads(row["details_json"]),
                hash=row["hash"],
            )
        )
    return entries


def search_events(
    workspace: Workspace,
    model: str | None = None,
    env: str | None = None,
    since: datetime | None = None,
) -> list[AuditEntry]:
    """Events, oldest first, about ``model`` and/or environment ``env``, from ``since`` on.

    Model and environment are matched on the event's details (``model``, ``env``), which
    every deployment and registry event records.
    """
    from sqlmodel import Session, col, select

    from dockyard.core.workspace import engine_for
    from dockyard.store.models import AuditEvent

    with Session(engine_for(workspace)) as session:
        query = select(AuditEvent).order_by(col(AuditEvent.id))
        if since is not None:
            query = query.where(col(AuditEvent.at) >= since)
        found = []
        for e in session.exec(query):
            details = json.loads(e.details_json)
            if model is not None and details.get("model") != model:
                continue
            if env is not None and details.get("env") != env:
                continue
            found.append(
                AuditEntry(
                    e.id or 0, e.at, e.actor, e.action, e.entity_type, e.entity_id, details, e.hash
                )
            )
        return found


# --- verifying --------------------------------------------------------------------------------


def _witness_records(path: Path, size: int) -> Iterator[tuple[int, int, str] | str]:
    """The witness's records within its first ``size`` bytes, or a problem string."""
    with path.open("rb") as handle:
        remaining = size
        number = 0
        for line in handle:
            if remaining <= 0:
                return
            remaining -= len(line)
            number += 1
            if not line.endswith(b"\n"):
                return  # written as we looked, or cut by a crash: not a record yet
            if line.startswith(b"#"):
                continue
            record = _parse_record(line)
            if record is None or len(record[2]) != 64:
                yield f"line {number} of the witness {path} is not COUNT ID HASH: it was edited"
                return
            yield record


def check_chain(
    workspace: Workspace, progress: Callable[[int, int], None] | None = None
) -> ChainReport:
    """Recompute the whole chain, in id order, and compare it with the witness.

    Streams the events (memory does not grow with the log). ``progress(done, about)`` is
    called every 50,000 events, ``about`` being the newest id (an upper bound of the count).
    """
    from dockyard.store.queries import open_reader

    witness = witness_path(workspace)
    # The witness is measured before the store's snapshot starts: every line within that
    # size was written after its event's commit, so it is in the snapshot too.
    witness_size = witness.stat().st_size if witness.is_file() else -1
    reader = open_reader(workspace.db_url)
    try:
        fast = _check_split(reader, witness, witness_size, progress)
        if fast is None:
            fast = _check_in_batches(reader, witness, witness_size, progress)
        # Anything the batched pass cannot vouch for is checked again row by row, which
        # names the first wrong event; an intact log is never read twice.
        return fast if fast is not None else _check(reader, witness, witness_size, progress)
    finally:
        reader.close()


_COLUMNS = "id, prev_hash, hash, at, actor, action, entity_type, entity_id, details_json"

# The canonical text built by SQLite itself: a third of the time of building it in Python.
# It equals the Python encoder's output for ASCII text without DEL (Python escapes those,
# SQLite does not), so any other row is rebuilt in Python. ``at`` is rebuilt only in the
# shape SQLAlchemy stores (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC); any other shape -> NULL.
_CANONICAL_EXPR = """CASE WHEN length(at) = 26 AND substr(at, 11, 1) = ' ' THEN
  json_array(prev_hash,
             replace(CASE WHEN substr(at, 21) = '000000' THEN substr(at, 1, 19) ELSE at END,
                     ' ', 'T') || '+00:00',
             actor, action, entity_type, entity_id, details_json)
END"""
_CANONICAL_SQL = f"SELECT id, prev_hash, hash, {_CANONICAL_EXPR}\nFROM audit_event ORDER BY id"

# One batch of the batched pass as SQLite's aggregates give it: every per-event value is
# built and joined inside SQLite, so Python receives six objects per batch instead of four
# per event (making those objects was a third of the check's CPU). The canonical texts are
# joined by newlines (json_array escapes every control character, so no text holds one),
# the previous-hashes and the hashes by spaces, the witness lines as a template of ids
# whose positions and hashes (``%d``, ``%s``) are filled in in Python (a concatenation per
# event in SQLite costs more than that). group_concat skips NULLs: an event whose
# ``at`` SQLite does not rebuild leaves the batch a text short, and the batch is then
# rebuilt in Python. group_concat follows the ordered subquery; were it not to, nothing
# would match and the row-by-row check would decide.
_BATCH_SQL = f"""
SELECT count(*) AS n, max(id) AS last, group_concat(canonical, char(10)) AS texts,
       group_concat(prev_hash, ' ') AS prevs, group_concat(hash, ' ') AS hashes,
       group_concat(id, ' %s' || char(10) || '%d ') AS lines
FROM (SELECT id, prev_hash, hash, {_CANONICAL_EXPR} AS canonical FROM audit_event
      WHERE id > :after AND id <= :upto ORDER BY id LIMIT :size)
"""
_ROWS_SQL = f"SELECT {_COLUMNS} FROM audit_event WHERE id > :after AND id <= :upto ORDER BY id"


def _canonical_events(reader: Any) -> Iterator[tuple[int, str, str, str]]:
    """(id, prev_hash, hash, canonical text) of every event in id order, streamed."""
    from dockyard.store.queries import SqliteReader

    if isinstance(reader, SqliteReader):
        import sqlite3

        rows = reader.iter_rows(_CANONICAL_SQL)
        try:
            first = next(rows, None)
        except sqlite3.OperationalError:  # a SQLite built without JSON functions
            pass
        else:
            if first is not None:
                yield _canonical_row(reader, first)
                for row in rows:
                    yield _canonical_row(reader, row)
            return
    for event_id, prev_hash, hash_, *fields in reader.iter_rows(
        f"SELECT {_COLUMNS} FROM audit_event ORDER BY id"
    ):
        yield event_id, prev_hash, hash_, _canonical_text(prev_hash, *fields)


def _canonical_row(reader: Any, row: tuple[Any, ...]) -> tuple[int, str, str, str]:
    event_id, prev_hash, hash_, canonical = row
    if canonical is None or not canonical.isascii() or "\x7f" in canonical:
        found = reader.fetch_one(f"SELECT {_COLUMNS} FROM audit_event WHERE id = :id",
                                 {"id": event_id})  # fmt: skip
        assert found is not None
        fields = [found[key] for key in _COLUMNS.split(", ")[3:]]
        canonical = _canonical_text(prev_hash, *fields)
    return event_id, prev_hash, hash_, canonical


def _canonical_text(prev_hash: str, at: Any, *fields: str) -> str:
    return _CANONICAL([prev_hash, _iso(at), *fields])


def _label(reader: Any, event_id: int) -> str:
    row = reader.fetch_one("SELECT action, actor FROM audit_event WHERE id = :id", {"id": event_id})
    return f"{row['action']!r} by {row['actor']!r}" if row else "?"


#: Events per batch of the batched pass; progress is reported at multiples of 50,000. A
#: batch's joined strings (~0.5 MB at 2,000) then stay in the CPU's cache: 10,000 took
#: 10-15% more CPU on 1,000,000 events, 500 about as much (more statements).
_BATCH = 2_000
_HASH_DIGEST = type(hashlib.sha256()).digest


class _Batch(NamedTuple):
    """Consecutive events for the batched pass, each value joined over the batch."""

    size: int
    last_id: int
    texts: list[bytes]  # the canonical text of each event, as hashed
    prevs: str  # the stored previous-hashes, joined by spaces
    hashes: str  # the stored hashes, joined by spaces
    lines: str  # the witness lines as "%d ID %s", joined by newlines


def _rows_batch(rows: list[tuple[Any, ...]]) -> _Batch:
    """A batch built in Python from rows of ``_COLUMNS``."""
    return _Batch(
        len(rows), int(rows[-1][0]),
        [_canonical_text(row[1], *row[3:]).encode() for row in rows],
        " ".join([row[1] for row in rows]), " ".join([row[2] for row in rows]),
        "\n".join([f"%d {row[0]} %s" for row in rows]),
    )  # fmt: skip


def _sqlite_batches(reader: Any, after: int, upto: int) -> Iterator[_Batch]:
    """The events with ``after`` < id <= ``upto`` of a SQLite store, a batch at a time."""
    while True:
        row = reader.fetch_one(_BATCH_SQL, {"after": after, "upto": upto, "size": _BATCH})
        if row is None or not row["n"]:
            return
        size, last, texts = int(row["n"]), int(row["last"]), row["texts"]
        split = None
        if texts is not None and texts.isascii() and "\x7f" not in texts:
            split = texts.encode().split(b"\n")
        if split is not None and len(split) == size:
            lines = f"%d {row['lines']} %s"
            yield _Batch(size, last, split, row["prevs"], row["hashes"], lines)
        else:  # events SQLite cannot rebuild (non-ASCII, DEL, another ``at``): in Python
            yield _rows_batch(list(reader.iter_rows(_ROWS_SQL, {"after": after, "upto": last})))
        after = last


class _WitnessStream:
    """The witness's bytes within its first ``size`` bytes, consumed a batch at a time
    by comparing them with the lines an intact witness holds for that batch."""

    def __init__(self, handle: Any, size: int, *, skip_header: bool = True) -> None:
        self._handle = handle
        self._remaining = size
        self._buffer = b""
        self._started = not skip_header  # a stream from inside the file has no header
        self.ended = False  # its last complete line is behind us

    def _fill(self, want: int) -> None:
        while len(self._buffer) < want and self._remaining > 0:
            block = self._handle.read(min(self._remaining, max(want - len(self._buffer), 1 << 20)))
            if not block:
                self._remaining = 0
                break
            self._remaining -= len(block)
            self._buffer += block
            if self._remaining <= 0 and not self._buffer.endswith(b"\n"):
                # A line that starts within the size counts (as in `_witness_records`).
                self._buffer += self._handle.readline()
        if not self._started:
            self._started = True
            # Only the header of a new witness is skipped here; a comment anywhere else
            # fails the comparison and goes to the row-by-row check.
            while self._buffer.startswith(b"#") and b"\n" in self._buffer:
                self._buffer = self._buffer[self._buffer.index(b"\n") + 1 :]
                self._fill(want)

    def match(self, expected: bytes) -> int:
        """How many of ``expected``'s lines the witness holds, or -1 when it differs."""
        if self.ended:
            return 0
        self._fill(len(expected))
        if len(self._buffer) >= len(expected):
            if not self._buffer.startswith(expected):
                return -1
            self._buffer = self._buffer[len(expected) :]
            return expected.count(b"\n")
        end = self._buffer.rfind(b"\n") + 1  # a cut last line is not a record yet
        complete = self._buffer[:end]
        if not expected.startswith(complete):
            return -1
        self._buffer = self._buffer[end:]
        self.ended = True
        return complete.count(b"\n")

    def has_more(self) -> bool:
        """Whether complete records remain (events the log no longer has)."""
        self._fill(1 << 16)
        return b"\n" in self._buffer


def _check_in_batches(
    reader: Any,
    witness: Path,
    witness_size: int,
    progress: Callable[[int, int], None] | None,
    *,
    ids: tuple[int, int] | None = None,
    start: tuple[int, str] = (0, GENESIS),
    witness_offset: int = 0,
) -> ChainReport | None:
    """The same check as ``_check``, a batch of rows at a time with the comparisons done
    on whole batches (strings joined by SQLite, see ``_BATCH_SQL``) instead of row by row;
    None as soon as
    anything differs from an intact log written by Dockyard, and then ``_check`` decides.

    Every event's hash is still recomputed from its canonical text, every previous-hash
    compared, and every witness byte compared with the line the event gives.

    For one part of the split check (``_check_split``): only the events with ``ids[0]`` <
    id <= ``ids[1]``, the first of them at position ``start[0]`` + 1 following the hash
    ``start[1]``, against the witness bytes from ``witness_offset`` to ``witness_size``.
    The report's counts are then positions in the whole log.
    """
    import sqlite3

    from dockyard.store.queries import SqliteReader

    if witness_size < 0 or not hasattr(reader, "iter_batches"):
        return None
    about = 0
    if progress is not None:
        row = reader.fetch_one("SELECT MAX(id) AS n FROM audit_event")
        about = int(row["n"] or 0) if row else 0
    sha256 = hashlib.sha256
    count, prev = start
    if " " in prev:  # the previous-hashes are compared joined by spaces
        return None
    prev_id: int | None = None
    witnessed = 0
    after, upto = ids if ids is not None else (-(2**63), 2**63 - 1)
    batches: Iterator[_Batch]
    if isinstance(reader, SqliteReader):
        batches = _sqlite_batches(reader, after, upto)
    else:  # PostgreSQL's JSON text is not the canonical one: built in Python
        rows = reader.iter_batches(_ROWS_SQL, {"after": after, "upto": upto}, size=_BATCH)
        batches = map(_rows_batch, rows)
    with witness.open("rb") as handle, _snapshot(reader):
        handle.seek(witness_offset)
        lines = _WitnessStream(handle, witness_size - witness_offset,
                               skip_header=not witness_offset)  # fmt: skip
        try:
            for batch in batches:
                size = batch.size
                # Binary digests are cheaper than hex strings; hex with a space every 32
                # bytes is then exactly the stored hashes joined by spaces, each one
                # compared in full (lower case, 64 digits, no space of its own).
                digests = b"".join(map(_HASH_DIGEST, map(sha256, batch.texts)))
                if len(batch.texts) != size or digests.hex(" ", 32) != batch.hashes:
                    return None
                # Each event follows the one before: the previous-hashes are ``prev`` and
                # then every hash but the last (no space in any, so none is split).
                if batch.prevs != (prev + " " + batch.hashes[:-65] if size > 1 else prev):
                    return None
                # Each witness line: the event's position, id and hash.
                values: list[object] = [None] * (2 * size)
                values[::2] = range(count + 1, count + size + 1)
                values[1::2] = batch.hashes.split(" ")
                matched = lines.match(((batch.lines + "\n") % tuple(values)).encode())
                if matched < 0:
                    return None
                if matched:
                    witnessed = count + matched
                count += size
                prev, prev_id = batch.hashes[-64:], batch.last_id
                if progress is not None and (count - size) // 50_000 != count // 50_000:
                    progress(count, about)
        except sqlite3.OperationalError:  # a SQLite built without JSON functions
            return None
        except (TypeError, ValueError):  # a value no intact log holds: for the row check
            return None
        if lines.has_more():
            return None
    if progress is not None:
        progress(count, count)
    return ChainReport(
        events=count, head_id=prev_id, head_hash=prev, witnessed=witnessed,
        unwitnessed=count - witnessed, witness_found=True, broken_id=None, problem=None,
    )  # fmt: skip


@contextmanager
def _snapshot(reader: Any) -> Iterator[None]:
    """One read transaction around the batched pass's statements on a SQLite store, so
    that they see one state of the log, as a single streamed statement would."""
    snapshot = getattr(reader, "snapshot", None)
    if snapshot is None:
        yield
        return
    with snapshot():
        yield


#: Below this many events (by id span) one process checks the whole log: the second
#: process costs about 0.1 s to start and pays off only on long logs.
_SPLIT_MIN_EVENTS = 100_000


def _cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # pragma: no cover - not Linux


def _witness_line_of(path: Path, size: int, event_id: int) -> tuple[int, int] | None:
    """(byte offset, position) of the witness line of ``event_id`` within the first
    ``size`` bytes, found by bisection on the ids (ascending in an intact witness); None
    when there is no such complete line.

    Only a guess at where the split check divides the witness: the two parts then compare
    every byte on either side of it, so a wrong guess in a damaged witness fails the check.
    """
    with path.open("rb") as handle:

        def line_from(pos: int) -> tuple[int, bytes]:
            """The first line starting at or after ``pos`` (empty past ``size``)."""
            handle.seek(max(pos - 1, 0))
            if pos:
                handle.readline()
            offset = handle.tell()
            return offset, (handle.readline() if offset < size else b"")

        low, high = 0, size
        while low < high:
            middle = (low + high) // 2
            line = line_from(middle)[1]
            record = _parse_record(line)
            if not line or (record is not None and record[1] >= event_id):
                high = middle
            elif line.startswith(b"#") or record is not None:
                low = middle + 1
            else:
                return None  # not a record: for the row-by-row check
        offset, line = line_from(low)
    record = _parse_record(line)
    if not line.endswith(b"\n") or record is None or record[1] != event_id:
        return None
    return offset, record[0]


def _check_split(
    reader: Any,
    witness: Path,
    witness_size: int,
    progress: Callable[[int, int], None] | None,
) -> ChainReport | None:
    """The batched pass over two processes, each over half of the ids; None when the log
    is short, there is one CPU, or either half cannot vouch for its part.

    The older half runs here, the newer in a child process (``_check_range_main``). The
    chain and the witness join at one seam: the newer half starts at its first event's
    witness line (its position and byte offset), following that event's stored
    previous-hash; the older half must then end exactly there, fully witnessed, with that
    hash. Together they compare every hash, link and witness byte that one pass would.
    """
    import subprocess
    import threading

    from dockyard.store.queries import SqliteReader

    if not isinstance(reader, SqliteReader) or witness_size < 0 or _cpus() < 2:
        return None
    if not sys.executable:  # pragma: no cover - an embedded interpreter
        return None
    bounds = reader.fetch_one("SELECT MIN(id) AS low, MAX(id) AS high FROM audit_event")
    if bounds is None or bounds["low"] is None:
        return None
    low, high = int(bounds["low"]), int(bounds["high"])
    if high - low + 1 < _SPLIT_MIN_EVENTS:
        return None
    middle = (low + high) // 2
    first = reader.fetch_one(
        "SELECT id, prev_hash FROM audit_event WHERE id > :id ORDER BY id LIMIT 1",
        {"id": middle},
    )
    if first is None:
        return None
    seam = _witness_line_of(witness, witness_size, int(first["id"]))
    if seam is None:
        return None  # a long unwitnessed tail, or a damaged witness
    offset, position = seam
    before, link = position - 1, str(first["prev_hash"])
    job = {
        "db": str(reader.path), "witness": str(witness), "offset": offset,
        "size": witness_size, "after": middle, "count": before, "prev": link,
    }  # fmt: skip
    code = "from dockyard.core.audit import _check_range_main; _check_range_main()"
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", code, json.dumps(job)],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        )  # fmt: skip
    except OSError:
        return None
    state: dict[str, Any] = {"done": 0, "report": None}

    def read_child() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            kind, _, value = line.partition(" ")
            if kind == "progress":
                state["done"] = int(value) - before
            elif kind == "report":
                state["report"] = json.loads(value)

    reader_thread = threading.Thread(target=read_child, daemon=True)
    reader_thread.start()

    def both(done: int, about: int) -> None:
        assert progress is not None
        progress(done + state["done"], about)

    older: ChainReport | None = None
    try:
        older = _check_in_batches(reader, witness, offset, progress and both,
                                  ids=(low - 1, middle))  # fmt: skip
        while older is not None and reader_thread.is_alive():
            reader_thread.join(0.2)
            if progress is not None:
                progress(older.events + state["done"], high)
    finally:
        if older is None and child.poll() is None:
            child.kill()  # the row-by-row check decides; the newer half no longer matters
        child.wait()
        reader_thread.join()
    fields = state["report"]
    if older is None or child.returncode != 0 or not fields:
        return None
    if older.events != before or older.witnessed != before or older.head_hash != link:
        return None
    newer = ChainReport(**fields)
    if progress is not None:
        progress(newer.events, newer.events)
    return newer


def _check_range_main() -> None:
    """The newer half of ``_check_split``, in its child process: the job is the JSON in
    ``argv[1]``; prints ``progress COUNT`` lines, then ``report JSON`` (``null`` when the
    half cannot vouch for its part)."""
    from dockyard.store.queries import SqliteReader

    job = json.loads(sys.argv[1])
    reader = SqliteReader(Path(job["db"]))
    try:
        report = _check_in_batches(
            reader, Path(job["witness"]), job["size"],
            lambda done, about: print(f"progress {done}", flush=True),
            ids=(job["after"], 2**63 - 1), start=(job["count"], job["prev"]),
            witness_offset=job["offset"],
        )  # fmt: skip
    finally:
        reader.close()
    print("report " + json.dumps(None if report is None else asdict(report)), flush=True)


def _check(
    reader: Any,
    witness: Path,
    witness_size: int,
    progress: Callable[[int, int], None] | None,
) -> ChainReport:
    about = 0
    if progress is not None:
        row = reader.fetch_one("SELECT MAX(id) AS n FROM audit_event")
        about = int(row["n"] or 0) if row else 0
    records = _witness_records(witness, witness_size) if witness_size >= 0 else iter(())
    expected = next(records, None)
    prev = GENESIS
    prev_id: int | None = None
    count = 0
    witnessed = 0

    def report(broken_id: int | None = None, problem: str | None = None) -> ChainReport:
        return ChainReport(
            events=count, head_id=prev_id, head_hash=prev, witnessed=witnessed,
            unwitnessed=count - witnessed, witness_found=witness_size >= 0,
            broken_id=broken_id, problem=problem,
        )  # fmt: skip

    for event_id, prev_hash, hash_, canonical in _canonical_events(reader):
        if isinstance(expected, str):
            return report(None, expected)
        count += 1
        if expected is not None and expected[1] < event_id:
            return report(
                expected[1],
                f"audit event {expected[1]} is missing: the witness recorded it (position "
                f"{expected[0]}) but the log goes from "
                f"{f'event {prev_id}' if prev_id is not None else 'its start'} to event "
                f"{event_id}; it was deleted",
            )
        if hashlib.sha256(canonical.encode()).hexdigest() != hash_:
            return report(
                event_id,
                f"audit event {event_id} ({_label(reader, event_id)}) does not match its "
                "hash: its contents were edited after it was written",
            )
        if prev_hash != prev:
            after = f"event {prev_id}" if prev_id is not None else "the start of the log"
            return report(
                event_id,
                f"audit event {event_id} does not follow {after} (its previous-hash differs): "
                "events before it were deleted, inserted or reordered",
            )
        if expected is not None and expected[1] == event_id:
            if expected[2] != hash_ or expected[0] != count:
                return report(
                    event_id,
                    f"audit event {event_id} differs from the witness (recorded as position "
                    f"{expected[0]} with hash {expected[2][:12]}, found position {count} with "
                    f"{hash_[:12]}): the log was rewritten and its hashes recomputed",
                )
            witnessed = count
            expected = next(records, None)
        prev, prev_id = hash_, event_id
        if progress is not None and count % 50_000 == 0:
            progress(count, about)
    if isinstance(expected, str):
        return report(None, expected)
    if expected is not None:
        last = expected
        for record in records:
            if isinstance(record, str):
                return report(None, record)
            last = record
        return report(
            expected[1],
            f"audit event {expected[1]} is missing: the witness recorded {last[0]} events up "
            f"to event {last[1]}, the log has {count}"
            f"{f' ending at event {prev_id}' if prev_id is not None else ''}; "
            "the newest events were deleted",
        )
    if witness_size < 0 and count:
        return report(
            None,
            f"the audit witness {witness} is missing, so deleted newest events cannot be "
            "detected; the next audited change starts a new one",
        )
    if progress is not None:
        progress(count, count)
    return report()


def verify_chain(workspace: Workspace) -> int | None:
    """The id of the first broken event, or None when the log is intact.

    A problem that names no single event (a missing or edited witness) gives 0.
    """
    report = check_chain(workspace)
    if report.ok:
        return None
    return report.broken_id if report.broken_id is not None else 0


# --- checking what a face shows ---------------------------------------------------------------


@dataclass(frozen=True)
class ShownReport:
    """What ``check_shown_events`` found: the first problem with the shown events or the
    chain's head, if any. ``broken_id`` is the event that is wrong (or missing)."""

    checked: int
    broken_id: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_shown_events(workspace: Workspace, event_ids: Iterable[int]) -> ShownReport:
    """Check the events a face shows, their neighbours and the chain's head; not the rest.

    For each event: its hash recomputed from its stored content and previous-hash, the event
    before it (its hash must be this previous-hash, or the genesis for the first event) and
    the event after it (its previous-hash must be this hash). Then the chain's newest event
    against the witness's last record, tolerating newest events the witness lacks as
    ``check_chain`` does. About three rows read by primary key per event, whatever the
    chain's length: an edit elsewhere in the chain, and the position the witness records
    (which takes counting every event), are for ``check_chain`` (`dockyard audit verify`).
    """
    from dockyard.store.queries import open_reader

    witness = witness_path(workspace)
    # Read before the store, as in check_chain: the event of every line read is committed.
    tail = _witness_last_record(witness)
    reader = open_reader(workspace.db_url)
    try:
        ids = sorted(set(event_ids))
        for event_id in ids:
            problem = _check_one(reader, event_id)
            if problem is not None:
                return ShownReport(len(ids), *problem)
        head_problem = _check_head(reader, witness, tail)
        return ShownReport(len(ids), *head_problem) if head_problem else ShownReport(len(ids))
    finally:
        reader.close()


_BEFORE_SQL = "SELECT id, hash FROM audit_event WHERE id < :id ORDER BY id DESC LIMIT 1"
_AFTER_SQL = "SELECT id, prev_hash FROM audit_event WHERE id > :id ORDER BY id LIMIT 1"


def _check_one(reader: Any, event_id: int) -> tuple[int, str] | None:
    """(broken id, problem) for one shown event and its links, or None."""
    row = reader.fetch_one(f"SELECT {_COLUMNS} FROM audit_event WHERE id = :id", {"id": event_id})
    if row is None:
        return event_id, f"audit event {event_id} is missing: it was deleted"
    fields = [row[key] for key in _COLUMNS.split(", ")[3:]]
    canonical = _canonical_text(row["prev_hash"], *fields)
    if hashlib.sha256(canonical.encode()).hexdigest() != row["hash"]:
        return event_id, (
            f"audit event {event_id} ({row['action']!r} by {row['actor']!r}) does not match "
            "its hash: its contents were edited after it was written"
        )
    before = reader.fetch_one(_BEFORE_SQL, {"id": event_id})
    if (before["hash"] if before else GENESIS) != row["prev_hash"]:
        after = f"event {before['id']}" if before else "the start of the log"
        return event_id, (
            f"audit event {event_id} does not follow {after} (its previous-hash differs): "
            "events before it were deleted, inserted or reordered"
        )
    following = reader.fetch_one(_AFTER_SQL, {"id": event_id})
    if following is not None and following["prev_hash"] != row["hash"]:
        return following["id"], (
            f"audit event {following['id']} does not follow event {event_id} (its "
            "previous-hash differs): events between them were deleted or inserted, or event "
            f"{event_id} was rewritten"
        )
    return None


def _check_head(
    reader: Any, witness: Path, tail: tuple[int, int, str] | str | None
) -> tuple[int | None, str] | None:
    """(broken id, problem) when the chain's newest events disagree with the witness."""
    head = reader.fetch_one("SELECT id, hash FROM audit_event ORDER BY id DESC LIMIT 1")
    if isinstance(tail, str):
        return None, tail
    if tail is None:
        if head is not None and not witness.is_file():
            return None, (
                f"the audit witness {witness} is missing, so deleted newest events cannot be "
                "detected; the next audited change starts a new one"
            )
        return None  # a witness with no record yet: every event is unwitnessed, not forged
    count, witnessed_id, witnessed_hash = tail
    if head is None or head["id"] < witnessed_id:
        ends = f" ending at event {head['id']}" if head is not None else " empty"
        return witnessed_id, (
            f"audit event {witnessed_id} is missing: the witness recorded {count} events up "
            f"to event {witnessed_id}, the log is{ends}; the newest events were deleted"
        )
    # The store may be ahead of the witness (an append interrupted after its commit): the
    # witnessed event must still be there, unchanged, and be what the next event follows.
    row = head if head["id"] == witnessed_id else reader.fetch_one(
        "SELECT id, hash FROM audit_event WHERE id = :id", {"id": witnessed_id}
    )  # fmt: skip
    if row is None:
        return witnessed_id, (
            f"audit event {witnessed_id} is missing: the witness recorded it (position "
            f"{count}) but the log skips it; it was deleted"
        )
    if row["hash"] != witnessed_hash:
        return witnessed_id, (
            f"audit event {witnessed_id} differs from the witness (recorded as position "
            f"{count} with hash {witnessed_hash[:12]}, found {row['hash'][:12]}): the log was "
            "rewritten and its hashes recomputed"
        )
    if head["id"] != witnessed_id:
        following = reader.fetch_one(_AFTER_SQL, {"id": witnessed_id})
        if following is not None and following["prev_hash"] != witnessed_hash:
            return following["id"], (
                f"audit event {following['id']} does not follow event {witnessed_id} (its "
                "previous-hash differs): events after the witnessed ones were replaced"
            )
    return None


def _witness_last_record(path: Path) -> tuple[int, int, str] | str | None:
    """The witness's last complete record, a problem string, or None (no file, no record).

    Reads the file's last 4 KiB; a last line without its newline (being written, or cut by
    a crash) is not a record yet, as in ``_witness_records``.
    """
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return None
    with handle:
        size = handle.seek(0, os.SEEK_END)
        start = max(0, size - 4096)
        handle.seek(start)
        lines = handle.read().split(b"\n")
    lines.pop()  # after the last newline: empty, or a line not finished yet
    if start:
        lines = lines[1:]  # the window may begin inside a line
    for line in reversed(lines):
        if line.startswith(b"#"):
            continue
        record = _parse_record(line)
        if record is None or len(record[2]) != 64:
            return f"the last line of the witness {path} is not COUNT ID HASH: it was edited"
        return record
    return None


def shown_history_warning(workspace: Workspace, event_ids: Iterable[int]) -> str | None:
    """The warning line a face shows above the history made of ``event_ids``, or None.

    Runs :func:`check_shown_events` (proportional to what is shown), and names
    `dockyard audit verify` for the whole chain.
    """
    report = check_shown_events(workspace, event_ids)
    if report.ok:
        return None
    return (
        f"warning: the audit log is broken, this history may be forged or incomplete: "
        f"{report.problem} (run `dockyard audit verify` to check the whole chain)"
    )


def history_warning(workspace: Workspace) -> str | None:
    """The warning line a face shows above a history read from the audit log, or None.

    Runs the full check (the chain and the witness), so that a history whose events were
    edited, deleted or reordered is never shown as if it were intact.
    """
    report = check_chain(workspace)
    if report.ok:
        return None
    return (
        f"warning: the audit log is broken, this history may be forged or incomplete: "
        f"{report.problem} (see `dockyard audit verify`)"
    )


def require_intact(workspace: Workspace) -> ChainReport:
    """``check_chain``, raising :class:`AuditChainError` when the log was tampered with."""
    report = check_chain(workspace)
    if not report.ok:
        raise AuditChainError(report)
    return report
