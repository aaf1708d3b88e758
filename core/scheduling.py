"""The monitors' schedule: APScheduler 3.x inside the agent that holds the lease.

Only the lease holder calls :func:`start_scheduler`; a second agent never acquires the
lease, so it never starts one, and APScheduler never runs in two processes on one store.
The jobs live in the store's own database (``SQLAlchemyJobStore`` on the workspace's
engine, table ``apscheduler_jobs``), one per monitor with the fixed id ``monitor-ID``.
Coalescing turns several missed times (the machine slept, the clock jumped, the agent was
down) into one run, and there is no misfire limit, so a restart never silently skips a
run. The job function is module-level and takes only the monitor's id: the job store
pickles the job, and nothing else may be in it.

The job store is read back with an allow-list (:func:`load_job_state`), never a plain
``pickle.loads``: on a team store anyone who can write the table could otherwise make the
lease holder's machine run code of their choosing. A row that is not a monitor job of
this module is logged and removed, and the next heartbeat writes the monitor's job again.
"""

from __future__ import annotations

import importlib
import io
import pickle
import re
import sys
from datetime import UTC, datetime
from typing import Any

from dockyard.core.workspace import Workspace

JOB_PREFIX = "monitor-"
#: the one function a stored job may name (APScheduler keeps it as this text reference)
JOB_FUNC = "dockyard.core.scheduling:run_scheduled"
#: what a stored job's pickle may name: the triggers ``trigger_for`` makes and their times
_STATE_GLOBALS = {
    "datetime": frozenset({"datetime", "timedelta", "timezone"}),
    "apscheduler.triggers.interval": frozenset({"IntervalTrigger"}),
    "apscheduler.triggers.cron": frozenset({"CronTrigger"}),
}
#: modules any of whose own classes a cron trigger's state may hold (fields, expressions)
_STATE_MODULES = frozenset(
    {"apscheduler.triggers.cron.fields", "apscheduler.triggers.cron.expressions"}
)
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")

#: the workspace the jobs of this process run against (set by start_scheduler)
_workspace: Workspace | None = None


def job_id(monitor_id: int) -> str:
    return f"{JOB_PREFIX}{monitor_id}"


def trigger_for(schedule: str) -> Any:
    """The APScheduler trigger of ``every N s|m|h|d`` or a 5-field cron expression."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    from dockyard.core.projects import check_schedule

    seconds = check_schedule(schedule)
    if seconds is not None:
        return IntervalTrigger(seconds=seconds, timezone=UTC)
    minute, hour, day, month, dow = schedule.split()
    # crontab counts days of the week from Sunday = 0 (and 7), APScheduler 3 from Monday:
    # names mean the same to both
    dow = re.sub(r"\d+", lambda m: _DAY_NAMES[int(m.group())], dow)
    return CronTrigger(
        minute=minute, hour=hour, day=day, month=month, day_of_week=dow, timezone=UTC
    )


def run_scheduled(monitor_id: int) -> None:
    """The job: run one monitor; a failure is printed to the agent's log, never raised
    (the schedule goes on). A monitor whose project was archived since the last
    :func:`sync_jobs` is skipped (``run_monitor`` refuses it)."""
    from dockyard.core.monitoring import run_monitor
    from dockyard.core.projects import ProjectArchivedError

    if _workspace is None:  # pragma: no cover (only the agent schedules)
        return
    try:
        results = run_monitor(_workspace, monitor_id)
    except ProjectArchivedError as exc:
        print(f"monitor {monitor_id}: skipped: {exc}", file=sys.stderr)
        return
    except Exception as exc:
        print(f"monitor {monitor_id}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return
    for result in results:
        print(
            f"monitor {monitor_id}: {result.batch_path}: {result.status} {result.summary}",
            file=sys.stderr,
        )


class _JobStateUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if name in _STATE_GLOBALS.get(module, ()):
            return super().find_class(module, name)
        if module in _STATE_MODULES:
            found = getattr(importlib.import_module(module), name, None)
            if isinstance(found, type) and found.__module__ == module:
                return found
        raise pickle.UnpicklingError(f"a monitor job may not hold {module}.{name}")


def load_job_state(data: bytes) -> dict[str, Any]:
    """The state of a monitor job as the job store holds it, refusing (ValueError or
    UnpicklingError) anything but a job :func:`sync_jobs` writes: ``run_scheduled`` of one
    monitor id on an interval or cron trigger."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    state = _JobStateUnpickler(io.BytesIO(data)).load()
    if not isinstance(state, dict):
        raise ValueError("a stored monitor job is not a job's state")
    ident, args = state.get("id"), state.get("args")
    if (
        state.get("func") != JOB_FUNC
        or not isinstance(ident, str)
        or re.fullmatch(rf"{JOB_PREFIX}\d+", ident) is None
        or not isinstance(args, tuple | list)
        or [type(arg) for arg in args] != [int]
        or ident != job_id(args[0])
        or state.get("kwargs")
        or not isinstance(state.get("trigger"), IntervalTrigger | CronTrigger)
    ):
        raise ValueError(f"stored job {ident!r} is not a monitor job of this Dockyard")
    return state


def _job_store(workspace: Workspace) -> Any:
    """APScheduler's SQLAlchemy job store on the workspace's engine (table
    ``apscheduler_jobs``), reading jobs back through :func:`load_job_state`."""
    from apscheduler.job import Job
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    from dockyard.core.workspace import engine_for

    class MonitorJobStore(SQLAlchemyJobStore):  # type: ignore[misc]
        def _reconstitute_job(self, job_state: bytes) -> Job:
            state = load_job_state(job_state)
            state["jobstore"] = self
            job = Job.__new__(Job)
            job.__setstate__(state)
            job._scheduler = self._scheduler
            job._jobstore_alias = self._alias
            return job

    return MonitorJobStore(engine=engine_for(workspace))


def start_scheduler(workspace: Workspace, run_now: set[int] | None = None) -> Any:
    """A running BackgroundScheduler whose jobs are the workspace's monitors; ``run_now``
    as for :func:`sync_jobs`."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    global _workspace
    _workspace = workspace
    scheduler = BackgroundScheduler(
        jobstores={"default": _job_store(workspace)},
        executors={"default": ThreadPoolExecutor(max_workers=2)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=UTC,
    )
    # paused until the jobs match the monitors: a job overdue in the store and asked to
    # run now as well runs once, not once for each
    scheduler.start(paused=True)
    sync_jobs(scheduler, workspace, run_now)
    scheduler.resume()
    return scheduler


def sync_jobs(scheduler: Any, workspace: Workspace, run_now: set[int] | None = None) -> None:
    """Make the jobs match the monitor table: one per enabled monitor, paused when the
    monitor is or its project is archived. A job is replaced only when its schedule
    changed, so its next run time (and a run missed while the agent was down) survives a
    restart. ``run_now``: monitors to run at once (their batch was interrupted)."""
    from sqlmodel import Session, col, select

    from dockyard.core.workspace import engine_for
    from dockyard.store.models import Monitor, Project

    with Session(engine_for(workspace)) as session:
        rows = session.exec(
            select(Monitor, col(Project.archived_at).is_not(None))
            .join(Project, col(Project.id) == col(Monitor.project_id))
            .where(Monitor.enabled == True)  # noqa: E712
        ).all()
    wanted = {job_id(m.id): m for m, _archived in rows if m.id is not None}
    # a retired project's monitors wait, paused, until it is restored
    resting = {m.id for m, archived in rows if m.paused or archived}
    for job in scheduler.get_jobs():
        if job.id.startswith(JOB_PREFIX) and job.id not in wanted:
            scheduler.remove_job(job.id)
    now = datetime.now(UTC)
    for ident, monitor in wanted.items():
        job = scheduler.get_job(ident)
        if job is None or job.name != monitor.schedule:
            scheduler.add_job(
                run_scheduled,
                trigger_for(monitor.schedule),
                args=[monitor.id],
                id=ident,
                name=monitor.schedule,
                replace_existing=True,
            )
            job = scheduler.get_job(ident)
        paused = monitor.id in resting
        if paused and job.next_run_time is not None:
            scheduler.pause_job(ident)
        elif not paused and job.next_run_time is None:
            scheduler.resume_job(ident)
        if run_now and monitor.id in run_now and not paused:
            scheduler.modify_job(ident, next_run_time=now)


def stop_scheduler(scheduler: Any) -> None:
    """Stop scheduling; a monitor run under way finishes first."""
    global _workspace
    try:
        scheduler.shutdown(wait=True)
    finally:
        _workspace = None
