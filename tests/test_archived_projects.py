"""An archived project is retired (core.housekeeping, core.runs, the agent, the monitors'
schedule): no run is queued in it, archiving it cancels its queued runs and is refused while
one runs, the agent never starts its runs, its monitors do not run; restored, it works
again. On SQLite and PostgreSQL, with real agents, supervisors and a real APScheduler."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from dockyard.core import housekeeping
from dockyard.core import runs as core_runs
from dockyard.core.agent import Agent
from dockyard.core.audit import check_chain
from dockyard.core.housekeeping import DeleteRefusedError
from dockyard.core.monitoring import list_monitors
from dockyard.core.overview import Pane, load_pane
from dockyard.core.projects import (
    ProjectArchivedError,
    add_project,
    hold_live_project,
    list_projects,
)
from dockyard.core.runs import claim_status, in_live_project, queue_runs, retry_run
from dockyard.core.scheduling import job_id, start_scheduler, stop_scheduler, sync_jobs
from dockyard.core.workspace import (
    Workspace,
    acting_user,
    engine_for,
    open_writer,
    reader_for,
)
from tests.test_cli import dockyard, one_line_error

pytestmark = pytest.mark.both_stores

TOML = """
[project]
name = "toy"
entry = "python train.py"

[params.n]
type = "int"
default = 2
min = 1

[[monitors]]
name = "tick"
kind = "quality"
schedule = "every 1s"
"""

TRAIN = 'print("trained")\n'

REFUSED = (
    "project toy is archived, so it takes no new runs; restore it first: "
    "`dockyard project restore toy`"
)


@pytest.fixture
def toy(workspace: Workspace, tmp_path: Path) -> Workspace:
    folder = tmp_path / "toy"
    folder.mkdir()
    (folder / "dockyard.toml").write_text(TOML)
    (folder / "train.py").write_text(TRAIN)
    add_project(workspace, folder)
    return workspace


def query(ws: Workspace, sql: str, **params: Any) -> list[dict[str, Any]]:
    return reader_for(ws).fetch_all(sql, params)


def execute(ws: Workspace, sql: str, **params: Any) -> None:
    with closing(open_writer(ws)) as writer, writer.transaction() as tx:
        tx.execute(sql, params)


def statuses(ws: Workspace) -> dict[int, str]:
    return {int(r["id"]): r["status"] for r in query(ws, "SELECT id, status FROM run")}


def checks_count(ws: Workspace) -> int:
    return int(query(ws, "SELECT checks_count FROM monitor WHERE name = 'tick'")[0]["checks_count"])


def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def serve_until_idle(agent: Agent, timeout: float = 30.0) -> None:
    """``agent.serve(until_idle=True)``, stopped (and failed) if it is not idle in time: an
    agent that waits for a run it may never start would otherwise hang the suite."""
    idle = threading.Event()
    late: list[bool] = []

    def watchdog() -> None:
        if not idle.wait(timeout):
            late.append(True)
            agent.stopping = True

    watching = threading.Thread(target=watchdog)
    watching.start()
    try:
        agent.serve(until_idle=True)  # in this thread: it installs signal handlers
    finally:
        idle.set()
        watching.join()
    assert not late, f"the agent was not idle after {timeout} s"


def test_an_archived_project_takes_no_run_until_it_is_restored(toy: Workspace) -> None:
    (first,) = queue_runs(toy, "toy")
    execute(toy, "UPDATE run SET status = 'finished' WHERE id = :id", id=first.id)
    outcome = housekeeping.archive(toy, "project", "toy")
    assert outcome.message == "Archived project toy" and outcome.cancelled_runs == ()
    attempts: list[Callable[[], object]] = [
        lambda: queue_runs(toy, "toy"),
        lambda: queue_runs(toy, "toy", ["n=1,2,3"]),  # a sweep
        lambda: queue_runs(toy, from_run=first.id),  # a clone
        lambda: retry_run(toy, first.id),
    ]
    for attempt in attempts:
        with pytest.raises(ProjectArchivedError, match=re.escape(REFUSED)) as caught:
            attempt()
        assert caught.value.exit_code == 2
    assert statuses(toy) == {first.id: "finished"}

    assert housekeeping.restore(toy, "project", "toy").message == "Restored project toy"
    (again,) = queue_runs(toy, "toy")
    assert again.status == "queued"
    assert retry_run(toy, first.id).status == "queued"


def test_archiving_cancels_the_queued_runs_and_the_agent_starts_none(toy: Workspace) -> None:
    sweep = [run.id for run in queue_runs(toy, "toy", ["n=1,2"])]
    outcome = housekeeping.archive(toy, "project", "toy")
    assert outcome.cancelled_runs == tuple(sweep)
    assert outcome.message == (
        f"Archived project toy; cancelled its queued runs {sweep[0]} and {sweep[1]}"
    )
    assert outcome.to_dict() == {
        "action": "archive", "target": "project toy", "changed": True, "cancelled_runs": sweep,
    }  # fmt: skip
    rows = query(toy, "SELECT status, error, started_at, ended_at FROM run ORDER BY id")
    why = f"cancelled before it started: project toy was archived by {acting_user(toy)}"
    assert [(r["status"], r["error"]) for r in rows] == [("cancelled", why)] * 2
    assert all(r["ended_at"] is not None for r in rows)
    # stored as every other time is (SQLite keeps text: "+00:00" would compare wrongly)
    (project,) = query(toy, "SELECT archived_at FROM project")
    for stored in [r["ended_at"] for r in rows] + [project["archived_at"]]:
        assert not isinstance(stored, str) or "+" not in stored, stored
    (event,) = query(toy, "SELECT details_json FROM audit_event WHERE action = 'project.archive'")
    assert json.loads(event["details_json"])["cancelled_runs"] == sweep
    assert check_chain(toy).ok

    serve_until_idle(Agent(toy, concurrency=2))
    rows = query(toy, "SELECT status, started_at FROM run ORDER BY id")
    assert [(r["status"], r["started_at"]) for r in rows] == [("cancelled", None)] * 2
    # restoring brings the project back, not the cancelled runs
    housekeeping.restore(toy, "project", "toy")
    assert set(statuses(toy).values()) == {"cancelled"}


def test_archiving_is_refused_while_a_run_of_the_project_runs(toy: Workspace) -> None:
    running, queued = (queue_runs(toy, "toy")[0].id for _ in range(2))
    execute(toy, "UPDATE run SET status = 'running' WHERE id = :id", id=running)
    reason = (
        f"project toy has run {running} running; wait for it to end or cancel it "
        f"(`dockyard run cancel {running}`) first"
    )
    assert housekeeping.blockers(toy, "project", "toy", "archive") == [reason]
    with pytest.raises(DeleteRefusedError, match=r"^cannot archive project toy: ") as caught:
        housekeeping.archive(toy, "project", "toy")
    assert str(caught.value).endswith(reason) and caught.value.exit_code == 1
    # nothing changed: the queued run waits, the project is not archived
    assert statuses(toy) == {running: "running", queued: "queued"}
    assert [p.name for p in list_projects(toy)] == ["toy"]


def test_the_agent_never_starts_a_queued_run_of_an_archived_project(toy: Workspace) -> None:
    (run,) = queue_runs(toy, "toy")
    # archived without cancelling (an archive that landed between the agent's read and
    # its claim, or a store archived by an older Dockyard)
    execute(toy, "UPDATE project SET archived_at = CURRENT_TIMESTAMP WHERE name = 'toy'")
    agent = Agent(toy, concurrency=1)
    assert agent.start_queued() == []
    from sqlmodel import Session

    with Session(engine_for(toy)) as session:  # the claim itself refuses it
        assert not claim_status(session, run.id, "queued", "running", also=[in_live_project()])
        session.rollback()
    serve_until_idle(agent, 10)  # nothing it may start: it is idle at once
    assert statuses(toy) == {run.id: "queued"}

    housekeeping.restore(toy, "project", "toy")
    serve_until_idle(Agent(toy, concurrency=1))
    (done,) = query(toy, "SELECT status, log_path FROM run")
    assert done["status"] == "finished", Path(done["log_path"]).read_text()


def test_an_archive_under_way_refuses_a_run_start_that_waits_for_it(
    toy: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run start's check is in the transaction that inserts the run: it waits for an
    archive in progress (the row lock on PostgreSQL, the write lock on SQLite), then refuses.
    """
    inside, go = threading.Event(), threading.Event()
    retire = housekeeping._retire_project

    def slow_retire(*args: Any) -> tuple[int, ...]:
        done = retire(*args)
        inside.set()
        go.wait(10)
        return done

    monkeypatch.setattr(housekeeping, "_retire_project", slow_retire)
    archiving = threading.Thread(target=housekeeping.archive, args=(toy, "project", "toy"))
    archiving.start()
    assert inside.wait(10)
    errors: list[Exception] = []

    def start() -> None:
        try:
            queue_runs(toy, "toy")
        except Exception as exc:
            errors.append(exc)

    starting = threading.Thread(target=start)
    starting.start()
    starting.join(0.5)
    assert starting.is_alive()  # it waits for the archive to end
    go.set()
    archiving.join(10)
    starting.join(10)
    assert len(errors) == 1 and isinstance(errors[0], ProjectArchivedError), errors
    assert statuses(toy) == {}


def test_a_run_start_under_way_is_cancelled_by_the_archive_that_waits_for_it(
    toy: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    inside, go = threading.Event(), threading.Event()
    hold = hold_live_project

    def slow_hold(*args: Any) -> None:
        hold(*args)
        inside.set()
        go.wait(10)

    monkeypatch.setattr(core_runs, "hold_live_project", slow_hold)  # as core.runs calls it
    queued: list[int] = []
    starting = threading.Thread(target=lambda: queued.extend(r.id for r in queue_runs(toy, "toy")))
    starting.start()
    assert inside.wait(10)
    outcomes: list[housekeeping.Outcome] = []
    archiving = threading.Thread(
        target=lambda: outcomes.append(housekeeping.archive(toy, "project", "toy"))
    )
    archiving.start()
    archiving.join(0.5)
    assert archiving.is_alive()  # it waits for the run start to end
    go.set()
    starting.join(10)
    archiving.join(10)
    assert len(queued) == 1 and outcomes[0].cancelled_runs == tuple(queued)
    assert statuses(toy) == {queued[0]: "cancelled"}


def test_an_archived_projects_monitors_rest_in_the_scheduler_until_restored(
    toy: Workspace,
) -> None:
    housekeeping.archive(toy, "project", "toy")
    (tick,) = list_monitors(toy)
    assert tick.project_archived and tick.state == "project archived"
    assert tick.to_dict()["project_archived"] is True
    (row,) = [r for r in load_pane(reader_for(toy), Pane.MONITORING).rows]
    assert getattr(row, "paused", None) is True and getattr(row, "next_run", "") == "paused"
    with pytest.raises(ProjectArchivedError, match="so its monitors do not run"):
        from dockyard.core.monitoring import run_monitor

        run_monitor(toy, "toy/tick")
    assert checks_count(toy) == 0

    scheduler = start_scheduler(toy)
    try:
        assert scheduler.get_job(job_id(tick.id)).next_run_time is None  # paused
        time.sleep(1.2)  # past its scheduled time
        assert checks_count(toy) == 0

        housekeeping.restore(toy, "project", "toy")
        sync_jobs(scheduler, toy)  # the agent's next heartbeat
        assert scheduler.get_job(job_id(tick.id)).next_run_time is not None
        wait_for(lambda: checks_count(toy) >= 1)
        assert not list_monitors(toy)[0].project_archived

        # archived again, and the job fires before the next heartbeat: it is skipped
        housekeeping.archive(toy, "project", "toy")
        time.sleep(0.3)  # a check under way when the archive landed ends
        ran = checks_count(toy)
        time.sleep(1.2)
        assert checks_count(toy) == ran
        assert scheduler.get_job(job_id(tick.id)).next_run_time is not None  # not synced yet
    finally:
        stop_scheduler(scheduler)


@pytest.mark.slow
@pytest.mark.sqlite_only("the command line's store is the same core call on both")
def test_the_command_line_refuses_and_reports_in_one_line(toy: Workspace) -> None:
    root = toy.root
    started = dockyard("run", "start", "toy", "--no-agent", cwd=root)
    assert started.returncode == 0, started.stderr
    archived = dockyard("project", "archive", "toy", "--json", cwd=root)
    assert archived.returncode == 0, archived.stderr
    assert json.loads(archived.stdout) == [
        {"action": "archive", "target": "project toy", "changed": True, "cancelled_runs": [1]}
    ]
    refused = dockyard("run", "start", "toy", "--no-agent", cwd=root)
    assert refused.returncode == 2
    assert one_line_error(refused) == f"dockyard: error: {REFUSED}"
    assert statuses(toy) == {1: "cancelled"}
    listed = dockyard("monitor", "list", cwd=root)
    assert "every 1s (project archived)" in listed.stdout
    checked = dockyard("monitor", "run", "toy/tick", cwd=root)
    assert checked.returncode == 2 and "so its monitors do not run" in one_line_error(checked)

    restored = dockyard("project", "restore", "toy", cwd=root)
    assert restored.stdout == "Restored project toy\n"
    again = dockyard("run", "start", "toy", "--no-agent", cwd=root)
    assert again.returncode == 0 and again.stdout.startswith("Queued run 2 of toy")


def test_adding_an_archived_projects_folder_again_updates_it_and_says_it_stays_archived(
    toy: Workspace, tmp_path: Path
) -> None:
    housekeeping.archive(toy, "project", "toy")
    folder = tmp_path / "toy"
    (folder / "dockyard.toml").write_text(TOML.replace("default = 2", "default = 5"))
    added = dockyard("project", "add", str(folder), cwd=toy.root)
    assert added.returncode == 0, added.stderr
    assert added.stdout == f"Registered project toy from {folder.resolve()}\n"
    assert added.stderr == (
        "dockyard: warning: project toy is archived: its definition is updated, but it takes "
        "no new runs until `dockyard project restore toy`\n"
    )
    (info,) = list_projects(toy, archived="only")
    assert info.spec.params[0].default == 5 and info.archived_at is not None
    as_json = dockyard("project", "add", str(folder), "--json", cwd=toy.root)
    assert json.loads(as_json.stdout)["warnings"] == [added.stderr[len("dockyard: warning: ") : -1]]
    housekeeping.restore(toy, "project", "toy")
    again = dockyard("project", "add", str(folder), cwd=toy.root)
    assert again.returncode == 0 and again.stderr == ""
