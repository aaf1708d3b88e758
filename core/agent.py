"""The agent: the one long-lived process that executes queued runs for a store.

Exactly one agent serves a store: it holds the ``agent_lease`` row and renews its heartbeat;
another agent finds the lease fresh and exits (or waits, with ``wait=True``). Each queued run
is handed to a supervisor process (``core.supervisor``) in a session of its own, so the
runs survive the agent. When an agent starts it marks as ``lost`` every running run whose
supervisor is gone, and leaves the live ones to finish by themselves.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from dockyard.core.errors import DockyardError
from dockyard.core.executors import Ended, Executor, Launch, LocalExecutor, spawn_detached
from dockyard.core.runs import claim_status, in_live_project, signal_group
from dockyard.core.workspace import Workspace, engine_for, host_name, reader_for

if TYPE_CHECKING:
    from sqlalchemy import Engine

LEASE_SECONDS = 15.0
HEARTBEAT_SECONDS = 3.0
POLL_SECONDS = 0.5
#: A supervisor silent for this long on another host is presumed gone.
SUPERVISOR_STALE_SECONDS = 60.0


class LeaseHeldError(DockyardError):
    """Another agent serves this store."""


class ExecutorBrokenError(DockyardError):
    """The executor can start nothing more (a Dask scheduler that went away)."""


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
    if host != host_name() or pid is None:
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
    def __init__(
        self,
        workspace: Workspace,
        concurrency: int | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.workspace = workspace
        self.engine: Engine = engine_for(workspace)
        self.executor: Executor = executor or LocalExecutor(workspace)
        #: None: as many as the executor has slots (a Dask cluster's change as workers come)
        self.fixed_concurrency = concurrency
        self.concurrency = concurrency or self.executor.slots()
        self.host = host_name()
        self.pid = os.getpid()
        self.holder = f"{self.host}:{self.pid}"
        self.stopping = False
        self._last_beat = 0.0
        #: the monitors' APScheduler, only while this agent holds the lease
        self.scheduler: Any = None
        self.schedule_monitors = True
        #: the holder (``host:pid``) whose expired or dead lease this agent took, if any
        self.took_over_from: str | None = None

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
            former = None if current is None or current.holder == self.holder else current.holder
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
                if former is not None:
                    self.took_over_from = former
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

        lost: list[tuple[int, str]] = []
        now = _now()
        with Session(self.engine) as session:
            active = session.exec(
                select(Run).where(col(Run.status).in_(("running", "cancelling")))
            ).all()
            in_flight = self.executor.in_flight()
            for run in active:
                if run.id in in_flight:
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
                    lost.append((run.id, run.status))
            session.commit()
        for run_id, was in lost:
            if was == "running":  # a run being cancelled is not run again
                self.requeue_if_asked(run_id)
        return [run_id for run_id, _was in lost]

    def requeue_if_asked(self, run_id: int) -> int | None:
        """Queue a lost run again when its project says ``[runs] requeue_lost = true``."""
        from dockyard.core.runs import requeue_lost_run

        try:
            again = requeue_lost_run(self.workspace, run_id)
        except DockyardError as exc:  # e.g. its dataset version is gone: say why, go on
            print(f"agent: run {run_id} not requeued: {exc}", file=sys.stderr, flush=True)
            return None
        if again is not None:
            print(f"agent: run {run_id} was lost; requeued as run {again}", file=sys.stderr)
        return again

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
        """Start queued runs, oldest first, up to the concurrency limit; an archived
        project's runs are left queued (archiving cancels them; this closes the race)."""
        from sqlalchemy import update
        from sqlmodel import Session, col, select

        from dockyard.store.models import Run

        free = self.concurrency - self.running_count()
        if free <= 0:
            return []
        started = []
        with Session(self.engine) as session:
            live = in_live_project()
            queued = session.exec(
                select(Run).where(Run.status == "queued", live).order_by(col(Run.id)).limit(free)
            ).all()
            for run in queued:
                assert run.id is not None
                host = self.executor.pending_host or self.host
                # cancelled, or its project archived, in the meantime? then not ours to start
                if not claim_status(
                    session, run.id, "queued", "running", also=[live],
                    started_at=_now(), host=host,
                ):  # fmt: skip
                    session.rollback()
                    continue
                launch = self._launch(session, run)
                env = json.loads(run.env_json or "{}")
                env["executor"] = self.executor.record(launch)
                session.execute(
                    update(Run).where(col(Run.id) == run.id).values(env_json=json.dumps(env))
                )
                session.commit()
                try:
                    pid = self.executor.start(launch)
                except DockyardError as exc:
                    self.settle(Ended(run.id, "failed", str(exc)))
                    continue
                if pid is not None:
                    session.execute(update(Run).where(col(Run.id) == run.id).values(pid=pid))
                    session.commit()
                started.append(run.id)
        return started

    def _launch(self, session: Any, run: Any) -> Launch:
        from dockyard.core.projects import ProjectSpec
        from dockyard.store.models import Project

        project = session.get(Project, run.project_id)
        spec = ProjectSpec.from_json(project.spec_json)
        env = json.loads(run.env_json or "{}")
        return Launch(
            run_id=run.id,
            project=project.name,
            project_path=project.path,
            data_paths=dict(env.get("data_paths", {})),
            resources=spec.resources,
        )

    def settle(self, ended: Ended) -> bool:
        """Record the outcome of a run whose supervisor could not (a worker that cannot
        see the workspace, a dead worker, a scheduler gone): the status, the reason, and
        the reason in the run's log; a lost run is requeued when its project asks."""
        from sqlalchemy import update
        from sqlmodel import Session, col

        from dockyard.store.models import Run

        log = self.workspace.logs / f"run-{ended.run_id}.log"
        with Session(self.engine) as session:
            run = session.get(Run, ended.run_id)
            was = run.status if run is not None else None
            if not claim_status(
                session, ended.run_id, ("running", "cancelling"), ended.status,
                error=ended.error[:500], ended_at=_now(),
            ):  # fmt: skip
                session.rollback()  # its supervisor (or a user's cancel) was first
                return False
            session.execute(
                update(Run)
                .where(col(Run.id) == ended.run_id, col(Run.log_path).is_(None))
                .values(log_path=str(log))
            )
            session.commit()
        with contextlib.suppress(OSError):
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("a", encoding="utf-8") as handle:
                handle.write(f"dockyard: run {ended.status}: {ended.error}\n")
        print(f"agent: run {ended.run_id} {ended.status}: {ended.error}", file=sys.stderr)
        if ended.status == "lost" and was == "running":
            self.requeue_if_asked(ended.run_id)
        return True

    def withdraw_cancelled(self) -> None:
        """Runs cancelled while they waited for a worker: cancelled now, never started."""
        from sqlmodel import Session, col, select

        from dockyard.store.models import Run

        pending = self.executor.pending_host
        in_flight = self.executor.in_flight()
        if pending is None or not in_flight:
            return
        with Session(self.engine) as session:
            waiting = session.exec(
                select(Run.id).where(
                    col(Run.id).in_(in_flight),
                    col(Run.status) == "cancelling",
                    col(Run.host) == pending,
                )
            ).all()
            for run_id in waiting:
                assert run_id is not None
                if claim_status(
                    session, run_id, "cancelling", "cancelled", ended_at=_now(),
                    error="cancelled before a worker took it",
                ):  # fmt: skip
                    session.commit()
                    self.executor.withdraw(run_id)

    def requeue_unstarted(self) -> None:
        """Runs handed to the executor that no worker took yet go back to the queue (the
        agent is stopping and lets go of them; a task that starts now finds them queued
        and does not start)."""
        from sqlalchemy import update
        from sqlmodel import Session, col

        from dockyard.store.models import Run

        pending = self.executor.pending_host
        in_flight = self.executor.in_flight()
        if pending is None or not in_flight:
            return
        with Session(self.engine) as session:
            session.execute(
                update(Run)
                .where(
                    col(Run.id).in_(in_flight),
                    col(Run.status) == "running",
                    col(Run.host) == pending,
                )
                .values(status="queued", started_at=None, host=None)
            )
            session.commit()

    def reap(self) -> None:
        for ended in self.executor.poll():
            self.settle(ended)
        self.withdraw_cancelled()
        problem = self.executor.broken()
        if problem is not None:
            raise ExecutorBrokenError(f"{problem}; queued runs wait for the next agent")

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
                    if self.fixed_concurrency is None:
                        self.concurrency = self.executor.slots()
                    self.mark_lost()
                    self.sync_monitors()
                self.reap()
                self.start_queued()
                if until_idle and not self.executor.in_flight() and not self._has_queued():
                    break
                time.sleep(POLL_SECONDS)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stop_monitors()
            try:
                self.requeue_unstarted()
            finally:
                self.executor.close()
                self.release()

    # -- monitors ---------------------------------------------------------------------

    def start_monitors(self) -> None:
        """Start the monitors' scheduler (we hold the lease); runs a killed agent left
        half done are marked interrupted and their monitors run at once."""
        from dockyard.core.monitoring import mark_interrupted
        from dockyard.core.scheduling import start_scheduler

        # the monitor runs of an agent whose lease we took are over whatever its host:
        # it stops at its next heartbeat (if it still runs at all), and its scheduler
        # ran in its own process, named like its lease (host:pid)
        gone = () if self.took_over_from is None else (self.took_over_from,)
        interrupted = set(mark_interrupted(self.workspace, gone_runners=gone))
        self.scheduler = start_scheduler(self.workspace, run_now=interrupted)
        print(f"agent {self.holder}: monitor scheduler started", file=sys.stderr, flush=True)

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
            queued = select(Run.id).where(Run.status == "queued", in_live_project())
            return session.exec(queued).first() is not None

    def _on_stop(self, _signum: int, _frame: object) -> None:
        self.stopping = True


def start_detached(workspace: Workspace, args: list[str] | None = None) -> int:
    """Start ``dockyard agent`` in the background, detached from this terminal; ``args``
    (``--executor dask --scheduler ADDR``) override the workspace's settings."""
    process = spawn_detached(workspace, ["dockyard.core.agent", *(args or [])], "agent.log")
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
    if status.host != host_name():
        raise DockyardError(f"the agent runs on {status.host}; stop it there")
    os.kill(status.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(status.pid):
        time.sleep(0.1)
    return status


def main(argv: list[str] | None = None) -> int:
    """``python -m dockyard.core.agent [--executor NAME] [--scheduler ADDR]``: serve the
    workspace named by the environment, waiting for the lease if another agent holds it
    (the detached form the TUI and CLI start). The executor is the workspace's setting
    (``.dockyard/settings.toml``) unless given."""
    import argparse

    from dockyard.core.executors import make_executor, read_agent_settings
    from dockyard.core.workspace import find_workspace

    parser = argparse.ArgumentParser(prog="python -m dockyard.core.agent")
    parser.add_argument("--executor")
    parser.add_argument("--scheduler")
    args = parser.parse_args(argv)
    try:
        workspace = find_workspace()
        settings = read_agent_settings(workspace, args.executor, args.scheduler)
        executor = make_executor(workspace, settings)
        Agent(workspace, settings.concurrency, executor).serve(wait=True)
    except DockyardError as exc:
        print(f"dockyard agent: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
