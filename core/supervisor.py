"""One supervisor process per run: starts the training command and outlives the agent.

``python -m dockyard.core.supervisor RUN_ID`` (started by the agent in a session of its own, with
``DOCKYARD_HOME``/``DOCKYARD_DB`` set) records the run's reproducibility facts, runs the
project's entry command in the project folder, copies its output to the run's log file,
turns ``@dockyard`` protocol lines into store rows, beats a heartbeat, and writes the final
status. Because it is not the agent, killing the agent, the TUI or the SSH session never
stops a run; a new agent finds the supervisor alive and leaves it be.

SIGTERM (from ``dockyard run cancel``) is passed to the training process; if it has not
exited after ``DOCKYARD_CANCEL_GRACE`` seconds (default 10) it gets SIGKILL.

The training process never outlives its supervisor: on Linux it is started with a
parent-death signal (SIGKILL), and it stays in the supervisor's process group, which the
agent kills when it finds the supervisor gone and marks the run ``lost``.

Output is read in bounded chunks and appended to the log as it arrives; ``\r`` and
``\r\n`` end a line like ``\n`` (progress bars become lines a tail can show) and a line
longer than :data:`MAX_LINE_BYTES` is broken there, so memory stays flat whatever a
script prints.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dockyard.core import staging
from dockyard.core.code import capture_code
from dockyard.core.errors import InputError
from dockyard.core.projects import ProjectSpec
from dockyard.core.run_logs import LogStream
from dockyard.core.tracking import ProtocolError, RunEndedError, Tracker, parse_protocol_line
from dockyard.core.workspace import (
    OBJECTS_ENV,
    Workspace,
    current_user,
    engine_for,
    find_workspace,
    host_name,
)

HEARTBEAT_SECONDS = 2.0
TAIL_LINES = 20
#: A log line longer than this is broken into pieces of this size.
MAX_LINE_BYTES = 64 * 1024
READ_BYTES = 64 * 1024
#: A successful run's final status, as ``runs.claim_status`` sets it (conditional: an agent
#: that presumed the supervisor gone has settled the run, and keeps its verdict).
_CLAIM_FINISHED = (
    "UPDATE run SET status = 'finished', exit_code = 0, error = :e, ended_at = :t"
    " WHERE id = :r AND status IN ('running', 'cancelling')"
)
_PR_SET_PDEATHSIG = 1
_PROTOCOL_MARK = b"@dockyard"


class LogLines:
    """Turns a process's raw output, chunk by chunk, into what the log file gets and the
    lines completed so far, holding at most one unfinished line of ``max_line`` bytes.

    ``\r\n``, ``\r`` and ``\n`` all end a line (a ``\r``-only progress bar would
    otherwise be one endless line that no tail shows); a line reaching ``max_line``
    bytes is ended there and goes on in the next line.
    """

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self.max_line = max_line
        self._partial = b""
        self._after_cr = False

    def feed(self, chunk: bytes) -> tuple[bytes, list[bytes]]:
        """(bytes to append to the log now, lines this chunk completed)."""
        if self._after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]  # the \n of a \r\n split across two reads
        self._after_cr = chunk.endswith(b"\r")
        if not chunk:
            return b"", []
        text = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        pieces = text.split(b"\n")
        limit = self.max_line
        if len(self._partial) + len(pieces[0]) <= limit and max(map(len, pieces)) <= limit:
            # the common case, at C speed: no line to break
            lines = pieces[:-1]
            if lines:
                lines[0] = self._partial + lines[0]
                self._partial = pieces[-1]
            else:
                self._partial += pieces[-1]
            return text, lines
        out: list[bytes] = []
        lines = []
        for index, piece in enumerate(pieces):
            if index:
                out.append(b"\n")
                lines.append(self._partial)
                self._partial = b""
            while len(self._partial) + len(piece) > limit:
                room = limit - len(self._partial)
                out += (piece[:room], b"\n")
                lines.append(self._partial + piece[:room])
                self._partial, piece = b"", piece[room:]
            out.append(piece)
            self._partial += piece
        return b"".join(out), lines

    def close(self) -> tuple[bytes, list[bytes]]:
        """End an unfinished last line, so whatever is appended next starts a line."""
        if not self._partial:
            return b"", []
        line, self._partial = self._partial, b""
        return b"\n", [line]


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGKILL when this process dies (Linux
    ``PR_SET_PDEATHSIG``), or None where that does not exist.

    The signal follows the *thread* that forked the child: call Popen from the main
    thread, which lives exactly as long as the supervisor.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def set_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the supervisor died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return set_death_signal


def installed_packages() -> dict[str, str]:
    """Name -> version of every distribution in this interpreter's environment."""
    from importlib import metadata

    packages: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            packages[name.lower()] = dist.version
    return dict(sorted(packages.items()))


def command_argv(entry: str) -> list[str]:
    """The entry command as argv; a leading ``python`` means this interpreter, so a run
    uses the environment Dockyard is installed in."""
    argv = shlex.split(entry)
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return argv


class Supervisor:
    def __init__(self, workspace: Workspace, run_id: int) -> None:
        self.workspace = workspace
        self.run_id = run_id
        self.child: subprocess.Popen[bytes] | None = None
        self.cancelled = threading.Event()
        self.tail: deque[bytes] = deque(maxlen=TAIL_LINES)
        self.protocol_errors = 0
        self.run_ended = False
        #: the log's copy into the store, while run() runs
        self.stream: LogStream | None = None
        # installed first thing: a cancel that arrives while we start must not kill us
        # before we can record it
        signal.signal(signal.SIGTERM, self._on_sigterm)
        signal.signal(signal.SIGINT, self._on_sigterm)

    # -- store ------------------------------------------------------------------------

    def _update(self, **fields: Any) -> None:
        from sqlmodel import Session

        from dockyard.store.models import Run

        with Session(engine_for(self.workspace)) as session:
            run = session.get(Run, self.run_id)
            assert run is not None
            for key, value in fields.items():
                setattr(run, key, value)
            session.add(run)
            session.commit()

    def _load(self) -> tuple[Any, Any, dict[str, Any]]:
        from sqlmodel import Session, select

        from dockyard.store.models import Param, Project, Run

        with Session(engine_for(self.workspace)) as session:
            run = session.get(Run, self.run_id)
            if run is None:
                raise SystemExit(f"dockyard supervisor: no run {self.run_id}")
            project = session.get(Project, run.project_id)
            params = {
                p.key: json.loads(p.value)
                for p in session.exec(select(Param).where(Param.run_id == self.run_id))
            }
            session.expunge_all()
            return run, project, params

    # -- lifecycle --------------------------------------------------------------------

    def run(self) -> int:
        # the log goes to the file here and, in batches, into the store, so that the run
        # shows its log on every machine (core.run_logs)
        self.stream = stream = LogStream(self.workspace, self.run_id)
        try:
            return self._run(stream)
        except Exception as exc:
            self._crashed(exc)
            return 1
        finally:
            self.stream.close()  # a closed stream closes again at no cost

    def _crashed(self, exc: Exception) -> None:
        """A failure of this supervisor's own code, not of the script: its traceback and a
        last ``dockyard:`` line go into the run's log (file and store, so `dockyard run logs`
        shows it on every machine) and the run fails naming it. Without this the traceback
        went to a stderr nobody reads and the agent called the run lost, "vanished"."""
        import traceback

        child = self.child
        if child is not None and child.poll() is None:
            child.kill()  # nothing may go on writing into a run that is failed
            child.wait()
        reason = f"the supervisor failed: {type(exc).__name__}: {exc}"
        text = "".join(traceback.format_exception(exc))
        # into the file directly: both executors send our stderr there, so printing it
        # as well would show it twice
        log_path = self.workspace.logs / f"run-{self.run_id}.log"
        data = f"{text}dockyard: {reason}\n".encode()
        with contextlib.suppress(OSError):  # the file may be what failed: the store still
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with log_path.open("ab") as handle:
                handle.write(data)
        if self.stream is not None and self.stream.closed:  # it failed after the close
            self.stream = LogStream(self.workspace, self.run_id)
        if self.stream is not None:
            self.stream.write(data)
        try:
            self._finish("failed", None, reason)
        except Exception:  # the store itself: the agent will find the run lost
            traceback.print_exc()

    def _note(self, log_path: Path, message: str) -> None:
        """Append one ``dockyard:`` line to the log (file and store)."""
        data = f"dockyard: {message}\n".encode()
        with log_path.open("ab") as handle:
            handle.write(data)
        if self.stream is not None:
            self.stream.write(data)

    def _run(self, stream: LogStream) -> int:
        run, project, params = self._load()
        folder = Path(project.path)
        log_path = self.workspace.logs / f"run-{self.run_id}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env_record = json.loads(run.env_json or "{}")
        data_paths: dict[str, str] = env_record.get("data_paths", {})
        try:
            # this machine must see the object store (the code snapshot, the model files
            # land there): a worker without the shared mount fails the run, saying so
            objects = self.workspace.check_objects(write=True)
        except InputError as exc:
            self._note(log_path, str(exc))
            self._update(pid=os.getpid(), host=host_name(), log_path=str(log_path))
            self._finish("failed", None, f"{host_name()}: {exc}")
            return 1
        # The snapshot's objects land before the row naming them is committed: hold the
        # object store's lock (shared) until then, so `dockyard gc` cannot judge them
        # unreferenced in between (core.object_gc).
        with staging.object_lock(objects):
            # before the script starts, so the record is of the code it runs (core.code)
            spec = ProjectSpec.from_json(project.spec_json)
            code_record = capture_code(
                self.workspace, folder, run.command, [d.path for d in spec.datasets if d.path]
            )
            argv = command_argv(run.command)
            env_record.update(
                {
                    "argv": argv,
                    "cwd": str(folder),
                    "python": sys.version.split()[0],
                    "platform": platform.platform(),
                    "packages": installed_packages(),
                }
            )
            child_env = {
                **os.environ,
                "DOCKYARD_RUN_ID": str(self.run_id),
                "DOCKYARD_HOME": str(self.workspace.home),
                "DOCKYARD_DB": self.workspace.db_url,
                # the tracker stores artifacts where this supervisor checked it can
                OBJECTS_ENV: str(objects),
                "DOCKYARD_PARAMS": json.dumps(params),
                "DOCKYARD_DATA": json.dumps(data_paths),
                "PYTHONUNBUFFERED": "1",
            }
            if run.primary_metric:
                child_env["DOCKYARD_PRIMARY_METRIC"] = run.primary_metric
            if run.seed is not None:
                child_env["DOCKYARD_SEED"] = str(run.seed)
            self._update(
                pid=os.getpid(),
                host=host_name(),
                log_path=str(log_path),
                # the project folder's own repository, or none: never the one around the
                # workspace, whose commit need not hold this code
                git_commit=code_record.get("commit"),
                git_dirty=code_record.get("dirty"),
                code_json=json.dumps(code_record),
                env_json=json.dumps(env_record),
                heartbeat_at=_now(),
                user=run.user or current_user(),
            )
        if self.cancelled.is_set() or run.status == "cancelling":
            self._finish("cancelled", None, "cancelled before it started")
            return 0
        if run.dataset_version_id is not None:
            problem = self._check_dataset(run.dataset_version_id)
            if problem:
                self._note(log_path, problem)
                self._finish("failed", None, problem)
                return 1
        with log_path.open("ab", buffering=0) as log_file:
            log = _Tee(log_file, stream)
            try:
                self.child = subprocess.Popen(
                    argv,
                    cwd=folder,
                    env=child_env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    # the same process group as ours (we lead it): the agent kills the
                    # group when it finds us gone
                    preexec_fn=die_with_parent(),
                )
            except OSError as exc:
                message = f"cannot start {shlex.join(argv)}: {exc.strerror or exc}"
                log.write(f"dockyard: {message}\n".encode())
                self._finish("failed", None, message)
                return 1
            heartbeat = threading.Thread(target=self._beat, daemon=True)
            heartbeat.start()
            tracker = Tracker.from_env(
                child_env, project_dir=folder, handle_signals=False, stream=sys.stderr
            )
            try:
                self._pump(self.child, log, tracker)
            finally:
                try:
                    tracker.close()
                except RunEndedError as exc:
                    if not self.run_ended:  # found by the tracker's background writer
                        log.write(f"dockyard: {exc} (@dockyard lines not recorded)\n".encode())
            code = self.child.wait()
        if self.cancelled.is_set():
            self._finish("cancelled", code, "cancelled")
        elif code == 0:
            if spec.register_candidates:
                self._finish_as_candidate(project.name)
            else:
                self._finish("finished", code, "")
        elif code < 0:
            self._finish("failed", code, f"killed by {_signal_name(-code)}")
        else:
            last = next((line for line in reversed(self.tail) if line.strip()), b"")
            text = last.decode("utf-8", errors="replace").strip()
            self._finish("failed", code, f"exit code {code}" + (f": {text}" if text else ""))
        return 0

    def _check_dataset(self, version_id: int) -> str | None:
        """Re-hash the immutable dataset file before the script reads it; a file that no
        longer matches its recorded hash must not train a model."""
        from dockyard.core.datasets import version_path
        from dockyard.core.errors import DockyardError

        try:
            version_path(self.workspace, version_id, verify=True)
        except DockyardError as exc:
            return f"the run's dataset cannot be used: {exc}"
        return None

    def _pump(self, child: subprocess.Popen[bytes], log: Any, tracker: Tracker) -> None:
        """Copy the child's output to the log as it comes, in bounded reads."""
        assert child.stdout is not None
        fd = child.stdout.fileno()
        lines = LogLines()
        while chunk := os.read(fd, READ_BYTES):
            data, done = lines.feed(chunk)
            # only the first completed line can hold bytes of earlier reads; any other
            # protocol line lies in this chunk: most chunks need no line-by-line look
            scan = bool(done) and (done[0].startswith(_PROTOCOL_MARK) or _PROTOCOL_MARK in chunk)
            self._write_out(log, tracker, data, done, scan=scan)
        self._write_out(log, tracker, *lines.close(), scan=True)

    def _write_out(
        self, log: Any, tracker: Tracker, data: bytes, lines: list[bytes], *, scan: bool
    ) -> None:
        self.tail.extend(lines[-TAIL_LINES:])
        notes = []
        if scan:
            for line in lines:
                if line.startswith(_PROTOCOL_MARK):
                    notes.extend(self._protocol(line.decode("utf-8", "replace"), tracker))
        if not notes:
            log.write(data)
            return
        # the notes go after the complete lines, never inside an unfinished one
        cut = data.rfind(b"\n") + 1
        log.write(data[:cut] + b"".join(notes) + data[cut:])

    def _protocol(self, text: str, tracker: Tracker) -> list[bytes]:
        try:
            event = parse_protocol_line(text)
        except ProtocolError as exc:
            self.protocol_errors += 1
            return [f"dockyard: ignored a malformed @dockyard line: {exc}\n".encode()]
        if event is not None and tracker.mode == "store" and not self.run_ended:
            try:
                self._record(tracker, event)
            except RunEndedError as exc:
                # an agent elsewhere gave the run up (lost); keep logging, stop recording
                self.run_ended = True
                return [f"dockyard: {exc} (@dockyard lines not recorded)\n".encode()]
        return []

    def _record(self, tracker: Tracker, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "metric":
            tracker.log_metric(event["key"], event["value"], step=event["step"])
        elif kind == "param":
            tracker.log_param(event["key"], event["value"])
        elif kind == "tag":
            tracker.set_tag(event["key"], event["value"])
        elif kind == "artifact" and not event.get("sha256"):
            # a Python script's tracker already stored it (sha256 given); a plain line
            # from another language names a file we store now
            path = Path(event["path"])
            if path.is_file():
                tracker.log_artifact(path, name=event["name"])

    def _beat(self) -> None:
        while self.child is not None and self.child.poll() is None:
            # a busy store must not kill the run; the next beat retries
            status = None
            with contextlib.suppress(Exception):
                status = self._beat_once()
            if status == "cancelling" and not self.cancelled.is_set():
                # a cancel asked from a machine that cannot signal us (the run executes
                # on a Dask worker elsewhere): the store carries it
                self._stop_child()
            elif status in ("finished", "failed", "cancelled", "lost") and not self.run_ended:
                # someone else settled the run (an agent that lost its Dask scheduler,
                # or presumed us gone): nothing it does is recorded any more
                self.run_ended = True
                self._stop_child()
            time.sleep(HEARTBEAT_SECONDS)

    def _beat_once(self) -> str | None:
        """Beat the heartbeat and read back the run's status, in one transaction."""
        from sqlalchemy import select, update
        from sqlmodel import Session, col

        from dockyard.store.models import Run

        with Session(engine_for(self.workspace)) as session:
            session.execute(
                update(Run).where(col(Run.id) == self.run_id).values(heartbeat_at=_now())
            )
            status = session.execute(
                select(col(Run.status)).where(col(Run.id) == self.run_id)
            ).scalar_one_or_none()
            session.commit()
            return status

    def _on_sigterm(self, _signum: int, _frame: object) -> None:
        self._stop_child()

    def _stop_child(self) -> None:
        """SIGTERM to the training process, SIGKILL after the grace period; the run is
        recorded as cancelled (unless someone else settled it first)."""
        self.cancelled.set()
        child = self.child
        if child is None or child.poll() is not None:
            return
        child.terminate()
        grace = float(os.environ.get("DOCKYARD_CANCEL_GRACE", "10"))

        def kill_later() -> None:
            try:
                child.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                child.kill()

        threading.Thread(target=kill_later, daemon=True).start()

    def _finish_as_candidate(self, model_name: str) -> None:
        """``register_candidates = true``: the run is finished, made a version of the model
        named like the project, and its log's last line says so (or why not: a run without
        a model) in one transaction, so a follower that sees the run end has that line too
        (the log's other lines are stored first: the stream is closed)."""
        from contextlib import closing

        from dockyard.core.audit import witness_appended
        from dockyard.core.errors import DockyardError
        from dockyard.core.registry import add_version_in, registrable
        from dockyard.core.run_logs import append_in
        from dockyard.core.workspace import open_writer
        from dockyard.store.writes import integrity_errors

        try:
            candidate = registrable(self.workspace, self.run_id, model_name, finishing=True)
            message = ""
        except DockyardError as exc:
            candidate, message = None, f"not registered as a candidate: {exc}"
        assert self.stream is not None
        if not self.stream.close():  # the store is behind: the line after the status
            self._finish_then_register(model_name)
            return
        error = self._error("finished", "")
        pending = None
        with closing(open_writer(self.workspace)) as writer:
            try:
                with writer.transaction() as tx:
                    now = _now()
                    if not tx.execute(_CLAIM_FINISHED, {"r": self.run_id, "e": error, "t": now}):
                        return  # an agent that presumed us gone settled it: its verdict
                    if candidate is not None:
                        _id, number, pending = add_version_in(
                            tx, self.workspace, candidate, "candidate"
                        )
                        message = f"registered {model_name}@{number} as a candidate"
                    append_in(tx, self.run_id, f"dockyard: {message}\n", now)
            except integrity_errors():  # another registration took the number: none written
                self._finish_then_register(model_name)
                return
            if pending is not None:
                witness_appended(self.workspace, writer, [pending])
        with (self.workspace.logs / f"run-{self.run_id}.log").open("ab") as handle:
            handle.write(f"dockyard: {message}\n".encode())

    def _finish_then_register(self, model_name: str) -> None:
        """The order before the transaction above: the status, then the registration
        and its line (which a follower may miss), through a new stream."""
        self.stream = LogStream(self.workspace, self.run_id)
        self._finish("finished", 0, "")
        self._register_candidate(model_name)

    def _register_candidate(self, model_name: str) -> None:
        """``register_candidates = true``: every finished run becomes a version of the
        model named like the project; a run without a model is noted in its log."""
        from dockyard.core.errors import DockyardError
        from dockyard.core.registry import register_version

        log = self.workspace.logs / f"run-{self.run_id}.log"
        try:
            info = register_version(self.workspace, self.run_id, model_name, "candidate")
            message = f"registered {info.ref} as a candidate"
        except DockyardError as exc:
            message = f"not registered as a candidate: {exc}"
        self._note(log, message)

    def _error(self, status: str, error: str) -> str:
        """The run's recorded error: a finished run's says what of its output was ignored."""
        if self.protocol_errors and status == "finished":
            error = f"{self.protocol_errors} malformed @dockyard line(s) ignored; see the log"
        return error[:500]

    def _finish(self, status: str, code: int | None, error: str) -> None:
        error = self._error(status, error)
        from sqlmodel import Session

        from dockyard.core.runs import claim_status

        # the log's last lines reach the store before the status says "over": a follower
        # that reads once more after seeing it has them all
        if self.stream is not None:
            self.stream.drain()
        # Conditional: an agent that presumed us gone (other host, stale heartbeat) has
        # marked the run lost; we do not overwrite its verdict
        with Session(engine_for(self.workspace)) as session:
            claim_status(
                session, self.run_id, ("running", "cancelling"), status,
                exit_code=code, error=error, ended_at=_now(),
            )  # fmt: skip
            session.commit()


class _Tee:
    """The run's log as the pump writes it: the file, and the store's copy."""

    def __init__(self, file: Any, stream: LogStream) -> None:
        self.file = file
        self.stream = stream

    def write(self, data: bytes) -> None:
        self.file.write(data)
        self.stream.write(data)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _now() -> Any:
    from dockyard.store.models import utcnow

    return utcnow()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m dockyard.core.supervisor RUN_ID", file=sys.stderr)
        return 2
    parent = os.environ.pop("DOCKYARD_DIE_WITH_PARENT", "")
    if parent.isdigit():
        die_with(int(parent))
    workspace = find_workspace()
    return Supervisor(workspace, int(args[0])).run()


def die_with(parent: int) -> None:
    """Get SIGKILL when process ``parent`` (which started us) dies: a Dask worker's run
    must not outlive the worker, which Dask no longer counts (Linux only; elsewhere the
    agent's check of the heartbeat settles the run)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        prctl = ctypes.CDLL(None, use_errno=True).prctl
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # it died before the signal was armed
        os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
