"""One supervisor process per run: starts the training command and outlives the agent.

``python -m core.supervisor RUN_ID`` (started by the agent in a session of its own, with
``DOCKYARD_HOME``/``DOCKYARD_DB`` set) records the run's reproducibility facts, runs the
project's entry command in the project folder, copies its output to the run's log file,
turns ``@dockyard`` protocol lines into store rows, beats a heartbeat, and writes the final
status. Because it is not the agent, killing the agent, the TUI or the SSH session never
stops a run; a new agent finds the supervisor alive and leaves it be.

SIGTERM (from ``dockyard run cancel``) is passed to the training process; if it has not
exited after ``DOCKYARD_CANCEL_GRACE`` seconds (default 10) it gets SIGKILL.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from core.projects import ProjectSpec
from core.tracking import ProtocolError, Tracker, parse_protocol_line
from core.workspace import Workspace, current_user, engine_for, find_workspace

HEARTBEAT_SECONDS = 2.0
TAIL_LINES = 20


def git_state(folder: Path) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git checkout holding ``folder``, or (None, None)."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        status = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--", "."],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit or None, bool(status.strip())


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
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.protocol_errors = 0
        # installed first thing: a cancel that arrives while we start must not kill us
        # before we can record it
        signal.signal(signal.SIGTERM, self._on_sigterm)
        signal.signal(signal.SIGINT, self._on_sigterm)

    # -- store ------------------------------------------------------------------------

    def _update(self, **fields: Any) -> None:
        from sqlmodel import Session

        from store.models import Run

        with Session(engine_for(self.workspace)) as session:
            run = session.get(Run, self.run_id)
            assert run is not None
            for key, value in fields.items():
                setattr(run, key, value)
            session.add(run)
            session.commit()

    def _load(self) -> tuple[Any, Any, dict[str, Any]]:
        from sqlmodel import Session, select

        from store.models import Param, Project, Run

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
        run, project, params = self._load()
        folder = Path(project.path)
        log_path = self.workspace.logs / f"run-{self.run_id}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env_record = json.loads(run.env_json or "{}")
        data_paths: dict[str, str] = env_record.get("data_paths", {})
        commit, dirty = git_state(folder)
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
            host=socket.gethostname(),
            log_path=str(log_path),
            git_commit=commit,
            git_dirty=dirty,
            env_json=json.dumps(env_record),
            heartbeat_at=_now(),
            user=run.user or current_user(),
        )
        if self.cancelled.is_set():
            self._finish("cancelled", None, "cancelled before it started")
            return 0
        if run.dataset_version_id is not None:
            problem = self._check_dataset(run.dataset_version_id)
            if problem:
                with log_path.open("a", encoding="utf-8") as handle:
                    handle.write(f"dockyard: {problem}\n")
                self._finish("failed", None, problem)
                return 1
        with log_path.open("ab", buffering=0) as log:
            try:
                self.child = subprocess.Popen(
                    argv,
                    cwd=folder,
                    env=child_env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
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
                tracker.close()
            code = self.child.wait()
        if self.cancelled.is_set():
            self._finish("cancelled", code, "cancelled")
        elif code == 0:
            self._finish("finished", code, "")
            if ProjectSpec.from_json(project.spec_json).register_candidates:
                self._register_candidate(project.name)
        else:
            last = next((line for line in reversed(self.tail) if line.strip()), "")
            self._finish("failed", code, f"exit code {code}" + (f": {last}" if last else ""))
        return 0

    def _check_dataset(self, version_id: int) -> str | None:
        """Re-hash the immutable dataset file before the script reads it; a file that no
        longer matches its recorded hash must not train a model."""
        from core.datasets import version_path
        from core.errors import DockyardError

        try:
            version_path(self.workspace, version_id, verify=True)
        except DockyardError as exc:
            return f"the run's dataset cannot be used: {exc}"
        return None

    def _pump(self, child: subprocess.Popen[bytes], log: Any, tracker: Tracker) -> None:
        assert child.stdout is not None
        for raw in iter(child.stdout.readline, b""):
            log.write(raw)
            text = raw.decode("utf-8", errors="replace")
            self.tail.append(text.rstrip())
            try:
                event = parse_protocol_line(text)
            except ProtocolError as exc:
                self.protocol_errors += 1
                log.write(f"dockyard: ignored a malformed @dockyard line: {exc}\n".encode())
                continue
            if event is not None and tracker.mode == "store":
                self._record(tracker, event)

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
            with contextlib.suppress(Exception):
                self._update(heartbeat_at=_now())
            time.sleep(HEARTBEAT_SECONDS)

    def _on_sigterm(self, _signum: int, _frame: object) -> None:
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

    def _register_candidate(self, model_name: str) -> None:
        """``register_candidates = true``: every finished run becomes a version of the
        model named like the project; a run without a model is noted in its log."""
        from core.errors import DockyardError
        from core.registry import register_version

        log = self.workspace.logs / f"run-{self.run_id}.log"
        try:
            info = register_version(self.workspace, self.run_id, model_name, "candidate")
            message = f"dockyard: registered {info.ref} as a candidate\n"
        except DockyardError as exc:
            message = f"dockyard: not registered as a candidate: {exc}\n"
        with log.open("a", encoding="utf-8") as handle:
            handle.write(message)

    def _finish(self, status: str, code: int | None, error: str) -> None:
        if self.protocol_errors and status == "finished":
            error = f"{self.protocol_errors} malformed @dockyard line(s) ignored; see the log"
        self._update(status=status, exit_code=code, error=error[:500], ended_at=_now())


def _now() -> Any:
    from store.models import utcnow

    return utcnow()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m core.supervisor RUN_ID", file=sys.stderr)
        return 2
    workspace = find_workspace()
    return Supervisor(workspace, int(args[0])).run()


if __name__ == "__main__":
    sys.exit(main())
