"""A run's log: a file on the machine that ran it, and a copy streamed into the store.

The supervisor writes the training process's output to ``logs/run-N.log`` as it comes and
also hands it to a :class:`LogStream`, which writes it into the store's ``run_log_chunk``
table in batches (one transaction a second, or sooner when much is pending), the way the
tracking client batches metric points. So a run executed on another machine (a Dask
worker, a teammate's agent on the same PostgreSQL store) shows its log everywhere, with no
shared disk. The store keeps each run's newest :data:`KEEP_CHARS` characters: older chunks
are dropped as new ones land, and readers say how much is missing.

Readers (`dockyard run logs [-f]`, the run screen's :class:`LogTail`) read the file when it
is on this machine and the store otherwise (:func:`log_source`). Standard library only at
import time.
"""

from __future__ import annotations

import codecs
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    from dockyard.core.runs import RunInfo
    from dockyard.core.workspace import Workspace
    from dockyard.store.writes import Transaction

#: At most this much text in one row.
CHUNK_CHARS = 64 * 1024
#: A batch is written at least this often while output comes.
FLUSH_SECONDS = 1.0
#: ... and at once when this much is pending (memory stays bounded).
FLUSH_CHARS = 256 * 1024
#: The store keeps this much of each run's log, the newest part (the end of a failed
#: run's log is what one wants); the file keeps it all.
KEEP_CHARS = 8 * 1024 * 1024
#: At most this much text (plus one FLUSH_CHARS batch) waits for the store; more is let go,
#: oldest first, counted: a run that floods its output faster than the store takes it must
#: not grow the supervisor's memory (tests/test_processes.py, flat memory). A bound on
#: memory, not on what is kept: a store that keeps up gets all of KEEP_CHARS, one that
#: falls behind the newest MAX_PENDING_CHARS of what it missed. Never more than
#: KEEP_CHARS waits (LogStream takes the smaller), since no more would be kept.
#: Both are described in docs/team.md ("Logs").
MAX_PENDING_CHARS = 1024 * 1024

#: Lines the run screen's log view keeps; older ones scroll out (`run logs` has them all).
LOG_MAX_LINES = 5000
#: On opening, read at most this much of the end of the log.
LOG_TAIL_BYTES = 256 * 1024
#: At most this much of the log per poll; a poll that leaves more asks for another at once.
LOG_CHUNK_BYTES = 1024 * 1024

_LAST_CHUNK_SQL = (
    "SELECT seq, start_char, LENGTH(text) AS size FROM run_log_chunk"
    " WHERE run_id = :r ORDER BY seq DESC LIMIT 1"
)
_CHUNKS_AFTER_SQL = (
    "SELECT seq, start_char, text FROM run_log_chunk"
    " WHERE run_id = :r AND seq > :after ORDER BY seq LIMIT :n"
)
_CHUNKS_FROM_SQL = (
    "SELECT seq, start_char, text FROM run_log_chunk"
    " WHERE run_id = :r AND start_char + LENGTH(text) > :start ORDER BY seq LIMIT :n"
)


# --- writing (the supervisor) ----------------------------------------------------------------


class LogStream:
    """The supervisor's copy of a run's output into the store, in batches.

    :meth:`write` only decodes and appends to a list (never waits on the database); a
    background thread owns the store connection and writes what is pending every
    :data:`FLUSH_SECONDS`, or sooner past :data:`FLUSH_CHARS`. A batch that fails (a busy
    or unreachable store) is kept and retried with the next; the log file is the record
    of last resort. :meth:`close` writes the rest and waits for it (bounded).
    """

    def __init__(
        self,
        workspace: Workspace,
        run_id: int,
        *,
        flush_seconds: float = FLUSH_SECONDS,
        keep_chars: int = KEEP_CHARS,
    ) -> None:
        self.workspace = workspace
        self.run_id = run_id
        self.keep_chars = keep_chars
        self.last_error: BaseException | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        #: text to write, or the length of text not kept (the store was too far behind)
        self._pending: list[str | int] = []
        self._backlog = 0  # characters of text in _pending
        self._in_flight = False  # a batch taken off _pending and not yet committed
        self._lock = threading.Lock()
        self._seq: int | None = None  # next seq to write, read from the store once
        self._end = 0  # characters of the log written so far
        self._kept: list[tuple[int, int]] = []  # (seq, start_char) of chunks still stored
        self._wake = threading.Event()
        self._stop = False
        self._flush_seconds = flush_seconds
        self._thread = threading.Thread(target=self._run, name="dockyard-log-stream", daemon=True)
        self._thread.start()

    def write(self, data: bytes) -> None:
        """Queue ``data`` (raw output, decoded as UTF-8 with replacement characters).

        When the store falls behind by more than :data:`MAX_PENDING_CHARS` (it is slow or
        away, or the run floods its output), the oldest pending text is let go, counted:
        the store keeps only the newest part anyway, memory stays bounded, and readers are
        told what is missing (the log file has it all).
        """
        text = self._decoder.decode(data)
        if not text:
            return
        with self._lock:  # held for list operations only, never across a database call
            pending = self._pending
            pending.append(text)
            self._backlog += len(text)
            limit = min(self.keep_chars, MAX_PENDING_CHARS) + FLUSH_CHARS
            while self._backlog > limit and len(pending) > 1:
                head, after = pending[0], pending[1]
                if isinstance(head, str):
                    pending[0] = len(head)
                    self._backlog -= len(head)
                elif isinstance(after, int):
                    pending[0:2] = [head + after]
                else:
                    pending[0:2] = [head + len(after)]
                    self._backlog -= len(after)
            due = self._backlog >= FLUSH_CHARS
        if due:
            self._wake.set()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (what is written after it is not stored)."""
        return self._stop

    def drain(self, timeout: float = 5.0) -> None:
        """Have what is pending written now, waiting at most ``timeout`` seconds (a store
        that refuses it leaves it pending: the run's outcome must not wait for its log)."""
        deadline = time.monotonic() + timeout
        while (self._pending or self._in_flight) and time.monotonic() < deadline:
            if not self._thread.is_alive():
                return
            self._wake.set()
            time.sleep(0.02)

    def close(self, timeout: float = 15.0) -> bool:
        """Write what is pending and stop (waiting at most ``timeout`` seconds); whether
        everything was stored (nothing pending, the writing thread ended)."""
        tail = self._decoder.decode(b"", final=True)
        if tail:
            with self._lock:
                self._pending.append(tail)
        self._stop = True
        self._wake.set()
        self._thread.join(timeout)
        return not self._thread.is_alive() and not self._pending and not self._in_flight

    # the writing thread -------------------------------------------------------------------

    def _run(self) -> None:
        from dockyard.core.workspace import open_writer

        writer: Any = None
        try:
            while True:
                stopping = self._stop
                try:
                    if writer is None:
                        writer = open_writer(self.workspace)
                    self._flush(writer)
                    self.last_error = None
                except Exception as exc:  # kept pending; retried on the next tick
                    self.last_error = exc
                if stopping:
                    return
                self._wake.wait(self._flush_seconds)
                self._wake.clear()
        finally:
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.close()

    def _flush(self, writer: Any) -> None:
        with self._lock:
            items, self._pending = self._pending, []
            taken, self._backlog = self._backlog, 0
            self._in_flight = bool(items)
        if not items:
            return
        try:
            seq, end, kept = self._write_batch(writer, items)
        except BaseException:
            with self._lock:  # kept, in front of what came meanwhile, for the next try
                self._pending[0:0] = items
                self._backlog += taken
                self._in_flight = False
            raise
        self._seq, self._end, self._kept = seq, end, kept
        self._in_flight = False

    def _write_batch(
        self, writer: Any, items: list[str | int]
    ) -> tuple[int, int, list[tuple[int, int]]]:
        """Write one batch in one transaction; (next seq, end, chunks kept) after it."""
        with writer.transaction() as tx:
            if self._seq is None:
                last = tx.fetch_one(_LAST_CHUNK_SQL, {"r": self.run_id})
                self._seq = 0 if last is None else int(last["seq"]) + 1
                self._end = 0 if last is None else int(last["start_char"]) + int(last["size"])
            seq, kept = self._seq, list(self._kept)
            segments, end = _segments(items, self._end)
            floor = end - self.keep_chars  # what ends before this would be dropped at once
            from datetime import UTC, datetime

            now = datetime.now(UTC)
            for start, text in segments:
                if start + len(text) <= floor:
                    continue
                if start < floor:
                    text, start = text[floor - start :], floor
                for at in range(0, len(text), CHUNK_CHARS):
                    piece = text[at : at + CHUNK_CHARS]
                    tx.add(
                        "run_log_chunk",
                        {"run_id": self.run_id, "seq": seq, "start_char": start + at,
                         "text": piece, "created_at": now},
                    )  # fmt: skip
                    kept.append((seq, start + at))
                    seq += 1
            # the newest keep_chars stay: drop whole chunks from the front past that
            drop = 0
            while drop + 1 < len(kept) and end - kept[drop + 1][1] >= self.keep_chars:
                drop += 1
            if drop:
                tx.execute(
                    "DELETE FROM run_log_chunk WHERE run_id = :r AND seq <= :s",
                    {"r": self.run_id, "s": kept[drop - 1][0]},
                )
        return seq, end, kept[drop:]


def append_in(tx: Transaction, run_id: int, text: str, now: datetime) -> None:
    """Append ``text`` to run ``run_id``'s stored log in the caller's transaction, so that
    it is stored with the rows it reports (the supervisor's last line, with the run's final
    status). The run's :class:`LogStream` must be closed: this writes after its last chunk."""
    last = tx.fetch_one(_LAST_CHUNK_SQL, {"r": run_id})
    seq = 0 if last is None else int(last["seq"]) + 1
    start = 0 if last is None else int(last["start_char"]) + int(last["size"])
    for at in range(0, len(text), CHUNK_CHARS):
        tx.add(
            "run_log_chunk",
            {"run_id": run_id, "seq": seq, "start_char": start + at,
             "text": text[at : at + CHUNK_CHARS], "created_at": now},
        )  # fmt: skip
        seq += 1


def _segments(items: list[str | int], start: int) -> tuple[list[tuple[int, str]], int]:
    """The pending items as (start, text) runs of text, gaps (ints) skipped; and the end."""
    segments: list[tuple[int, str]] = []
    texts: list[str] = []
    end = start
    for item in items:
        if isinstance(item, int):
            if texts:
                joined = "".join(texts)
                segments.append((end - len(joined), joined))
                texts = []
            end += item
        else:
            texts.append(item)
            end += len(item)
    if texts:
        joined = "".join(texts)
        segments.append((end - len(joined), joined))
    return segments, end


# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredLog:
    """The store's copy of run ``run_id``'s log, as a source to read."""

    workspace: Workspace
    run_id: int


LogSource = Path | StoredLog


def default_log_path(workspace: Workspace, run_id: int) -> Path:
    """Where this machine's supervisor writes run ``run_id``'s log."""
    return workspace.logs / f"run-{run_id}.log"


def has_stored_log(workspace: Workspace, run_id: int) -> bool:
    """Whether the store holds any of run ``run_id``'s log (one index seek)."""
    from dockyard.core.workspace import reader_for

    row = reader_for(workspace).fetch_one(
        "SELECT 1 AS found FROM run_log_chunk WHERE run_id = :r LIMIT 1", {"r": run_id}
    )
    return row is not None


def log_source(workspace: Workspace, info: RunInfo) -> LogSource:
    """Where to read ``info``'s log here: its file when this machine has it (the run ran
    here, or a shared disk shows it), else the store's copy.

    A run that ran on another host is read from the store as soon as the store has any of
    it: a file at the same path here would be another machine's, or only what the agent
    here noted about the run.
    """
    path = Path(info.log_path) if info.log_path else default_log_path(workspace, info.id)
    from dockyard.core.workspace import host_name

    elsewhere = bool(info.host) and info.host != host_name()
    if not elsewhere and path.is_file():
        return path
    if has_stored_log(workspace, info.id):
        return StoredLog(workspace, info.id)
    return path if path.is_file() or not elsewhere else StoredLog(workspace, info.id)


def stored_chunks(
    workspace: Workspace, run_id: int, after_seq: int = -1, limit: int = 64
) -> list[tuple[int, int, str]]:
    """(seq, start_char, text) of run ``run_id``'s stored chunks after ``after_seq``."""
    from dockyard.core.workspace import reader_for

    rows = reader_for(workspace).fetch_all(
        _CHUNKS_AFTER_SQL, {"r": run_id, "after": after_seq, "n": limit}
    )
    return [(int(r["seq"]), int(r["start_char"]), str(r["text"])) for r in rows]


def missing_note(start: int, expected: int) -> str:
    """The line that stands for characters the store no longer holds."""
    return (
        f"dockyard: [{start - expected} characters of this log are not kept in the store; "
        "its file on the machine that ran it has them]\n"
    )


def read_log(
    workspace: Workspace,
    run_id: int,
    *,
    follow: bool = False,
    poll_seconds: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[str]:
    """Run ``run_id``'s whole log as pieces of text, from its file on this machine or the
    store (:func:`log_source`); with ``follow``, new text as it comes until the run ends.

    Reads are bounded (1 MiB of a file, 64 chunks of the store at a time), so a log of
    hundreds of megabytes never sits in memory.
    """
    from dockyard.core.runs import FINAL, get_run

    info = get_run(workspace, run_id)
    source = log_source(workspace, info)
    offset, last_seq, expected = 0, -1, 0
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while True:
        if isinstance(source, Path):
            if source.is_file():
                with source.open("rb") as handle:
                    handle.seek(offset)
                    while chunk := handle.read(1 << 20):
                        offset += len(chunk)
                        yield decoder.decode(chunk)
        else:
            while rows := stored_chunks(workspace, run_id, last_seq):
                for seq, start, text in rows:
                    if start > expected:
                        yield missing_note(start, expected)
                    yield text
                    last_seq, expected = seq, start + len(text)
        if not follow or info.status in FINAL:
            yield decoder.decode(b"", final=True)
            return
        sleep(poll_seconds)
        info = get_run(workspace, run_id)
        if offset == 0 and last_seq < 0:
            # nothing read yet: a queued run may start here or elsewhere meanwhile
            source = log_source(workspace, info)


@dataclass
class LogChunk:
    """What one poll of a log found: new ``text``; ``reset`` when the view must start
    over; ``skipped_bytes`` not shown before it (opened near the end of a long log);
    ``more`` when a poll should follow at once."""

    text: str = ""
    reset: bool = False
    skipped_bytes: int = 0
    more: bool = False


class LogTail:
    """What was appended to a run's log since the last read: a file by byte offset, or the
    store's copy by chunk.

    Used from one worker at a time (polls never overlap). File bytes are decoded
    incrementally, so a UTF-8 character split across two reads is not mangled.
    """

    def __init__(self, source: LogSource) -> None:
        self.source = source
        self.offset = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._last_seq: int | None = None
        self._expected = 0

    @property
    def path(self) -> LogSource:
        """The source (a file's path, for the callers that knew only files)."""
        return self.source

    def read_new(self, *, final: bool = False) -> LogChunk:
        if isinstance(self.source, StoredLog):
            return self._read_store(self.source)
        return self._read_file(self.source, final)

    def _read_file(self, path: Path, final: bool) -> LogChunk:
        try:
            size = path.stat().st_size
        except OSError:
            return LogChunk()
        chunk = LogChunk()
        if size < self.offset:  # truncated or replaced: start over
            self.offset = 0
            self._decoder.reset()
            chunk.reset = True
        if size == self.offset:
            if final:
                chunk.text = self._decoder.decode(b"", final=True)
            return chunk
        start = self.offset
        if start == 0 and size > LOG_TAIL_BYTES:
            start = size - LOG_TAIL_BYTES
        end = min(size, start + LOG_CHUNK_BYTES)
        with path.open("rb") as file:
            file.seek(start)
            data = file.read(end - start)
        if start > self.offset:
            cut = _whole_lines_start(data, b"\n")
            chunk.skipped_bytes = start + cut
            data = data[cut:]
        self.offset = end
        chunk.more = end < size
        chunk.text = self._decoder.decode(data, final=final and not chunk.more)
        return chunk

    def _read_store(self, stored: StoredLog) -> LogChunk:
        from dockyard.core.workspace import reader_for

        reader = reader_for(stored.workspace)
        limit = LOG_CHUNK_BYTES // CHUNK_CHARS
        chunk = LogChunk()
        first = self._last_seq is None
        if first:
            last = reader.fetch_one(_LAST_CHUNK_SQL, {"r": stored.run_id})
            if last is None:
                return chunk
            # opened on a long log: its last LOG_TAIL_BYTES characters, as for a file
            tail_start = max(0, int(last["start_char"]) + int(last["size"]) - LOG_TAIL_BYTES)
            rows = reader.fetch_all(
                _CHUNKS_FROM_SQL, {"r": stored.run_id, "start": tail_start, "n": limit}
            )
            self._expected = max(tail_start, int(rows[0]["start_char"])) if rows else 0
        else:
            rows = reader.fetch_all(
                _CHUNKS_AFTER_SQL, {"r": stored.run_id, "after": self._last_seq, "n": limit}
            )
        if not rows:
            return chunk
        shown_from = self._expected
        pieces: list[str] = []
        for row in rows:
            begin, text = int(row["start_char"]), str(row["text"])
            if begin < self._expected:  # the first chunk of a tail: only its end
                text, begin = text[self._expected - begin :], self._expected
            elif begin > self._expected:  # dropped from the store while we were behind
                pieces.append(missing_note(begin, self._expected))
            pieces.append(text)
            self._expected = begin + len(text)
            self._last_seq = int(row["seq"])
        text = "".join(pieces)
        if first and shown_from > 0:
            cut = _whole_lines_start(text, "\n")
            chunk.skipped_bytes = shown_from + cut
            text = text[cut:]
        chunk.text = text
        chunk.more = len(rows) == limit
        return chunk


def _whole_lines_start(data: Any, newline: Any) -> int:
    """Where to start ``data`` (read from the middle of a log) so that it shows whole lines
    and no more than the view holds, leaving room for the note about what was skipped."""
    cut = len(data)
    for _ in range(LOG_MAX_LINES - 1):  # the Log counts a last, empty line
        cut = data.rfind(newline, 0, cut)
        if cut < 0:
            break
    return cut + 1 if cut >= 0 else max(0, data.find(newline) + 1)


def last_lines(workspace: Workspace, info: RunInfo, count: int) -> list[str]:
    """The last ``count`` lines of ``info``'s log, from wherever it is readable here (at
    most the last :data:`LOG_TAIL_BYTES` of it are read)."""
    text = LogTail(log_source(workspace, info)).read_new(final=True).text
    return text.splitlines()[-count:] if text else []
