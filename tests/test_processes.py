"""Processes end cleanly: no training process outlives its supervisor, output without
newlines streams to the log in flat memory, a dead agent is replaced at once, and the
run-status compare-and-set holds against real races."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from dockyard.core.agent import LEASE_SECONDS, Agent, agent_status
from dockyard.core.errors import ConflictError
from dockyard.core.projects import add_project
from dockyard.core.runs import (
    cancel_run,
    claim_status,
    get_run,
    list_runs,
    queue_runs,
    signal_group,
)
from dockyard.core.supervisor import LogLines
from dockyard.core.tracking import RunEndedError, Tracker
from dockyard.core.workspace import Workspace, engine_for, init_workspace

TOML = """
[project]
name = "procs"
entry = "python train.py"

[params.mode]
type = "choice"
choices = ["ok", "fail", "killed", "hang", "progress", "lines"]
default = "ok"
"""

# Each mode is one way a real script behaves; "hang" and "progress" wait on files the
# test writes, so the test decides when they move on.
TRAIN = r"""
import json, os, signal, subprocess, sys, time
from pathlib import Path

mode = json.loads(os.environ["DOCKYARD_PARAMS"])["mode"]

def wait_file(name):
    deadline = time.monotonic() + 120  # a failed test must not leave us behind for long
    while not Path(name).exists():
        if time.monotonic() > deadline:
            sys.exit(9)
        time.sleep(0.05)

if mode == "fail":
    print("something broke", flush=True)
    sys.exit(3)
if mode == "killed":
    print("last words before the signal", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
if mode == "hang":
    # silent, long, with a worker of its own (as a DataLoader has)
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    Path("pids").write_text(f"{os.getpid()} {worker.pid}")
    time.sleep(120)
if mode == "progress":
    print("starting", flush=True)
    wait_file("start")
    block = b"".join(b"\rtraining %7d/500000 |" % i + b"#" * 70 for i in range(10_000))
    for _ in range(50):  # ~50 MB, not one newline
        os.write(1, block)
    Path("flooded").write_text("")
    wait_file("go")
    os.write(1, b"\rdone\n")
if mode == "lines":
    print('@dockyard {"metric": "m", "value": 1.0, "step": 0}', flush=True)
    wait_file("go")
    print('@dockyard {"metric": "m", "value": 2.0, "step": 1}', flush=True)
"""


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    for key in [k for k in os.environ if k.startswith("DOCKYARD_")]:
        monkeypatch.delenv(key)
    workspace = init_workspace(tmp_path / "ws")
    project = tmp_path / "procs"
    project.mkdir()
    (project / "dockyard.toml").write_text(TOML)
    (project / "train.py").write_text(TRAIN)
    add_project(workspace, project)
    return workspace


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "") -> float:
    """Seconds it took for ``predicate`` to hold."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s: {what}")
        time.sleep(0.05)
    return time.monotonic() - start


def running(pid: int) -> bool:
    """The process exists and is not a zombie (the init here may reap late, or never)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


def vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmHWM for pid {pid}")


def stop_agent_of(ws: Workspace) -> None:
    status = agent_status(ws)
    if status.alive and status.pid is not None:
        os.kill(status.pid, signal.SIGTERM)


def cli(ws: Workspace, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKYARD_HOME": str(ws.home)}
    return subprocess.run(
        [sys.executable, "-m", "dockyard.tui", *args],
        env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@pytest.fixture
def agent_process(ws: Workspace) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        env = {**os.environ, "DOCKYARD_HOME": str(ws.home)}
        process = subprocess.Popen(
            [sys.executable, "-m", "dockyard.core.agent"], env=env, start_new_session=True
        )
        started.append(process)
        wait_for(lambda: agent_status(ws).pid == process.pid, what="the agent takes the lease")
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()
    for run in list_runs(ws, status="running"):  # a failed test leaves no run behind
        if run.pid is not None:
            signal_group(run.pid, signal.SIGKILL)


# --------------------------------------------------------------------- item 6


@pytest.mark.slow
def test_killing_a_supervisor_kills_its_training_process_and_the_lost_run_takes_no_points(
    ws: Workspace, agent_process: Callable[[], subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    agent_process()
    (run,) = queue_runs(ws, "procs", ["mode=hang"])
    pids = tmp_path / "procs" / "pids"
    wait_for(pids.exists, what="the script starts")
    trainer, worker = (int(p) for p in pids.read_text().split())
    supervisor = get_run(ws, run.id).pid
    assert supervisor is not None and running(trainer) and running(worker)

    os.kill(supervisor, signal.SIGKILL)  # the supervisor alone, not its group

    # the script dies with its supervisor (parent-death signal) ...
    wait_for(lambda: not running(trainer), timeout=5, what="the training process ends")
    # ... and what it started goes when the agent finds the supervisor gone
    wait_for(lambda: get_run(ws, run.id).status == "lost", timeout=15, what="the run is lost")
    wait_for(lambda: not running(worker), timeout=5, what="the script's worker ends")

    # a process left over from the run could not write into it any more
    env = {
        "DOCKYARD_RUN_ID": str(run.id),
        "DOCKYARD_HOME": str(ws.home),
        "DOCKYARD_DB": ws.db_url,
    }
    tracker = Tracker.from_env(env, project_dir=tmp_path / "procs", flush_seconds=0)
    tracker.log_metric("late", 1.0)
    with pytest.raises(RunEndedError, match=f"run {run.id} is lost"):
        tracker.flush()
    tracker.close()  # the refused point was dropped: nothing left to fail on
    with engine_for(ws).connect() as conn:
        from sqlalchemy import text

        count = conn.execute(text("SELECT count(*) FROM metric WHERE run_id = :r"), {"r": run.id})
        assert count.scalar() == 0


def test_tracking_points_are_refused_once_a_run_has_ended(ws: Workspace, tmp_path: Path) -> None:
    """The refusal is in the writing transaction: points buffered while the run was live
    and flushed after it ended are dropped, not kept for a retry that cannot succeed."""
    from sqlmodel import Session

    (run,) = queue_runs(ws, "procs")
    env = {"DOCKYARD_RUN_ID": str(run.id), "DOCKYARD_DB": ws.db_url}
    tracker = Tracker.from_env(
        env, project_dir=tmp_path / "procs", flush_seconds=0, flush_points=10
    )
    tracker.log_metric("loss", 1.0)
    tracker.flush()  # queued: accepted
    tracker.log_metric("loss", 0.5)
    with Session(engine_for(ws)) as session:
        assert claim_status(session, run.id, "queued", "cancelled")
        session.commit()
    with pytest.raises(RunEndedError, match="is cancelled"):
        tracker.flush()
    tracker.flush()  # nothing left to write: the refused point was dropped
    with pytest.raises(RunEndedError):  # a script logging on hears it once a batch is due
        for step in range(10):
            tracker.log_metric("loss", 0.1, step=10 + step)
    assert [p for p in _points(ws, run.id)] == [(0, 1.0)]


def test_a_refusal_found_by_the_background_writer_is_raised_at_close(
    ws: Workspace, tmp_path: Path
) -> None:
    from sqlmodel import Session

    (run,) = queue_runs(ws, "procs")
    with Session(engine_for(ws)) as session:
        assert claim_status(session, run.id, "queued", "lost")
        session.commit()
    env = {"DOCKYARD_RUN_ID": str(run.id), "DOCKYARD_DB": ws.db_url}
    tracker = Tracker.from_env(env, project_dir=tmp_path / "procs", flush_seconds=0.05)
    tracker.log_metric("loss", 1.0)
    sink: Any = tracker._sink
    # `_unreported` stays until close; `last_error` is cleared by the next (empty) flush,
    # 0.05 s later, so a loaded machine could poll right past it
    wait_for(lambda: sink._unreported is not None, what="the background write")
    with pytest.raises(RunEndedError, match="is lost"):
        tracker.close()
    assert _points(ws, run.id) == []


def _points(ws: Workspace, run_id: int) -> list[tuple[int, float]]:
    from dockyard.core.runs import metric_history

    return metric_history(ws, run_id, "loss")


@pytest.mark.slow
def test_a_supervisor_that_outlives_its_lost_verdict_neither_records_nor_overwrites_it(
    ws: Workspace, agent_process: Callable[[], subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    """An agent on another host presumed the supervisor gone and marked the run lost
    (stale heartbeat); the supervisor keeps logging but records nothing more, and its
    final write does not turn the run back into "finished"."""
    from sqlmodel import Session

    from dockyard.core.agent import pid_alive
    from dockyard.core.runs import metric_history

    agent_process()
    (run,) = queue_runs(ws, "procs", ["mode=lines"])
    wait_for(lambda: bool(metric_history(ws, run.id, "m")), what="the first point")
    supervisor = get_run(ws, run.id).pid
    assert supervisor is not None
    with Session(engine_for(ws)) as session:
        assert claim_status(session, run.id, "running", "lost", error="presumed gone")
        session.commit()
    (tmp_path / "procs" / "go").write_text("")
    wait_for(lambda: not pid_alive(supervisor), what="the supervisor ends")
    info = get_run(ws, run.id)
    assert (info.status, info.error) == ("lost", "presumed gone")
    assert metric_history(ws, run.id, "m") == [(0, 1.0)]
    note = f"dockyard: run {run.id} is lost; the store accepts no more data for it (@dockyard"
    assert note in Path(info.log_path).read_text()


# --------------------------------------------------------------------- item 7


def test_carriage_returns_end_lines_and_long_lines_are_broken() -> None:
    lines = LogLines(max_line=8)
    assert lines.feed(b"10%\r20%\r") == (b"10%\n20%\n", [b"10%", b"20%"])
    # a \r\n split across two reads is one line end, not two
    assert lines.feed(b"30%\r") == (b"30%\n", [b"30%"])
    assert lines.feed(b"\n") == (b"", [])
    assert lines.feed(b"\nok") == (b"\nok", [b""])  # a second \n is a line end of its own
    assert lines.feed(b" 123456789abcdef\nx") == (
        b" 12345\n6789abcd\nef\nx",
        [b"ok 12345", b"6789abcd", b"ef"],
    )
    assert lines.close() == (b"\n", [b"x"])
    assert lines.close() == (b"", [])


def test_how_output_is_split_into_reads_does_not_change_the_log() -> None:
    import random

    rng = random.Random(7)
    alphabet = [b"a", b"b", b"\r", b"\n", b"\r\n", b"@dockyard {}"]
    for _ in range(200):
        stream = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        whole = LogLines(max_line=5)
        expected = whole.feed(stream)[0] + whole.close()[0]
        pieces = LogLines(max_line=5)
        out, cut = b"", 0
        while cut < len(stream):
            size = rng.randint(1, 7)
            out += pieces.feed(stream[cut : cut + size])[0]
            cut += size
        out += pieces.close()[0]
        assert out == expected, stream
        assert all(len(line) <= 5 for line in out.split(b"\n")), stream


@pytest.mark.slow
def test_progress_without_newlines_streams_to_the_log_in_flat_memory(
    ws: Workspace, agent_process: Callable[[], subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    agent_process()
    project = tmp_path / "procs"
    (run,) = queue_runs(ws, "procs", ["mode=progress"])
    log = ws.logs / f"run-{run.id}.log"
    wait_for(lambda: log.is_file() and b"starting" in log.read_bytes(), what="the script starts")
    supervisor = get_run(ws, run.id).pid
    assert supervisor is not None
    before = vm_hwm_kib(supervisor)

    (project / "start").write_text("")
    wait_for((project / "flooded").exists, timeout=60, what="the script writes its progress")
    # the script is still running (waiting for "go"), and its output is in the log already
    flood = 50 * 10_000 * 90
    wait_for(lambda: log.stat().st_size > flood, timeout=30, what="the log catches up")
    peak = vm_hwm_kib(supervisor)
    assert get_run(ws, run.id).status == "running"
    with log.open("rb") as handle:
        handle.seek(-200, os.SEEK_END)
        assert handle.read().endswith(b"\ntraining    9999/500000 |" + b"#" * 70)

    shown = cli(ws, "run", "logs", str(run.id))  # what a reader sees before the end
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count("\ntraining ") == 50 * 10_000

    (project / "go").write_text("")
    wait_for(lambda: get_run(ws, run.id).status == "finished", what="the run finishes")
    print(f"supervisor peak RSS {before} KiB before, {peak} KiB after 48 MB of progress")
    assert peak - before < 16 * 1024, (before, peak)
    assert log.read_bytes().endswith(b"\ndone\n")


# --------------------------------------------------------------------- item 8


def _write_lease(ws: Workspace, pid: int, acquired_ago: float) -> None:
    from sqlmodel import Session

    from dockyard.store.models import AgentLease, utcnow

    now = utcnow()
    with Session(engine_for(ws)) as session:
        session.merge(
            AgentLease(
                id=1, holder=f"{socket.gethostname()}:{pid}", host=socket.gethostname(), pid=pid,
                acquired_at=now - timedelta(seconds=acquired_ago), heartbeat_at=now,
            )
        )  # fmt: skip
        session.commit()


def test_a_fresh_lease_of_a_dead_or_reused_pid_is_not_alive(ws: Workspace) -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    _write_lease(ws, ended.pid, acquired_ago=0)
    assert not agent_status(ws).alive  # the heartbeat is fresh, the process is gone
    assert Agent(ws).try_acquire()  # and its lease is taken at once
    # a live process (our parent): alive when it took the lease after it started ...
    _write_lease(ws, os.getppid(), acquired_ago=0)
    assert agent_status(ws).alive
    assert not Agent(ws).try_acquire()
    # ... but a lease taken a day before that process started was another's, same pid
    _write_lease(ws, os.getppid(), acquired_ago=86_400)
    assert not agent_status(ws).alive
    assert Agent(ws).try_acquire()


@pytest.mark.slow
def test_run_start_after_an_agent_was_killed_starts_a_new_one_at_once(
    ws: Workspace, agent_process: Callable[[], subprocess.Popen[bytes]]
) -> None:
    agent = agent_process()
    os.kill(agent.pid, signal.SIGKILL)
    agent.wait()
    assert not agent_status(ws).alive
    assert "no agent running" in cli(ws, "agent", "status").stdout
    try:
        start = time.monotonic()
        result = cli(ws, "run", "start", "procs")
        assert result.returncode == 0, result.stderr
        assert "Started the agent" in result.stderr
        run_id = int(result.stdout.split()[2])
        wait_for(lambda: get_run(ws, run_id).status == "finished", timeout=30, what="picked up")
        elapsed = time.monotonic() - start
        print(f"run picked up and finished {elapsed:.1f} s after `run start`")
        assert elapsed < LEASE_SECONDS - 5
        assert agent_status(ws).pid not in (None, agent.pid)
    finally:
        stop_agent_of(ws)


# --------------------------------------------------------------------- item 11


def test_a_second_agent_fails_without_announcing_itself(
    ws: Workspace, agent_process: Callable[[], subprocess.Popen[bytes]]
) -> None:
    first = agent_process()
    result = cli(ws, "agent", timeout=30)
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"another agent (pid {first.pid} on" in result.stderr


def test_a_run_killed_by_a_signal_is_reported_by_the_signal_name(ws: Workspace) -> None:
    (run,) = queue_runs(ws, "procs", ["mode=killed"])
    Agent(ws, concurrency=1).serve(until_idle=True)
    info = get_run(ws, run.id)
    assert (info.status, info.exit_code, info.error) == ("failed", -9, "killed by SIGKILL")
    assert "last words" in Path(info.log_path).read_text()


# --------------------------------------------------------------------- issue 14


def test_claim_status_lets_one_of_two_racing_writers_win(ws: Workspace) -> None:
    """Two threads, each with its own connection, claim the same queued runs at once; a
    blind overwrite would let both believe they won."""
    from sqlmodel import Session

    runs = [r.id for r in queue_runs(ws, "procs", ["mode=ok,fail,killed,hang,progress"])]
    wins: dict[str, list[int]] = {"running": [], "cancelled": []}
    barrier = threading.Barrier(2)

    def writer(new: str) -> None:
        engine = engine_for(ws)
        for run_id in runs:
            barrier.wait()
            with Session(engine) as session:
                if claim_status(session, run_id, "queued", new):
                    wins[new].append(run_id)
                session.commit()

    threads = [threading.Thread(target=writer, args=(s,)) for s in wins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(wins["running"] + wins["cancelled"]) == sorted(runs)  # one winner each
    for status, won in wins.items():
        assert all(get_run(ws, run_id).status == status for run_id in won)


def test_cancel_that_loses_to_the_run_finishing_reports_it_and_keeps_finished(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race cancel was written for: it reads "running", the supervisor records
    "finished", then cancel writes. The cancel must lose, not leave "cancelling"."""
    import sqlite3

    import dockyard.core.runs

    (run,) = queue_runs(ws, "procs")
    database = ws.db_url.removeprefix("sqlite:///")
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE run SET status = 'running' WHERE id = ?", (run.id,))
    read_row = dockyard.core.runs._get_run_row
    calls = 0

    def read_then_finish(session: Any, run_id: int) -> Any:
        nonlocal calls
        row = read_row(session, run_id)
        calls += 1
        if calls == 1:  # the supervisor finishes right after cancel has read the row
            with sqlite3.connect(database, timeout=10) as conn:
                conn.execute("UPDATE run SET status = 'finished' WHERE id = ?", (run_id,))
        return row

    monkeypatch.setattr(dockyard.core.runs, "_get_run_row", read_then_finish)
    with pytest.raises(ConflictError, match=f"run {run.id} has just finished"):
        cancel_run(ws, run.id)
    assert get_run(ws, run.id).status == "finished"


@pytest.mark.slow
def test_run_start_wait_exits_1_when_the_run_fails(ws: Workspace) -> None:
    try:
        result = cli(ws, "run", "start", "procs", "-p", "mode=fail", "--wait")
        assert result.returncode == 1, (result.stdout, result.stderr)
        assert " failed in " in result.stdout
        assert "exit code 3: something broke" in result.stderr
        ok = cli(ws, "run", "start", "procs", "--wait")
        assert ok.returncode == 0, (ok.stdout, ok.stderr)
    finally:
        stop_agent_of(ws)
