"""The monitors' schedule with real agent processes and a real APScheduler: a SIGKILL
mid-run, two agents on one store, a sleeping machine (time driven by short intervals), and
two "machines" (host names) sharing a PostgreSQL store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from dockyard.core.monitoring import add_monitor, set_paused
from dockyard.core.projects import add_project
from dockyard.core.workspace import Workspace
from tests.monitor_fixtures import copy_workspace
from tests.stores import rows
from tests.test_cli import dockyard


@pytest.fixture
def ws(
    deployed_samples: Path, tmp_path: Path, store_backend: str, request: pytest.FixtureRequest
) -> Workspace:
    ws = copy_workspace(deployed_samples, tmp_path / "ws", request)
    add_monitor(ws, "wine", {"name": "fast", "kind": "drift", "schedule": "every 1s"})
    return ws


@pytest.fixture
def agents(ws: Workspace) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(log: str, **env: str) -> subprocess.Popen[bytes]:
        full = {**os.environ, "DOCKYARD_HOME": str(ws.home), "DOCKYARD_MONITOR_SETTLE": "0",
                "PYTHONPATH": str(Path(__file__).resolve().parents[1] / ".pkg"),
                **env}  # fmt: skip
        with (ws.root / log).open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "dockyard.core.agent"], env=full, stdout=out, stderr=out,
                start_new_session=True,
            )  # fmt: skip
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def query(ws: Workspace, sql: str, *args: object) -> list[tuple[object, ...]]:
    return rows(ws, sql, *args)


def fast_results(ws: Workspace) -> list[tuple[object, ...]]:
    return query(
        ws,
        "SELECT r.status, r.batch_hash FROM monitor_result r JOIN monitor m ON m.id = "
        "r.monitor_id WHERE m.name = 'fast' ORDER BY r.id",
    )


def wait_for(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def checks_count(ws: Workspace, name: str = "fast") -> int:
    count: Any = query(ws, "SELECT checks_count FROM monitor WHERE name = ?", name)[0][0]
    return int(count)


def jobs(ws: Workspace) -> dict[str, float | None]:
    """The scheduler's jobs as its job store holds them: id -> next run time (epoch)."""
    rows = query(ws, "SELECT id, next_run_time FROM apscheduler_jobs")
    return {str(i): None if t is None else float(t) for i, t in rows}  # type: ignore[arg-type]


def job_of(ws: Workspace, name: str) -> str:
    return f"monitor-{query(ws, 'SELECT id FROM monitor WHERE name = ?', name)[0][0]}"


def test_sigkill_mid_run_is_interrupted_then_checked_once(ws: Workspace, agents) -> None:  # type: ignore[no-untyped-def]
    first = agents("a.log", DOCKYARD_TEST_MONITOR_PAUSE="30")
    wait_for(lambda: any(s == "running" for s, _h in fast_results(ws)))
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    agents("b.log")
    wait_for(lambda: len([r for r in fast_results(ws) if r[0] in ("ok", "alert")]) == 2)
    results = fast_results(ws)
    assert results[0][0] == "interrupted"
    done = [h for s, h in results if s != "interrupted"]
    assert len(done) == len(set(done)) == 2
    time.sleep(2.5)  # more scheduled runs: nothing is checked twice
    assert len([r for r in fast_results(ws) if r[0] != "interrupted"]) == 2


def test_two_agents_run_one_scheduler(ws: Workspace, agents) -> None:  # type: ignore[no-untyped-def]
    one, two = agents("one.log"), agents("two.log")
    wait_for(lambda: len(fast_results(ws)) == 2)
    time.sleep(3)
    logs = [(ws.root / n).read_text() for n in ("one.log", "two.log")]
    assert sum("monitor scheduler started" in log for log in logs) == 1
    hashes = [h for _s, h in fast_results(ws)]
    assert len(hashes) == len(set(hashes)) == 2
    # the holder stops: the waiting one takes the lease and schedules in its place
    holder, waiting = (one, "two.log") if "started" in logs[0] else (two, "one.log")
    holder.send_signal(signal.SIGTERM)
    holder.wait(timeout=30)
    wait_for(lambda: "monitor scheduler started" in (ws.root / waiting).read_text(), 30)
    before = checks_count(ws)
    wait_for(lambda: checks_count(ws) > before, 10)


def test_missed_times_coalesce_into_one_run(ws: Workspace, agents) -> None:  # type: ignore[no-untyped-def]
    agent = agents("a.log")
    wait_for(lambda: len(fast_results(ws)) == 2)
    wait_for(lambda: checks_count(ws) >= 3)
    os.kill(agent.pid, signal.SIGSTOP)  # the machine sleeps past five scheduled times
    before = checks_count(ws)
    time.sleep(5)
    os.kill(agent.pid, signal.SIGCONT)
    time.sleep(0.7)
    after = checks_count(ws)
    assert 1 <= after - before <= 2, (before, after)


TICK = """
[[monitors]]
name = "tick"
kind = "quality"
schedule = "{schedule}"
batches = "incoming/*.csv"
"""


def test_re_adding_the_project_file_changes_the_running_agents_jobs(ws: Workspace, agents) -> None:  # type: ignore[no-untyped-def]
    set_paused(ws, "wine/fast", True)  # only the file's monitors move here
    folder = ws.root / "projects" / "wine"
    project_file = folder / "dockyard.toml"
    original = project_file.read_text()
    project_file.write_text(original + TICK.format(schedule="every 1s"))
    add_project(ws, folder)
    agents("a.log")
    wait_for(lambda: checks_count(ws, "tick") >= 2)
    tick = job_of(ws, "tick")

    project_file.write_text(original + TICK.format(schedule="every 1h"))
    add_project(ws, folder)
    wait_for(lambda: (jobs(ws).get(tick) or 0) > time.time() + 3000, 15)
    settled = checks_count(ws, "tick")
    time.sleep(3)  # one heartbeat and three former run times later
    assert checks_count(ws, "tick") == settled

    project_file.write_text(original)
    add_project(ws, folder)
    wait_for(lambda: tick not in jobs(ws), 15)
    assert job_of(ws, "feature-drift") in jobs(ws)  # the other monitors keep theirs


def test_a_restart_after_a_stop_catches_up_a_missed_run_once(ws: Workspace, agents) -> None:  # type: ignore[no-untyped-def]
    set_paused(ws, "wine/fast", True)
    add_monitor(ws, "wine", {"name": "slow", "kind": "drift", "schedule": "every 10s"})
    agent = agents("a.log")
    wait_for(lambda: checks_count(ws, "slow") >= 1, 40)
    agent.send_signal(signal.SIGTERM)  # `dockyard agent stop`
    agent.wait(timeout=30)
    ran = checks_count(ws, "slow")
    due = jobs(ws)[job_of(ws, "slow")]
    assert due is not None  # the job and its next time survive in the store
    time.sleep(max(0.0, due + 10.5 - time.time()))  # down past two scheduled times
    agents("b.log")
    # caught up at once, not at the next scheduled time (due + 20); APScheduler hands the
    # run to its thread pool before it stores the job's next time, so wait for both
    wait_for(lambda: checks_count(ws, "slow") > ran, due + 19.5 - time.time())
    wait_for(lambda: (jobs(ws)[job_of(ws, "slow")] or 0) > due + 10, due + 19.5 - time.time())
    following = jobs(ws)[job_of(ws, "slow")]
    assert following is not None
    time.sleep(max(0.0, following - 1.0 - time.time()))
    assert checks_count(ws, "slow") == ran + 1  # the two missed times: one run


def test_pause_and_resume_reach_the_running_scheduler(ws: Workspace, agents) -> None:  # type: ignore[no-untyped-def]
    agents("a.log")
    wait_for(lambda: checks_count(ws) >= 2)
    fast = job_of(ws, "fast")
    assert dockyard("monitor", "pause", "wine/fast", cwd=ws.root).returncode == 0
    wait_for(lambda: jobs(ws).get(fast, 0) is None, 15)
    paused = checks_count(ws)
    time.sleep(3)
    assert checks_count(ws) == paused
    assert dockyard("monitor", "resume", "wine/fast", cwd=ws.root).returncode == 0
    wait_for(lambda: checks_count(ws) > paused, 15)
    assert jobs(ws)[fast] is not None


@pytest.mark.slow
@pytest.mark.parametrize("store_backend", ["pg"], indirect=True)
def test_two_machines_one_scheduler_and_the_survivor_takes_over_a_killed_holder(
    ws: Workspace, agents: Callable[..., subprocess.Popen[bytes]], store_backend: str
) -> None:
    """Two agents on two machines (host names) share one PostgreSQL store: one holds the
    lease and runs the scheduler; SIGKILLed mid-check, it cannot be seen dead from the
    other machine, which takes over once the lease expires, interrupts the dead
    scheduler's check and runs the monitor that fell due meanwhile exactly once."""
    from dockyard.core.agent import HEARTBEAT_SECONDS, LEASE_SECONDS
    from dockyard.store.queries import as_utc

    set_paused(ws, "wine/fast", True)
    add_monitor(ws, "wine", {"name": "tick", "kind": "drift", "schedule": "every 2s"})
    started = "monitor scheduler started"
    first = agents("a.log", DOCKYARD_HOSTNAME="machine-a", DOCKYARD_TEST_MONITOR_PAUSE="60")
    wait_for(lambda: started in (ws.root / "a.log").read_text(), 30)
    agents("b.log", DOCKYARD_HOSTNAME="machine-b")

    def tick_results() -> list[tuple[object, ...]]:
        return query(
            ws,
            "SELECT r.status, r.batch_hash, r.runner, r.started_at FROM monitor_result r "
            "JOIN monitor m ON m.id = r.monitor_id WHERE m.name = 'tick' ORDER BY r.id",
        )

    # machine-a's scheduler is in the middle of a check (the test hook holds it there)
    wait_for(lambda: any(r[0] == "running" for r in tick_results()), 30)
    lease = "SELECT host, heartbeat_at, acquired_at FROM agent_lease"
    host, heartbeat, _acquired = query(ws, lease)[0]
    heartbeat = as_utc(heartbeat)
    assert host == "machine-a" and started not in (ws.root / "b.log").read_text()
    assert [r[2] for r in tick_results()] == [f"machine-a:{first.pid}"]
    checked = checks_count(ws, "tick")
    os.kill(first.pid, signal.SIGKILL)
    killed_at = time.time()
    first.wait()

    wait_for(lambda: started in (ws.root / "b.log").read_text(), LEASE_SECONDS + 10)
    host, _beat, acquired = query(ws, lease)[0]
    acquired = as_utc(acquired)
    assert host == "machine-b" and acquired is not None and heartbeat is not None
    # not before the lease expired (another machine's pid cannot be checked), and
    # within one more attempt after it
    assert acquired >= heartbeat + timedelta(seconds=LEASE_SECONDS)
    assert acquired.timestamp() <= killed_at + LEASE_SECONDS + HEARTBEAT_SECONDS + 3
    # the dead scheduler's check is interrupted; each batch is checked once, by machine-b
    wait_for(lambda: len([r for r in tick_results() if r[0] in ("ok", "alert")]) == 2, 30)
    results = tick_results()
    assert results[0][0] == "interrupted"
    done = [r for r in results if r[0] != "interrupted"]
    assert len({r[1] for r in done}) == 2 and {str(r[2]).split(":")[0] for r in done} == {
        "machine-b"
    }
    assert all(as_utc(r[3]) >= acquired for r in done)  # type: ignore[operator]
    # the times tick fell due while nobody held the lease: one run, then the schedule
    due = jobs(ws)[job_of(ws, "tick")]
    assert due is not None
    time.sleep(max(0.0, due - 0.7 - time.time()))
    assert checks_count(ws, "tick") == checked + 1
