"""The monitors' schedule with real agent processes and a real APScheduler: a SIGKILL
mid-run, two agents on one store, a sleeping machine (time driven by short intervals)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.core.monitoring import add_monitor
from dockyard.core.workspace import Workspace
from tests.monitor_fixtures import copy_workspace


@pytest.fixture
def ws(deployed_samples: Path, tmp_path: Path) -> Workspace:
    ws = copy_workspace(deployed_samples, tmp_path / "ws")
    add_monitor(ws, "wine", {"name": "fast", "kind": "drift", "schedule": "every 1s"})
    return ws


@pytest.fixture
def agents(ws: Workspace) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(log: str, **env: str) -> subprocess.Popen[bytes]:
        full = {**os.environ, "DOCKYARD_HOME": str(ws.home), "DOCKYARD_MONITOR_SETTLE": "0",
                "PYTHONPATH": str(Path(__file__).resolve().parent.parent), **env}  # fmt: skip
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
    with sqlite3.connect(ws.home / "dockyard.db", timeout=10) as conn:
        return conn.execute(sql, args).fetchall()


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


def checks_count(ws: Workspace) -> int:
    count: Any = query(ws, "SELECT checks_count FROM monitor WHERE name = 'fast'")[0][0]
    return int(count)


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
