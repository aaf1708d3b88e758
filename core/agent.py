"""The agent: the one long-lived process that executes queued runs for a store.

Exactly one agent serves a store: it holds the ``agent_lease`` row and renews its heartbeat;
another agent finds the lease fresh and exits (or waits, with ``wait=True``). Each queued run
is handed to a supervisor process (``core.supervisor``) in a session of its own, so the
runs survive the agent. When an agent starts it marks as ``lost`` every running run whose
supervisor is gone, and leaves the live ones to finish by themselves.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from dockyard.core.errors import DockyardError
from dockyard.core.runs import claim_status, signal_group
from dockyard.core.workspace import Workspace, engine_for, reader_for

if TYPE_CHECKING:
    from sqlalchemy import Engine

LEASE_SECONDS = 15.0
HEARTBEAT_SECONDS = 3.0
POLL_SECONDS = 0.5
#: A supervisor silent for this long on another host is presumed gone.
SUPERVISOR_STALE_SECONDS = 60.0


class LeaseHeldError(DockyardError):
    """Another agent serves this store."""


@dataclass(frozen=True)
class AgentStatus:
    alive: bool
    holder: str | None
    host: str | None
    pid: int | None
    heartbeat_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "alive": self.alive,
            "holder": self.holder,
            "host": self.host,
            "pid": self.pid,
            "heartbeat_at": None if self.heartbeat_at is None else self.heartbeat_at.isoformat(),
        }


def _now() -> datetime:
    # not store.models.utcnow: importing the models costs SQLModel, for a clock
    return datetime.now(UTC)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (dead, waiting to be reaped:
    an init that reaps late must not keep a dead agent or supervisor "alive")."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rpartition(b")")[2].split()[:1]
    except OSError:
        return True  # no /proc (not Linux): the signal check is all we have
    return state not in ([b"Z"], [b"X"])


def process_started_at(pid: int) -> datetime | None:
    """When process ``pid`` started (Linux ``/proc``; to about a second), else None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            # the command name (field 2) may hold spaces and parentheses: split after it
            fields = handle.read().rpartition(b")")[2].split()
        with open("/proc/stat", "rb") as handle:
            boot = next(int(line.split()[1]) for line in handle if line.startswith(b"btime"))
        ticks = int(fields[19])  # field 22, starttime, counted from field 3
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return datetime.fromtimestamp(boot + ticks / os.sysconf("SC_CLK_TCK"), UTC)


def holder_gone(host: str | None, pid: int | None, acquired_at: datetime) -> bool:
    """True when the agent that took a lease at ``acquired_at`` is certainly dead: it ran
    on this host and its pid is gone, or now belongs to a process started after the
    lease was taken (the pid was reused). Another host's agent is judged by its
    heartbeat alone."""
    if host != socket.gethostname() or pid is None:
        return False
    if not pid_alive(pid):
        return True
    started = process_started_at(pid)
    # an agent starts before it takes the lease; two seconds of slack for the
    # second-granular boot time and small clock adjustments
    return started is not None and started > acquired_at + timedelta(seconds=2)


def agent_status(workspace: Workspace) -> AgentStatus:
    """Whether an agent holds this store's lease with a fresh heartbeat and, when it runs
    on this host, is still alive (a SIGKILLed agent is seen as gone at once, not after
    the lease expires)."""
    from dockyard.store.queries import agent_lease, as_utc

    lease = agent_lease(reader_for(workspace))
    if lease is None:
        return AgentStatus(False, None, None, None, None)
    heartbeat = as_utc(lease["heartbeat_at"])
    acquired = as_utc(lease["acquired_at"])
    assert heartbeat is not None and acquired is not None  # NOT NULL columns
    fresh = _now() - heartbeat < timedelta(seconds=LEASE_SECONDS)
    alive = fresh and not holder_gone(lease["host"], lease["pid"], acquired)
    return AgentStatus(alive, lease["holder"], lease["host"], lease["pid"], heartbeat)


class Agent:
    def __init__(self, workspace: Workspace, concurrency: int | None = None) -> None:
        self.workspace = workspace
        self.engine: Engine = engine_for(workspace)
        self.concurrency = concurrency or os.cpu_count() or 1
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.holder = f"{self.host}:{self.pid}"
        self.children: dict[int, subprocess.Popen[bytes]] = {}
        self.stopping = False
        self._last_beat = 0.0
        #: the monitors' APScheduler, only while this agent holds the lease
        self.scheduler: Any = None
        self.schedule_monitors = True

    # -- lease ------------------------------------------------------------------------

    def try_acquire(self) -> bool:
        """Take the lease if it is free, stale or ours; True when we hold it."""
        from sqlalchemy import or_, update
        from sqlalchemy.exc import IntegrityError
        from sqlmodel import Session, col

        from dockyard.store.models import AgentLease

        now = _now()
        cutoff = now - timedelta(seconds=LEASE_SECONDS)
        with Session(self.engine) as session:
            takeable = [
                col(AgentLease.holder) == self.holder,
                col(AgentLease.heartbeat_at) < cutoff,
            ]
            current = session.get(AgentLease, 1)
            if current is not None and holder_gone(current.host, current.pid, current.acquired_at):
                # its holder died without expiring: take it from that holder only, so of
                # two agents starting now one wins
                takeable.append(col(AgentLease.holder) == current.holder)
            session.expunge_all()
            result = session.exec(
                update(AgentLease)
                .where(col(AgentLease.id) == 1)
                .where(or_(*takeable))
                .values(
                    holder=self.holder,
                    host=self.host,
                    pid=self.pid,
                    acquired_at=now,
                    heartbeat_at=now,
                )
            )
            if result.rowcount == 1:
                session.commit()
                return True
            session.rollback()
            if session.get(AgentLease, 1) is not None:
                return False
            session.add(AgentLease(id=1, holder=self.holder, host=self.host, pid=self.pid))
            try:
                session.commit()
            except IntegrityError:
                return False
            return True

    def acquire(self, wait: bool = False) -> None:
        while not self.try_acquire():
            if not wait:
                status = agent_status(self.workspace)
                raise LeaseHeldError(
                    f"another agent (pid {status.pid} on {status.host}) already serves this "
                    "store; stop it with `dockyard agent stop` or use it"
                )
            time.sleep(HEARTBEAT_SECONDS)

    def renew(self) -> bool:
        from sqlalchemy import update
        from sqlmodel import Session, col

        from dockyard.store.models import AgentLease

        with Session(self.engine) as session:
            result = session.exec(
                update(AgentLease)
                .where(col(AgentLease.id) == 1, col(AgentLease.holder) == self.holder)
                .values(heartbeat_at=_now())
            )
            session.commit()
            return bool(result.rowcount == 1)

    def release(self) -> None:
        from sqlalchemy import delete
        from sqlmodel import Session, col

        from dockyard.store.models import AgentLease

        with Session(self.engine) as session:
            session.exec(delete(AgentLease).where(col(AgentLease.holder) == self.holder))
            session.commit()

    # -- runs -------------------------------------------------------------------------

    def mark_lost(self) -> list[int]:
        """Runs whose supervisor is gone: status ``lost`` (queued ones are kept)."""
        from sqlmodel import Session, col, select

        from dockyard.store.models import Run

        lost = []
        now = _now()
        with Session(self.engine) as session:
            active = session.exec(
                select(Run).where(col(Run.status).in_(("running", "cancelling")))
            ).all()
            for run in active:
                if run.id in self.children:
                    continue
                if run.host == self.host:
                    gone = run.pid is None or not pid_alive(run.pid)
                    if gone and run.pid is not None:
                        # what the supervisor started is in its process group (the
                        # supervisor led it); nothing may keep writing into a lost run.
                        # The pid is free, so the group can only hold those leftovers.
                        signal_group(run.pid, signal.SIGKILL)
                else:
                    beat = run.heartbeat_at or run.started_at or run.created_at
                    gone = now - beat > timedelta(seconds=SUPERVISOR_STALE_SECONDS)
                if gone and run.id is not None and claim_status(
                    session, run.id, run.status, "lost", ended_at=now,
                    error="its process vanished (agent or machine stopped); retry it",
                ):  # fmt: skip
                    lost.append(run.id)
            session.commit()
        return lost

    def running_count(self) -> int:
        from sqlalchemy import func
        from sqlmodel import Session, col, select

        from dockyard.store.models import Run

        with Session(self.engine) as session:
            statuses = ("running", "cancelling")
            count = session.exec(
                select(func.count()).select_from(Run).where(col(Run.status).in_(statuses))
            ).one()
            return int(count)

    def start_queued(self) -> list[int]:
        """Start queued runs, oldest first, up to the concurrency limit."""
        from sqlalchemy import update
        from sqlmodel import Session, col, select

        from dockyard.store.models import Run

        free = self.concurrency - self.running_count()
        if free <= 0:
            return []
        started = []
        with Session(self.engine) as session:
            queued = session.exec(
                select(Run).where(Run.status == "queued").order_by(col(Run.id)).limit(free)
            ).all()
            for run in queued:
                assert run.id is not None
                # cancelled in the meantime? then it is not ours to start
                if not claim_status(
                    session, run.id, "queued", "running", started_at=_now(), host=self.host
                ):
                    session.rollback()
                    continue
                session.commit()
                process = self.spawn(run.id)
                session.execute(update(Run).where(col(Run.id) == run.id).values(pid=process.pid))
                session.commit()
                started.append(run.id)
        return started

    def spawn(self, run_id: int) -> subprocess.Popen[bytes]:
        process = spawn_detached(
            self.workspace, ["dockyard.core.supervisor", str(run_id)], f"run-{run_id}.log"
        )
        self.children[run_id] = process
        return process

    def reap(self) -> None:
        for run_id, process in list(self.children.items()):
            code = process.poll()
            if code is not None:
                del self.children[run_id]
                if code != 0:
                    # the supervisor itself failed (not the run: its exit code is recorded
                    # by the supervisor); mark_lost will settle the run's status
                    print(f"supervisor of run {run_id} exited with {code}", file=sys.stderr)

    # -- loop -------------------------------------------------------------------------

    def serve(self, *, wait: bool = False, until_idle: bool = False) -> None:
        """Hold the lease and run the loop until SIGTERM/SIGINT (or idle, for tests)."""
        self.acquire(wait=wait)
        previous = {
            sig: signal.signal(sig, self._on_stop) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            self.mark_lost()
            if self.schedule_monitors:
                self.start_monitors()
            while not self.stopping:
                now = time.monotonic()
                if now - self._last_beat >= HEARTBEAT_SECONDS:
                    if not self.renew():
                        raise LeaseHeldError("this agent lost its lease to another; exiting")
                    self._last_beat = now
                    self.mark_lost()
                    self.sync_monitors()
                self.reap()
                self.start_queued()
                if until_idle and not self.children and not self._has_queued():
                    break
                time.sleep(POLL_SECONDS)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stop_monitors()
            self.release()

    # -- monitors ---------------------------------------------------------------------

    def start_monitors(self) -> None:
        """Start the monitors' scheduler (we hold the lease); runs a killed agent left
        half done are marked interrupted and their monitors run at once."""
        from dockyard.core.monitoring import mark_interrupted
        from dockyard.core.scheduling import start_scheduler, sync_jobs

        interrupted = set(mark_interrupted(self.workspace))
        self.scheduler = start_scheduler(self.workspace)
        print(f"agent {self.holder}: monitor scheduler started", file=sys.stderr, flush=True)
        if interrupted:
            sync_jobs(self.scheduler, self.workspace, run_now=interrupted)

    def sync_monitors(self) -> None:
        if self.scheduler is None:
            return
        from dockyard.core.scheduling import sync_jobs

        try:
            sync_jobs(self.scheduler, self.workspace)
        except Exception as exc:  # a bad row must not stop the agent's runs
            print(f"agent: monitor schedule not updated: {exc}", file=sys.stderr, flush=True)

    def stop_monitors(self) -> None:
        if self.scheduler is None:
            return
        from dockyard.core.scheduling import stop_scheduler

        stop_scheduler(self.scheduler)
        self.scheduler = None

    def _has_queued(self) -> bool:
        from sqlmodel import Session, select

        from dockyard.store.models import Run

        with Session(self.engine) as session:
            return session.exec(select(Run.id).where(Run.status == "queued")).first() is not None

    def _on_stop(self, _signum: int, _frame: object) -> None:
        self.stopping = True


def spawn_detached(
    workspace: Workspace, module_args: list[str], log_name: str
) -> subprocess.Popen[bytes]:
    """``python -m MODULE ARGS`` in a session of its own (no terminal, so no hang-up
    reaches it), output appended to ``logs/LOG_NAME``, with the workspace in its env."""
    workspace.logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DOCKYARD_HOME": str(workspace.home), "DOCKYARD_DB": workspace.db_url}
    with (workspace.logs / log_name).open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", *module_args],
            env=env,
            cwd=workspace.root,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )


def start_detached(workspace: Workspace) -> int:
    """Start ``dockyard agent`` in the background, detached from this terminal."""
    process = spawn_detached(workspace, ["dockyard.core.agent"], "agent.log")
    return process.pid


def ensure_agent(workspace: Workspace) -> bool:
    """Start a detached agent unless one is alive; True when one was started."""
    if agent_status(workspace).alive:
        return False
    start_detached(workspace)
    return True


def stop_agent(workspace: Workspace, timeout: float = 10.0) -> AgentStatus:
    """Ask the agent holding the lease to stop; runs keep going under their supervisors."""
    status = agent_status(workspace)
    if not status.alive or status.pid is None:
        raise DockyardError("no agent is running for this store")
    if status.host != socket.gethostname():
        raise DockyardError(f"the agent runs on {status.host}; stop it there")
    os.kill(status.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(status.pid):
        time.sleep(0.1)
    return status


def main() -> int:
    """``python -m dockyard.core.agent``: serve the workspace named by the environment, waiting for
    the lease if another agent holds it (the detached form the TUI and CLI start)."""
    from dockyard.core.workspace import find_workspace

    try:
        Agent(find_workspace()).serve(wait=True)
    except DockyardError as exc:
        print(f"dockyard agent: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
