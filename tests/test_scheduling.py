"""The monitors' APScheduler job store in the store's own database, in this process (the
agent processes that use it: tests/test_monitor_agent.py): the jobs and their next run
times survive a restart, and a row that is not a monitor job is refused, never run."""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.core.monitoring import add_monitor
from dockyard.core.projects import add_project
from dockyard.core.scheduling import JOB_FUNC, job_id, load_job_state, start_scheduler
from dockyard.core.scheduling import stop_scheduler as stop
from dockyard.core.workspace import Workspace
from tests.stores import execute, rows

pytestmark = pytest.mark.both_stores

PROJECT = '[project]\nname = "p"\nentry = "python train.py"\n'


@pytest.fixture
def monitored(workspace: Workspace, tmp_path: Path) -> Workspace:
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "dockyard.toml").write_text(PROJECT)
    add_project(workspace, folder)
    add_monitor(workspace, "p", {"name": "hourly", "kind": "drift", "schedule": "every 1h"})
    add_monitor(workspace, "p", {"name": "nightly", "kind": "drift", "schedule": "30 2 * * 1-5"})
    return workspace


@pytest.fixture
def scheduler(monitored: Workspace) -> Iterator[Any]:
    running = start_scheduler(monitored)
    yield running
    if running.running:
        stop(running)


def stored_jobs(ws: Workspace) -> dict[str, float | None]:
    return {str(i): t for i, t in rows(ws, "SELECT id, next_run_time FROM apscheduler_jobs")}


def test_jobs_live_in_the_store_and_survive_a_restart(monitored: Workspace, scheduler: Any) -> None:
    first = stored_jobs(monitored)
    assert set(first) == {job_id(1), job_id(2)} and all(first.values())
    stop(scheduler)
    again = start_scheduler(monitored)
    try:
        assert {j.id: j.next_run_time.timestamp() for j in again.get_jobs()} == first
    finally:
        stop(again)


class Evil:
    """Unpickled, runs a command: what a forged job store row would try."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def forge(genuine: dict[str, Any], ident: str, marker: Path) -> bytes:
    """A well-formed job state that names another function than the monitors' job."""
    return pickle.dumps({**genuine, "id": ident, "func": "os:system", "args": (f"touch {marker}",)})


def test_a_forged_job_is_removed_not_run(
    monitored: Workspace, scheduler: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    genuine = pickle.loads(rows(monitored, "SELECT job_state FROM apscheduler_jobs")[0][0])
    assert load_job_state(pickle.dumps(genuine))["func"] == JOB_FUNC
    stop(scheduler)
    # a pickle that runs a command when loaded, and a well-formed job naming another
    # function: both are refused
    forged = {
        "forged-1": pickle.dumps(Evil(marker)),
        "forged-2": forge(genuine, "forged-2", marker),
        job_id(7): forge(genuine, job_id(7), marker),
    }
    for ident, state in forged.items():
        execute(
            monitored,
            ("INSERT INTO apscheduler_jobs (id, next_run_time, job_state) VALUES (?, ?, ?)",
             (ident, 0.0, state)),
        )  # fmt: skip
        with pytest.raises((ValueError, pickle.UnpicklingError)):
            load_job_state(state)
    again = start_scheduler(monitored)
    try:
        assert {j.id for j in again.get_jobs()} == {job_id(1), job_id(2)}
    finally:
        stop(again)
    assert set(stored_jobs(monitored)) == {job_id(1), job_id(2)}
    assert not marker.exists()
