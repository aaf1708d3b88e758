"""The tracking client for training scripts: params, metrics, tags, artifacts and models.

A training script reports through one object::

    from dockyard.core.tracking import Tracker

    with Tracker.from_env() as t:
        params = t.params
        t.log_params(params)
        t.log_metric("accuracy", 0.93, step=3)
        t.log_model(pipeline)

It works in two modes, chosen by the environment (see ``docs/tracking.md``):

* **store** — under the agent (``DOCKYARD_RUN_ID`` set and ``DOCKYARD_DB`` a SQLite URL, or
  a PostgreSQL one with ``DOCKYARD_HOME`` and psycopg installed): rows go straight into
  the store (the stdlib ``sqlite3`` module, or psycopg 3 with ``COPY`` for the points),
  buffered and written in batches, flushed every ``flush_points`` points or
  ``flush_seconds`` seconds, at ``close()``, at interpreter exit and on SIGTERM.
* **protocol** — anywhere else: every event is one ``@dockyard {json}`` line on stdout, the
  same line protocol a non-Python script uses; :func:`parse_protocol_line` reads it back.

This module imports only the standard library; skops/joblib load inside ``log_model`` and
psycopg when the store is PostgreSQL.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time
import tomllib
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any, Final

ENV_RUN_ID: Final = "DOCKYARD_RUN_ID"
ENV_DB: Final = "DOCKYARD_DB"
ENV_HOME: Final = "DOCKYARD_HOME"
ENV_PARAMS: Final = "DOCKYARD_PARAMS"
ENV_DATA: Final = "DOCKYARD_DATA"
ENV_PRIMARY_METRIC: Final = "DOCKYARD_PRIMARY_METRIC"

PROTOCOL_PREFIX: Final = "@dockyard"
PROJECT_FILE: Final = "dockyard.toml"
DB_FILENAME: Final = "dockyard.db"
OUTPUTS_DIR: Final = "outputs"
MAX_KEY_LENGTH: Final = 250

#: Defaults for buffering in store mode: a point reaches the store within about
#: ``DEFAULT_FLUSH_SECONDS``, and memory never holds more than ``DEFAULT_FLUSH_POINTS``.
DEFAULT_FLUSH_POINTS: Final = 10_000
DEFAULT_FLUSH_SECONDS: Final = 0.5

_SQLITE_PREFIX = "sqlite:///"
_INF = math.inf
_MODEL_FORMATS = ("auto", "skops", "joblib")


class ModelFormatWarning(UserWarning):
    """A model was saved in a format Dockyard will not load (joblib, i.e. pickle)."""


SignalHandler = Callable[[int, FrameType | None], Any] | int | None


class ProtocolError(ValueError):
    """A ``@dockyard`` line that is not a valid event; the message says what is wrong."""


class RunEndedError(RuntimeError):
    """The run is over (finished, failed, cancelled or lost): the store takes no more of
    its data. Raised by a write; what it would have written is dropped."""


#: A run in one of these states accepts no more points, params, tags or artifacts: a
#: process left over from a lost or cancelled run must not keep writing into it.
ENDED_STATUSES: Final = ("finished", "failed", "cancelled", "lost")


@dataclass(frozen=True)
class LoggedArtifact:
    """Where a logged file or model went.

    ``path`` is the content-addressed object (store mode) or the copy under ``outputs/``
    (protocol mode); ``object_path`` is what the ``artifact`` row records, relative to the
    workspace home (``objects/<sha256>``), or empty in protocol mode.
    """

    name: str
    kind: str
    path: Path
    sha256: str
    size_bytes: int
    file_format: str
    object_path: str = ""


# --------------------------------------------------------------------------- values


def _plain(value: object) -> object:
    """numpy scalars as the Python value they hold; everything else unchanged."""
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():
        return item()
    return value


def jsonable(value: object) -> Any:
    """``value`` as something JSON holds exactly: numpy scalars unwrapped, lists and dicts
    kept, NaN/infinity and other objects (paths, classes...) as their text."""
    value = _plain(value)
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)


def encode_param(value: object) -> str:
    """How a param value is stored in ``param.value``: JSON text, as the runner writes it
    (``"logreg"`` with its quotes, ``1.0``, ``true``), so it reads back with its type."""
    return json.dumps(jsonable(value))


def format_value(value: object) -> str:
    """The text form of a tag value: strings as they are, booleans ``true``/``false``,
    numbers their shortest round-tripping form (``1.0``, ``0.1``, ``42``), None ``null``.
    """
    value = _plain(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return float.__repr__(value)
    if value is None:
        return "null"
    return str(value)


def _check_key(key: object, what: str) -> str:
    if not isinstance(key, str):
        raise TypeError(f"a {what} name must be a string, not {type(key).__name__}")
    if not key.strip():
        raise ValueError(f"a {what} name must not be empty")
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"{what} name {key[:40]!r}... is longer than {MAX_KEY_LENGTH} characters")
    if any(ord(ch) < 32 for ch in key):
        raise ValueError(f"{what} name {key!r} contains a control character (newline, tab...)")
    return key


def _finite_value(key: str, value: object) -> float:
    if isinstance(value, str | bytes):
        raise TypeError(f"metric {key!r}: the value must be a number, not a string ({value!r})")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(
            f"metric {key!r}: the value must be a number, not {type(value).__name__}"
        ) from None
    if not math.isfinite(number):
        raise ValueError(
            f"metric {key!r}: {number} is not a finite number; Dockyard stores only finite "
            "metric values (check the computation, or skip the point)"
        )
    return number


#: The largest step ``metric.step`` holds: 64 bits on both stores (SQLite's INTEGER, and
#: BIGINT on PostgreSQL since migration 0010), so a step may count tokens.
MAX_STEP: Final = 2**63 - 1


def _check_step(key: str, step: object, max_step: int = MAX_STEP) -> int:
    if isinstance(step, bool):
        raise TypeError(f"metric {key!r}: step must be an integer, not a boolean")
    index = getattr(step, "__index__", None)
    if index is None:
        raise TypeError(f"metric {key!r}: step must be an integer, not {type(step).__name__}")
    number = int(index())
    if number < 0:
        raise ValueError(f"metric {key!r}: step must be 0 or more, not {number}")
    if number > max_step:
        # refused here, at the call: past the column's range SQLite would refuse the whole
        # batch at write and PostgreSQL's binary COPY cannot even encode it
        raise ValueError(
            f"metric {key!r}: step {number} is more than this store holds ({max_step:,}); "
            "log a smaller step (e.g. count batches, not samples or tokens)"
        )
    return number


def _check_name(name: object, what: str) -> str:
    text = _check_key(name, what)
    parts = Path(text).parts
    if Path(text).is_absolute() or ".." in parts or text.endswith("/"):
        raise ValueError(f"{what} name {text!r} must be a relative name without '..'")
    return text


# --------------------------------------------------------------------------- protocol


def format_protocol_line(event: Mapping[str, Any]) -> str:
    """One protocol line for ``event`` (a JSON object), without the newline."""
    return f"{PROTOCOL_PREFIX} {json.dumps(dict(event), allow_nan=False)}"


def _reject_constant(name: str) -> float:
    raise ProtocolError(f"{name} is not allowed; metric values must be finite numbers")


def _protocol_key(obj: Mapping[str, Any], field: str) -> str:
    key = obj[field]
    if not isinstance(key, str):
        raise ProtocolError(f'"{field}" must be a string name, not {json.dumps(key)}')
    try:
        return _check_key(key, field)
    except (TypeError, ValueError) as exc:
        raise ProtocolError(str(exc)) from None


def _protocol_value(obj: Mapping[str, Any], name: str, *, nested: bool) -> Any:
    if "value" not in obj:
        raise ProtocolError(f'{name}: "value" is missing')
    value = obj["value"]
    if not nested and isinstance(value, dict | list):
        raise ProtocolError(f'{name}: "value" must be a string, number or boolean')
    return value


def _protocol_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_EVENT_FIELDS: Final[dict[str, frozenset[str]]] = {
    "metric": frozenset({"metric", "value", "step", "timestamp"}),
    "param": frozenset({"param", "value"}),
    "tag": frozenset({"tag", "value"}),
    "artifact": frozenset({"artifact", "name", "kind", "format", "sha256", "size"}),
}


def parse_protocol_line(line: str) -> dict[str, Any] | None:
    """Read one line of a training process's output.

    Returns None for an ordinary log line, or the event as a normalised dict:

    * ``{"type": "metric", "key", "value": float, "step": int | None,
      "timestamp": float | None}`` (step None: the next step of that key, from 0)
    * ``{"type": "param", "key", "value": any JSON value}`` (give it to ``log_param``)
    * ``{"type": "tag", "key", "value": str}``
    * ``{"type": "artifact", "path", "name", "kind", "format", "sha256": str | None,
      "size": int | None}``

    A line that starts with ``@dockyard`` but is not a valid event raises
    :class:`ProtocolError` (a ``ValueError``) saying what is wrong.
    """
    text = line.rstrip("\r\n")
    if not text.startswith(PROTOCOL_PREFIX):
        return None
    rest = text[len(PROTOCOL_PREFIX) :]
    if rest and not rest[0].isspace():
        return None  # "@dockyardbot ..." is someone else's line
    payload = rest.strip()
    if not payload:
        raise ProtocolError("@dockyard line without an event; expected @dockyard {json object}")
    try:
        obj = json.loads(payload, parse_constant=_reject_constant)
    except ProtocolError:
        raise
    except json.JSONDecodeError as exc:
        raise ProtocolError(
            f"@dockyard line is not valid JSON ({exc.msg} at column {exc.colno}): {payload[:80]}"
        ) from None
    if not isinstance(obj, dict):
        raise ProtocolError(
            "@dockyard line must hold a JSON object, e.g. "
            '{"metric": "accuracy", "value": 0.93, "step": 3}'
        )
    kinds = [kind for kind in _EVENT_FIELDS if kind in obj]
    if len(kinds) != 1:
        expected = ", ".join(f'"{k}"' for k in _EVENT_FIELDS)
        found = "none" if not kinds else " and ".join(f'"{k}"' for k in kinds)
        raise ProtocolError(f"@dockyard event needs exactly one of {expected}; found {found}")
    kind = kinds[0]
    unknown = sorted(set(obj) - _EVENT_FIELDS[kind])
    if unknown:
        allowed = ", ".join(sorted(_EVENT_FIELDS[kind]))
        raise ProtocolError(
            f'@dockyard {kind} event: unknown field "{unknown[0]}" (allowed: {allowed})'
        )
    if kind == "metric":
        return _parse_metric_event(obj)
    if kind == "param":
        key = _protocol_key(obj, kind)
        return {
            "type": kind,
            "key": key,
            "value": _protocol_value(obj, f"param {key!r}", nested=True),
        }
    if kind == "tag":
        key = _protocol_key(obj, kind)
        value = _protocol_value(obj, f"tag {key!r}", nested=False)
        return {"type": kind, "key": key, "value": format_value(value)}
    return _parse_artifact_event(obj)


def _parse_metric_event(obj: Mapping[str, Any]) -> dict[str, Any]:
    key = _protocol_key(obj, "metric")
    if "value" not in obj:
        raise ProtocolError(f'metric {key!r}: "value" is missing')
    value = obj["value"]
    if not _protocol_number(value):
        raise ProtocolError(f'metric {key!r}: "value" must be a number, not {json.dumps(value)}')
    if not math.isfinite(value):
        raise ProtocolError(f"metric {key!r}: {value} is not a finite number")
    step = obj.get("step")
    if step is not None and (not isinstance(step, int) or isinstance(step, bool) or step < 0):
        raise ProtocolError(
            f'metric {key!r}: "step" must be an integer >= 0, not {json.dumps(step)}'
        )
    stamp = obj.get("timestamp")
    if stamp is not None and not _protocol_number(stamp):
        raise ProtocolError(f'metric {key!r}: "timestamp" must be epoch seconds (a number)')
    return {
        "type": "metric",
        "key": key,
        "value": float(value),
        "step": step,
        "timestamp": None if stamp is None else float(stamp),
    }


def _parse_artifact_event(obj: Mapping[str, Any]) -> dict[str, Any]:
    path = obj["artifact"]
    if not isinstance(path, str) or not path.strip():
        raise ProtocolError('"artifact" must be the path of a file the script wrote')
    fields: dict[str, str] = {}
    for field in ("name", "kind", "format"):
        value = obj.get(field)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ProtocolError(f'artifact {path!r}: "{field}" must be a non-empty string')
        fields[field] = value or ""
    sha = obj.get("sha256")
    if sha is not None and (
        not isinstance(sha, str) or len(sha) != 64 or set(sha) - set("0123456789abcdef")
    ):
        raise ProtocolError(f'artifact {path!r}: "sha256" must be 64 lowercase hex digits')
    size = obj.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise ProtocolError(f'artifact {path!r}: "size" must be a byte count (integer >= 0)')
    return {
        "type": "artifact",
        "path": path,
        "name": fields["name"] or Path(path).name,
        "kind": fields["kind"] or "file",
        "format": fields["format"],
        "sha256": sha,
        "size": size,
    }


# --------------------------------------------------------------------------- environment


def _read_project_file(project_dir: Path) -> dict[str, Any]:
    file = project_dir / PROJECT_FILE
    if not file.is_file():
        return {}
    try:
        return tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{file}: not valid TOML ({exc}); fix the file and run again") from None


def _coerce_param(declared: object, value: Any) -> Any:
    """Light type fixing only: JSON cannot tell 1 from 1.0, the project file can."""
    if declared == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if declared == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _json_object_env(env: Mapping[str, str], name: str) -> dict[str, Any]:
    raw = env.get(name, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{name} is not valid JSON ({exc.msg}); it must be a JSON object"
        ) from None
    if not isinstance(value, dict):
        raise ValueError(f'{name} must be a JSON object, e.g. {{"key": value}}')
    return value


def _project_dir(given: str | Path | None) -> Path:
    if given is not None:
        return Path(given).expanduser().resolve()
    cwd = Path.cwd()
    if (cwd / PROJECT_FILE).is_file():
        return cwd
    script = getattr(sys.modules.get("__main__"), "__file__", None)
    if script and (Path(script).resolve().parent / PROJECT_FILE).is_file():
        return Path(script).resolve().parent
    return cwd


def _sqlite_path(url: str) -> Path | None:
    """The file of a SQLAlchemy SQLite URL; None when the URL is not SQLite."""
    if not url.startswith("sqlite"):
        return None
    if not url.startswith(_SQLITE_PREFIX) or url == _SQLITE_PREFIX:
        raise ValueError(f"{ENV_DB}={url!r} is not a SQLite file URL (sqlite:////abs/path.db)")
    path = url[len(_SQLITE_PREFIX) :].split("?", 1)[0]
    if not path or path == ":memory:":
        raise ValueError(f"{ENV_DB}={url!r} names no file; an in-memory store cannot be shared")
    return Path(path)


# --------------------------------------------------------------------------- sinks


class _ProtocolSink:
    """Protocol mode: every event is printed at once as one ``@dockyard`` line."""

    mode = "protocol"
    max_step = MAX_STEP

    def __init__(self, stream: IO[str] | None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def _emit(self, event: Mapping[str, Any]) -> None:
        stream = self._stream if self._stream is not None else sys.stdout
        with self._lock:
            stream.write(format_protocol_line(event) + "\n")
            stream.flush()

    def metric(self, key: str, value: float, step: int, stamp: float) -> None:
        self._emit({"metric": key, "value": value, "step": step})

    def params(self, items: Mapping[str, Any]) -> None:
        for key, value in items.items():
            self._emit({"param": key, "value": value})

    def tags(self, items: Mapping[str, str]) -> None:
        for key, value in items.items():
            self._emit({"tag": key, "value": value})

    def artifact(self, logged: LoggedArtifact, display_path: str) -> None:
        event: dict[str, Any] = {"artifact": display_path, "kind": logged.kind}
        if logged.name != Path(display_path).name:
            event["name"] = logged.name
        if logged.file_format:
            event["format"] = logged.file_format
        event.update(sha256=logged.sha256, size=logged.size_bytes)
        self._emit(event)

    def flush(self) -> None:
        stream = self._stream if self._stream is not None else sys.stdout
        with contextlib.suppress(OSError, ValueError):
            stream.flush()

    def close(self) -> None:
        self.flush()


# The run id goes into the statement (an int we checked), so each row binds four values.
_INSERT_METRIC = (
    "INSERT INTO metric (run_id, key, step, value, timestamp) VALUES ({run_id}, ?, ?, ?, ?)"
)
_UPSERT_PARAM = (
    "INSERT INTO param (run_id, key, value) VALUES (?, ?, ?) "
    "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value"
)
_UPSERT_TAG = (
    "INSERT INTO run_tag (run_id, key, value) VALUES (?, ?, ?) "
    "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value"
)
_UPSERT_ARTIFACT = (
    "INSERT INTO artifact "
    "(run_id, name, kind, sha256, size_bytes, object_path, file_format, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (run_id, name) DO UPDATE SET kind = excluded.kind, "
    "sha256 = excluded.sha256, size_bytes = excluded.size_bytes, "
    "object_path = excluded.object_path, file_format = excluded.file_format, "
    "created_at = excluded.created_at"
)


def _sql_time() -> str:
    # The text form SQLAlchemy uses for DateTime on SQLite, in UTC like every other row.
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class _StoreSink:
    """Store mode: rows buffered in memory and written to SQLite in batches.

    Buffers are plain lists that the logging thread only appends to; a flush takes a
    prefix with one slice and one ``del`` (each atomic under the GIL), so logging never
    waits for a lock and a background thread writes while the script keeps computing
    (sqlite3 releases the GIL while it works). The write lock is re-entrant and nothing
    that holds it ever waits on the logging thread, so the SIGTERM handler, which runs in
    the main thread, can always take it.
    """

    mode = "store"
    max_step = MAX_STEP

    def __init__(
        self,
        target: Any,
        run_id: int,
        primary_metric: str | None,
        flush_points: int,
        flush_seconds: float,
    ) -> None:
        self._run_id = run_id
        self._insert_metric = _INSERT_METRIC.format(run_id=int(run_id))
        self._primary = primary_metric
        self._flush_points = max(1, flush_points)
        # Past this many pending points the logging thread writes itself: memory stays
        # bounded even when a script logs faster than the disk takes it.
        self._max_pending = 4 * self._flush_points
        self._pid = os.getpid()
        self._write_lock = threading.RLock()
        self._writer: threading.Thread | None = None
        self._after_write: Callable[[], None] | None = None
        self._metrics: list[tuple[str, int, float, float]] = []
        self._params: list[tuple[str, str]] = []
        self._tags: list[tuple[str, str]] = []
        self._artifacts: list[tuple[object, ...]] = []
        self._primary_value: float | None = None
        self._primary_written: float | None = None
        self._seed: int | None = None
        self._seed_written: int | None = None
        self._closed = False
        self._ended: RunEndedError | None = None
        # refused by the background writer and not yet raised to the script
        self._unreported: RunEndedError | None = None
        self.last_error: BaseException | None = None
        self._conn: Any = self._connect(target, run_id)
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        if flush_seconds > 0:
            self._thread = threading.Thread(
                target=self._flush_periodically,
                args=(flush_seconds,),
                name="dockyard-tracking-flush",
                daemon=True,
            )
            self._thread.start()

    def _connect(self, target: Any, run_id: int) -> Any:
        """An autocommit connection to the store, after checking that the run exists."""
        db_path = Path(target)
        if not db_path.is_file():
            raise ValueError(
                f"{ENV_DB} points to {db_path}, which does not exist; "
                "the runner must pass the workspace's store"
            )
        # Autocommit mode: transactions are opened explicitly with BEGIN IMMEDIATE, which
        # takes the write lock up front and so waits (busy_timeout) instead of failing.
        conn = sqlite3.connect(db_path, timeout=10.0, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")
            row = conn.execute("SELECT 1 FROM run WHERE id = ?", (run_id,)).fetchone()
        except sqlite3.Error as exc:
            conn.close()
            raise ValueError(f"cannot use the store {db_path}: {exc}") from None
        if row is None:
            conn.close()
            raise ValueError(f"{ENV_RUN_ID}={run_id} names no run in {db_path}")
        # Every row this connection writes points at this one run, checked just above;
        # checking it again for each of hundreds of thousands of metric rows costs ~10 %
        # of the insert time.
        conn.execute("PRAGMA foreign_keys=OFF")
        return conn

    def _now(self) -> object:
        return _sql_time()

    # buffering -----------------------------------------------------------------------

    def metric(self, key: str, value: float, step: int, stamp: float) -> None:
        metrics = self._metrics
        metrics.append((key, step, value, stamp))
        if key == self._primary:
            self._primary_value = value
        pending = len(metrics)
        if pending >= self._flush_points:
            if self._ended is not None:
                # Checked only once a batch is due, off the per-point path: the writer
                # found the run over, so the script hears it here instead of piling up.
                metrics.clear()
                self._unreported = None
                raise self._ended
            if self._thread is None or pending >= self._max_pending:
                self.flush()
            elif not self._wake.is_set():
                self._wake.set()

    def params(self, items: Mapping[str, Any]) -> None:
        self._params.extend((key, json.dumps(value)) for key, value in items.items())
        seed = items.get("seed")
        if isinstance(seed, int) and not isinstance(seed, bool):
            self._seed = seed

    def tags(self, items: Mapping[str, str]) -> None:
        self._tags.extend(items.items())

    def artifact(self, logged: LoggedArtifact, display_path: str) -> None:
        row = (
            self._run_id,
            logged.name,
            logged.kind,
            logged.sha256,
            logged.size_bytes,
            logged.object_path,
            logged.file_format,
            self._now(),
        )
        self._artifacts.append(row)
        self.flush()  # rare and precious: written at once

    # writing -------------------------------------------------------------------------

    def writing_in_this_thread(self) -> bool:
        return self._writer is threading.current_thread()

    def run_after_write(self, action: Callable[[], None]) -> None:
        """Run ``action`` once the write in progress in this thread has committed."""
        self._after_write = action

    def flush(self) -> None:
        """Write everything buffered in one transaction; on failure keep it for a retry."""
        with self._write_lock:
            if self._closed or os.getpid() != self._pid:
                return  # a forked child must not write its parent's buffer
            self._writer = threading.current_thread()
            try:
                self._flush_locked()
            finally:
                self._writer = None
            action, self._after_write = self._after_write, None
        if action is not None:
            action()

    def _flush_locked(self) -> None:
        metrics = _take(self._metrics)
        params = _take(self._params)
        tags = _take(self._tags)
        artifacts = _take(self._artifacts)
        primary, seed = self._primary_value, self._seed
        updates: dict[str, object] = {}
        if primary is not None and primary is not self._primary_written:
            updates.update(primary_metric=self._primary, primary_value=primary)
        if seed is not None and seed != self._seed_written:
            updates["seed"] = seed
        if not (metrics or params or tags or artifacts or updates):
            return
        try:
            self._write(metrics, dict(params), dict(tags), artifacts, updates)
        except RunEndedError as exc:
            self._ended = exc  # dropped, not kept for a retry that can never succeed
            if threading.current_thread() is not self._thread:
                self._unreported = None  # the caller hears it now
            raise
        except BaseException:
            # Put everything back in front of what arrived meanwhile; retried next time.
            self._metrics[0:0] = metrics
            self._params[0:0] = params
            self._tags[0:0] = tags
            self._artifacts[0:0] = artifacts
            raise
        self._primary_written, self._seed_written = primary, seed

    def _write(
        self,
        metrics: list[tuple[str, int, float, float]],
        params: dict[str, str],
        tags: dict[str, str],
        artifacts: list[tuple[object, ...]],
        updates: dict[str, object],
    ) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            # In the writing transaction, so nothing lands after the run was marked over:
            # one primary-key read per batch.
            row = conn.execute("SELECT status FROM run WHERE id = ?", (self._run_id,)).fetchone()
            if row is None or row[0] in ENDED_STATUSES:
                status = "deleted" if row is None else row[0]
                raise RunEndedError(
                    f"run {self._run_id} is {status}; the store accepts no more data for it"
                )
            if params:
                conn.executemany(_UPSERT_PARAM, [(self._run_id, k, v) for k, v in params.items()])
            if tags:
                conn.executemany(_UPSERT_TAG, [(self._run_id, k, v) for k, v in tags.items()])
            if metrics:
                conn.executemany(self._insert_metric, metrics)
            if artifacts:
                conn.executemany(_UPSERT_ARTIFACT, artifacts)
            if updates:
                columns = ", ".join(f"{column} = ?" for column in updates)
                conn.execute(
                    f"UPDATE run SET {columns} WHERE id = ?", (*updates.values(), self._run_id)
                )
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    def _flush_periodically(self, seconds: float) -> None:
        while not self._stop:
            self._wake.wait(seconds)
            self._wake.clear()
            try:
                self.flush()
                self.last_error = None
            except RunEndedError as exc:  # dropped; the script hears it when it closes
                self.last_error = self._unreported = exc
            except Exception as exc:  # kept in the buffer; retried on the next tick
                self.last_error = exc

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=15)
        try:
            self.flush()
            if self._unreported is not None:
                raise self._unreported
        finally:
            self._unreported = None
            with self._write_lock:
                self._closed = True
                if os.getpid() == self._pid:
                    self._conn.close()


class _PostgresSink(_StoreSink):
    """Store mode on PostgreSQL: the same buffering, written with psycopg 3.

    Metric points go in by binary ``COPY`` (one round trip per batch instead of one per
    row; the binary format halves the client's CPU per point against text, which the
    server, busy with each row's index entries, needs on a shared machine:
    docs/performance.md, "Team scale on PostgreSQL"). The run is checked once per
    ``COPY`` by the database too (migration 0012), not once per point.
    The run's row is locked ``FOR NO KEY UPDATE`` in the writing transaction, so a batch
    and a change of the run's status (``claim_status``) never interleave: the batch lands
    before the run is marked over, or sees that it is and is dropped.
    """

    def _connect(self, target: Any, run_id: int) -> Any:
        import psycopg

        conninfo = "postgresql://" + str(target).split("://", 1)[1]
        try:
            conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            from urllib.parse import urlsplit

            where = urlsplit(conninfo)  # the URL's password is never repeated
            detail = " ".join(str(exc).split())[:200]
            raise ValueError(
                f"cannot use the store at {where.hostname}:{where.port or 5432}"
                f"{where.path}: {detail}"
            ) from None
        try:
            row = conn.execute("SELECT 1 FROM run WHERE id = %s", (run_id,)).fetchone()
        except psycopg.Error as exc:
            conn.close()
            raise ValueError(f"cannot use the store: {' '.join(str(exc).split())}") from None
        if row is None:
            conn.close()
            raise ValueError(f"{ENV_RUN_ID}={run_id} names no run in the store")
        return conn

    def _now(self) -> object:
        return datetime.now(UTC)

    def _write(
        self,
        metrics: list[tuple[str, int, float, float]],
        params: dict[str, str],
        tags: dict[str, str],
        artifacts: list[tuple[object, ...]],
        updates: dict[str, object],
    ) -> None:
        conn = self._conn
        run_id = self._run_id
        with conn.transaction(), conn.cursor() as cursor:
            row = cursor.execute(
                "SELECT status FROM run WHERE id = %s FOR NO KEY UPDATE", (run_id,)
            ).fetchone()
            if row is None or row[0] in ENDED_STATUSES:
                status = "deleted" if row is None else row[0]
                raise RunEndedError(
                    f"run {run_id} is {status}; the store accepts no more data for it"
                )
            if params:
                cursor.executemany(_pg(_UPSERT_PARAM), [(run_id, k, v) for k, v in params.items()])
            if tags:
                cursor.executemany(_pg(_UPSERT_TAG), [(run_id, k, v) for k, v in tags.items()])
            if metrics:
                with cursor.copy(_COPY_METRICS) as copy:
                    copy.set_types(_COPY_TYPES)
                    write_row = copy.write_row
                    for key, step, value, stamp in metrics:
                        write_row((run_id, key, step, value, stamp))
            if artifacts:
                cursor.executemany(_pg(_UPSERT_ARTIFACT), artifacts)
            if updates:
                columns = ", ".join(f"{column} = %s" for column in updates)
                cursor.execute(
                    f"UPDATE run SET {columns} WHERE id = %s", (*updates.values(), run_id)
                )


_COPY_METRICS = "COPY metric (run_id, key, step, value, timestamp) FROM STDIN (FORMAT BINARY)"
#: The column types of ``metric`` (step is BIGINT since migration 0010), which binary COPY
#: must match exactly.
_COPY_TYPES = ("int4", "text", "int8", "float8", "float8")


def _pg(statement: str) -> str:
    """A ``?``-parameter statement of this module in psycopg's ``%s`` style."""
    return statement.replace("?", "%s")


def _postgres_url(url: str) -> bool:
    """Whether ``url`` is a PostgreSQL store that this process can write to directly."""
    if not re.match(r"^postgresql(\+psycopg2?)?://", url, re.IGNORECASE):
        return False  # another driver: this process cannot speak it
    from importlib.util import find_spec

    return find_spec("psycopg") is not None


def _take(buffer: list[Any]) -> list[Any]:
    """Remove and return what ``buffer`` holds now; appends racing with us are kept."""
    count = len(buffer)
    taken = buffer[:count]
    del buffer[:count]
    return taken


# --------------------------------------------------------------------------- tracker


class Tracker:
    """Reports one training run's params, metrics, tags, artifacts and models.

    Build it with :meth:`from_env`; use it as a context manager (or call :meth:`close`).
    Metric values must be finite: NaN and infinity raise ``ValueError`` naming the key,
    and nothing of that call is recorded.
    """

    def __init__(
        self,
        *,
        project_dir: Path,
        params: Mapping[str, Any],
        data: Mapping[str, str],
        datasets: Mapping[str, str],
        run_id: int | None = None,
        db_path: Path | None = None,
        home: Path | None = None,
        primary_metric: str | None = None,
        stream: IO[str] | None = None,
        db_url: str | None = None,
        flush_points: int = DEFAULT_FLUSH_POINTS,
        flush_seconds: float = DEFAULT_FLUSH_SECONDS,
        handle_signals: bool = True,
    ) -> None:
        self.project_dir = project_dir
        self.run_id = run_id
        self.primary_metric = primary_metric
        self._params = dict(params)
        self._data = dict(data)
        self._datasets = dict(datasets)
        self._next_step: dict[str, int] = {}
        self._valid_keys: set[str] = set()
        self._closed = False
        self._home = home
        self._sink: _StoreSink | _ProtocolSink
        if run_id is not None and db_path is not None:
            self._sink = _StoreSink(db_path, run_id, primary_metric, flush_points, flush_seconds)
        elif run_id is not None and db_url is not None and home is not None:
            self._sink = _PostgresSink(db_url, run_id, primary_metric, flush_points, flush_seconds)
        else:
            self._sink = _ProtocolSink(stream)
        self._max_step = self._sink.max_step
        self._previous_sigterm: SignalHandler = None
        self._sigterm_installed = False
        if handle_signals:
            self._install_sigterm()
        atexit.register(self._close_at_exit)

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        project_dir: str | Path | None = None,
        stream: IO[str] | None = None,
        flush_points: int = DEFAULT_FLUSH_POINTS,
        flush_seconds: float = DEFAULT_FLUSH_SECONDS,
        handle_signals: bool = True,
    ) -> Tracker:
        """A tracker configured by the ``DOCKYARD_*`` environment (``docs/tracking.md``).

        ``project_dir`` (default: the current folder, else the main script's folder) is
        where ``dockyard.toml`` is read from and where ``outputs/`` goes.
        """
        env = os.environ if env is None else env
        folder = _project_dir(project_dir)
        spec = _read_project_file(folder)

        declared = spec.get("params", {})
        if not isinstance(declared, dict):
            declared = {}
        params: dict[str, Any] = {
            name: table["default"]
            for name, table in declared.items()
            if isinstance(table, dict) and "default" in table
        }
        for name, value in _json_object_env(env, ENV_PARAMS).items():
            table = declared.get(name)
            params[name] = _coerce_param(
                table.get("type") if isinstance(table, dict) else None, value
            )

        data = _json_object_env(env, ENV_DATA)
        for name, value in data.items():
            if not isinstance(value, str) or not value:
                raise ValueError(f"{ENV_DATA}: the path of dataset {name!r} must be a string")
        datasets = {
            str(d["name"]): str(d["path"])
            for d in spec.get("datasets", []) or []
            if isinstance(d, dict) and "name" in d and "path" in d
        }
        metrics = spec.get("metrics", {})
        primary = env.get(ENV_PRIMARY_METRIC, "").strip() or (
            metrics.get("primary") if isinstance(metrics, dict) else None
        )

        run_id: int | None = None
        db_path: Path | None = None
        db_url: str | None = None
        home: Path | None = None
        raw_run = env.get(ENV_RUN_ID, "").strip()
        if raw_run:
            try:
                run_id = int(raw_run)
            except ValueError:
                raise ValueError(f"{ENV_RUN_ID}={raw_run!r} is not a run id (an integer)") from None
            raw_home = env.get(ENV_HOME, "").strip()
            home = Path(raw_home).expanduser() if raw_home else None
            if home is not None and (home / ".dockyard").is_dir():
                home = home / ".dockyard"
            url = env.get(ENV_DB, "").strip()
            if url and _postgres_url(url) and home is not None:
                db_url = url  # written directly; the artifacts go under DOCKYARD_HOME
            elif url:
                db_path = _sqlite_path(url)
            elif home is not None:
                db_path = home / DB_FILENAME
            else:
                raise ValueError(f"{ENV_RUN_ID} is set but neither {ENV_DB} nor {ENV_HOME} is")
            if db_path is not None and home is None:
                home = db_path.parent
            # neither: a store this process cannot write; the agent records our lines.

        return cls(
            project_dir=folder,
            params=params,
            data=data,
            datasets=datasets,
            run_id=run_id,
            db_path=db_path,
            db_url=db_url,
            home=home,
            primary_metric=primary if isinstance(primary, str) and primary else None,
            stream=stream,
            flush_points=flush_points,
            flush_seconds=flush_seconds,
            handle_signals=handle_signals,
        )

    # reading ---------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        """``store`` (rows written to SQLite) or ``protocol`` (lines on stdout)."""
        return self._sink.mode

    @property
    def params(self) -> dict[str, Any]:
        """The run's parameters: the project file's defaults overlaid by ``DOCKYARD_PARAMS``."""
        return dict(self._params)

    @property
    def outputs_dir(self) -> Path:
        return self.project_dir / OUTPUTS_DIR

    def data_path(self, name: str, default: str | Path | None = None) -> Path:
        """The file of dataset ``name``: the version the runner chose (``DOCKYARD_DATA``),
        else ``default``, else the path given for it in ``dockyard.toml``."""
        chosen = self._data.get(name)
        if chosen is None:
            chosen = str(default) if default is not None else self._datasets.get(name)
        if chosen is None:
            known = ", ".join(sorted({*self._data, *self._datasets})) or "none"
            raise KeyError(
                f"no dataset named {name!r} (known: {known}); pass default= or add it to "
                f"[[datasets]] in {PROJECT_FILE}"
            )
        path = Path(chosen).expanduser()
        return path if path.is_absolute() else self.project_dir / path

    # logging ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this tracker is closed; log inside the `with Tracker...` block")

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        """Record one point; ``step`` defaults to the key's previous step + 1 (from 0).

        Raises ``ValueError`` naming ``key`` when ``value`` is NaN or infinite.
        """
        # The hot path of a training loop: plain floats and ints skip the general checks.
        if self._closed:
            self._check_open()
        if key not in self._valid_keys:
            _check_key(key, "metric")
            self._valid_keys.add(key)
        kind = type(value)
        if (kind is float or kind is int) and -_INF < value < _INF:
            number = float(value)
        else:
            number = _finite_value(key, value)
        if step is None:
            step = self._next_step.get(key, 0)
        elif type(step) is not int or step < 0 or step > self._max_step:
            step = _check_step(key, step, self._max_step)
        self._next_step[key] = step + 1
        self._sink.metric(key, number, step, time.time())

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Record several metrics at one step; all are checked before any is recorded."""
        if self._closed:
            self._check_open()
        if step is not None and (type(step) is not int or step < 0 or step > self._max_step):
            step = _check_step(next(iter(metrics), "?"), step, self._max_step)
        checked = []
        for key, value in metrics.items():
            if key not in self._valid_keys:
                _check_key(key, "metric")
            kind = type(value)
            if (kind is float or kind is int) and -_INF < value < _INF:
                number = float(value)
            else:
                number = _finite_value(key, value)
            checked.append((key, number))
        stamp = time.time()
        next_step, sink = self._next_step, self._sink
        for key, number in checked:
            self._valid_keys.add(key)
            index = next_step.get(key, 0) if step is None else step
            next_step[key] = index + 1
            sink.metric(key, number, index, stamp)

    def log_param(self, key: str, value: object) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, object]) -> None:
        """Record parameters (stored as JSON text, see :func:`encode_param`); a later value
        replaces an earlier one. A param ``seed`` with an integer value also fills the run's
        seed.
        """
        self._check_open()
        items = {_check_key(key, "param"): jsonable(value) for key, value in params.items()}
        self._sink.params(items)

    def set_tag(self, key: str, value: object) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, object]) -> None:
        self._check_open()
        items = {_check_key(key, "tag"): format_value(value) for key, value in tags.items()}
        self._sink.tags(items)

    def log_artifact(
        self, path: str | Path, name: str | None = None, *, kind: str = "file"
    ) -> LoggedArtifact:
        """Record a file the run produced (content-addressed, SHA-256 and size kept)."""
        self._check_open()
        source = Path(path).expanduser()
        if not source.is_absolute():
            # The current folder first (Python's rule), then the project folder, which is
            # what a path on a protocol line read by the agent is relative to.
            here = Path.cwd() / source
            source = here if here.is_file() else self.project_dir / source
        if not source.is_file():
            raise FileNotFoundError(f"cannot log artifact {path}: no such file")
        artifact_name = _check_name(name or source.name, "artifact")
        return self._record_file(source, artifact_name, kind, "")

    def log_model(
        self, model: object, name: str = "model", *, format: str = "auto"
    ) -> LoggedArtifact:
        """Save a fitted estimator and record it as a ``model`` artifact.

        ``format="auto"`` saves with skops (loading it runs no code) and falls back to
        joblib when skops cannot serialise the object, with a :class:`ModelFormatWarning`:
        Dockyard refuses to unpickle joblib files, so such a model can be kept but not
        compared, served or deployed. The SHA-256 recorded for either is checked before
        the model is loaded again.
        """
        self._check_open()
        model_name = _check_name(name, "model")
        if format not in _MODEL_FORMATS:
            raise ValueError(f"model format {format!r} is not one of {', '.join(_MODEL_FORMATS)}")
        with tempfile.TemporaryDirectory(prefix="dockyard-model-") as tmp:
            file, file_format = _save_model(model, Path(tmp) / "model", format)
            return self._record_file(file, model_name, "model", file_format)

    def _record_file(self, source: Path, name: str, kind: str, file_format: str) -> LoggedArtifact:
        if isinstance(self._sink, _StoreSink):
            assert self._home is not None
            from dockyard.core import staging

            # Held until the artifact row is written (the sink writes it at once), so
            # `dockyard gc` never takes the new object for garbage in between.
            objects = self._objects_root()
            with staging.object_lock(objects):
                sha, size, object_path = _store_object(source, objects)
                logged = LoggedArtifact(
                    name=name,
                    kind=kind,
                    path=objects / sha,
                    sha256=sha,
                    size_bytes=size,
                    file_format=file_format,
                    object_path=object_path,
                )
                self._sink.artifact(logged, object_path)
            return logged
        target = self.outputs_dir / name
        if file_format and not target.suffix:
            target = target.with_suffix(f".{file_format}")
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.resolve() != target.resolve():
            shutil.copyfile(source, target)
        sha, size = _sha256_file(target)
        logged = LoggedArtifact(
            name=name, kind=kind, path=target, sha256=sha, size_bytes=size, file_format=file_format
        )
        try:
            display = str(target.relative_to(Path.cwd()))
        except ValueError:
            display = str(target)
        self._sink.artifact(logged, display)
        return logged

    def _objects_root(self) -> Path:
        """The object store: ``DOCKYARD_OBJECTS`` (the supervisor sets it to the folder it
        checked), else the workspace's settings, else ``objects/`` in the workspace."""
        from dockyard.core.workspace import objects_root

        assert self._home is not None
        try:
            return objects_root(self._home, os.environ, write=True)
        except Exception as exc:  # an InputError of core: this module's callers get ValueError
            raise ValueError(str(exc)) from None

    # lifecycle -------------------------------------------------------------------------

    def flush(self) -> None:
        """Write everything buffered now (store mode); nothing to do in protocol mode."""
        self._sink.flush()

    def close(self) -> None:
        """Flush and release the store; idempotent. Called at exit if the script forgets."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self._close_at_exit)
        try:
            self._sink.close()
        finally:
            self._restore_sigterm()

    def __enter__(self) -> Tracker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _close_at_exit(self) -> None:
        try:
            self.close()
        except Exception as exc:  # at exit a traceback helps nobody; one line does
            print(f"dockyard: could not save the last tracking data: {exc}", file=sys.stderr)

    def _install_sigterm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        try:
            self._previous_sigterm = signal.getsignal(signal.SIGTERM)
            signal.signal(signal.SIGTERM, self._on_sigterm)
        except (ValueError, OSError):  # not allowed here (embedded interpreter...)
            return
        self._sigterm_installed = True

    def _restore_sigterm(self) -> None:
        if not self._sigterm_installed:
            return
        self._sigterm_installed = False
        with contextlib.suppress(ValueError, OSError):
            if signal.getsignal(signal.SIGTERM) == self._on_sigterm:
                signal.signal(signal.SIGTERM, self._previous_sigterm)

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        """Flush, then behave as if we had never been installed."""
        sink = self._sink
        if isinstance(sink, _StoreSink) and sink.writing_in_this_thread():
            # The signal interrupted our own write: let it commit, then act on the signal.
            sink.run_after_write(lambda: self._pass_on_sigterm(signum, frame))
            return
        try:
            sink.flush()
        except Exception as exc:
            print(f"dockyard: could not save tracking data on SIGTERM: {exc}", file=sys.stderr)
        self._pass_on_sigterm(signum, frame)

    def _pass_on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        previous = self._previous_sigterm
        self._restore_sigterm()
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            # Default action: die of the signal, so the runner sees "killed by SIGTERM".
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)


# --------------------------------------------------------------------------- files


def _sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _store_object(source: Path, objects: Path) -> tuple[str, int, str]:
    """Copy ``source`` to ``objects/<sha256>`` (hashing while copying); the row's path,
    ``objects/<sha256>``, is relative to the object store wherever it is mounted."""
    # Written under objects/tmp/ first, under a name that carries this process (the next
    # dockyard command removes it if the process was killed), then renamed into place.
    from dockyard.core import staging

    folder = objects / staging.TMP_DIRNAME
    folder.mkdir(parents=True, exist_ok=True)
    tmp_name = str(folder / staging.tmp_name("part"))
    fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        sha = digest.hexdigest()
        target = objects / sha
        if target.exists():
            os.unlink(tmp_name)  # same content already stored
            staging.touch_object(target)  # reused: gc's grace period starts again
        else:
            os.chmod(tmp_name, 0o444)  # objects are immutable
            os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    return sha, size, f"objects/{sha}"


def _save_model(model: object, stem: Path, format: str) -> tuple[Path, str]:
    if format in ("auto", "skops"):
        file = stem.with_suffix(".skops")
        try:
            import skops.io

            skops.io.dump(model, file)
            return file, "skops"
        except Exception as exc:
            if format == "skops":
                raise
            file.unlink(missing_ok=True)
            # The file is still worth keeping for the script's own use, but Dockyard refuses
            # to unpickle it later (compare, predict, deploy): say so now, not at that moment.
            warnings.warn(
                f"skops cannot save this model ({exc}); it was saved with joblib "
                "instead, and Dockyard will not load a joblib (pickle) file for compare, "
                "predict or deploy",
                ModelFormatWarning,
                stacklevel=4,
            )
    import joblib

    file = stem.with_suffix(".joblib")
    joblib.dump(model, file)
    return file, "joblib"
