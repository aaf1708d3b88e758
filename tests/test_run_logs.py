"""A run's log in the store: streamed by the supervisor in batches, read where the file is not.

The store tests run on SQLite and PostgreSQL (``both_stores``); the end-to-end ones run
real agents, supervisors and ``dockyard run logs`` processes on SQLite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.core.agent import Agent
from dockyard.core.projects import add_project
from dockyard.core.run_logs import (
    LogStream,
    LogTail,
    StoredLog,
    log_source,
    read_log,
)
from dockyard.core.runs import get_run, queue_runs
from dockyard.core.workspace import Workspace, init_workspace, open_writer
from tests.test_cli import dockyard
from tests.test_runs import TOML, TRAIN, wait_for

pytestmark = pytest.mark.both_stores


def queued_run(workspace: Workspace, tmp_path: Path) -> int:
    project = tmp_path / "toy"
    project.mkdir()
    (project / "dockyard.toml").write_text(TOML)
    (project / "train.py").write_text(TRAIN)
    add_project(workspace, project)
    (run,) = queue_runs(workspace, "toy")
    return run.id


def set_host(workspace: Workspace, run_id: int, host: str) -> None:
    writer = open_writer(workspace)
    try:
        with writer.transaction() as tx:
            tx.execute("UPDATE run SET host = :h WHERE id = :r", {"h": host, "r": run_id})
    finally:
        writer.close()


def test_the_stream_stores_the_log_in_order_and_readers_get_it_back(
    workspace: Workspace, tmp_path: Path
) -> None:
    run_id = queued_run(workspace, tmp_path)
    stream = LogStream(workspace, run_id, flush_seconds=0.05)
    snowman = "☃".encode()
    stream.write(b"epoch 0\n" + snowman[:1])  # half a character waits for the rest
    stream.drain()
    stream.write(snowman[1:] + b"\nepoch 1\n")
    stream.write(b"x" * 200_000 + b"\n")  # more than one row's worth
    stream.close()
    assert stream.last_error is None
    expected = "epoch 0\n☃\nepoch 1\n" + "x" * 200_000 + "\n"

    set_host(workspace, run_id, "a-worker-elsewhere")  # no file here: the store is read
    info = get_run(workspace, run_id)
    assert log_source(workspace, info) == StoredLog(workspace, run_id)
    assert "".join(read_log(workspace, run_id)) == expected
    tail = LogTail(StoredLog(workspace, run_id))
    assert tail.read_new().text == expected
    assert tail.read_new().text == ""  # only what is new
    again = LogStream(workspace, run_id, flush_seconds=0.05)  # a second writer appends
    again.write(b"epoch 2\n")
    again.close()
    assert tail.read_new().text == "epoch 2\n"


def test_the_store_keeps_the_newest_part_and_says_what_is_missing(
    workspace: Workspace, tmp_path: Path
) -> None:
    run_id = queued_run(workspace, tmp_path)
    stream = LogStream(workspace, run_id, flush_seconds=0.05, keep_chars=300)
    for index in range(20):
        stream.write(f"{index:02d}".encode() + b"." * 96 + b"\n")  # 99 characters a line
        stream.drain()
    stream.close()
    set_host(workspace, run_id, "a-worker-elsewhere")
    text = "".join(read_log(workspace, run_id))
    first, *kept = text.splitlines()
    assert first.startswith("dockyard: [") and "not kept in the store" in first
    assert 3 <= len(kept) <= 4 and kept[-1].startswith("19.")  # the newest ~300 characters
    chunk = LogTail(StoredLog(workspace, run_id)).read_new()
    assert chunk.skipped_bytes + len(chunk.text) == 20 * 99  # counted, not silently missed
    assert chunk.text.endswith("19" + "." * 96 + "\n")


def test_a_store_that_falls_behind_costs_bounded_memory_and_counted_gaps(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dockyard.core import run_logs

    monkeypatch.setattr(run_logs, "FLUSH_CHARS", 100)
    run_id = queued_run(workspace, tmp_path)
    stream = LogStream(workspace, run_id, flush_seconds=3600, keep_chars=300)
    lines = [f"{index:03d}".encode() + b"-" * 95 + b"\n" for index in range(300)]  # 99 each
    for line in lines:
        stream.write(line)
        # however far behind the store is, what waits is bounded
        assert stream._backlog <= 300 + 100 + 99
    stream.close()
    set_host(workspace, run_id, "a-worker-elsewhere")
    chunk = LogTail(StoredLog(workspace, run_id)).read_new()
    assert chunk.text.endswith("299" + "-" * 95 + "\n")
    assert chunk.skipped_bytes + len(chunk.text) == 300 * 99  # every character accounted
    stored = "".join(read_log(workspace, run_id))
    assert "not kept in the store" in stored and len(stored) < 1000


def test_a_file_on_this_machine_is_read_before_the_store(
    workspace: Workspace, tmp_path: Path
) -> None:
    run_id = queued_run(workspace, tmp_path)
    stream = LogStream(workspace, run_id, flush_seconds=0.05)
    stream.write(b"from the store\n")
    stream.close()
    log = tmp_path / "run.log"
    log.write_text("from the file\n")
    writer = open_writer(workspace)
    try:
        with writer.transaction() as tx:
            tx.execute(
                "UPDATE run SET log_path = :p, host = :h WHERE id = :r",
                {"p": str(log), "h": os.uname().nodename, "r": run_id},
            )
    finally:
        writer.close()
    assert "".join(read_log(workspace, run_id)) == "from the file\n"
    # the same path on a run of another machine is not its log: the store is
    set_host(workspace, run_id, "a-worker-elsewhere")
    assert "".join(read_log(workspace, run_id)) == "from the store\n"
    log.unlink()
    set_host(workspace, run_id, os.uname().nodename)  # ran here, file gone: the store
    assert "".join(read_log(workspace, run_id)) == "from the store\n"


# --- real processes --------------------------------------------------------------------------


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    for key in [k for k in os.environ if k.startswith("DOCKYARD_")]:
        monkeypatch.delenv(key)
    workspace = init_workspace(tmp_path / "ws")
    project = tmp_path / "toy"
    project.mkdir()
    (project / "dockyard.toml").write_text(TOML)
    (project / "train.py").write_text(TRAIN)
    add_project(workspace, project)
    return workspace


@pytest.mark.slow
def test_run_logs_shows_a_log_whose_file_is_gone(ws: Workspace) -> None:
    (run,) = queue_runs(ws, "toy", ["n=3", "mode=fail"])
    Agent(ws, concurrency=1).serve(until_idle=True)
    done = get_run(ws, run.id)
    assert done.status == "failed"
    Path(done.log_path).unlink()  # on another machine, or cleaned up
    shown = dockyard("run", "logs", str(run.id), cwd=ws.root)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == "epoch 0\nepoch 1\nepoch 2\nsomething broke\n"


@pytest.mark.slow
def test_run_logs_follow_reads_a_live_run_of_another_machine_from_the_store(
    ws: Workspace,
) -> None:
    (run,) = queue_runs(ws, "toy", ["n=12", "sleep=0.25"])
    agent = subprocess.Popen(
        [sys.executable, "-m", "dockyard.core.agent"],
        env={**os.environ, "DOCKYARD_HOME": str(ws.home)},
        start_new_session=True,
    )
    follower = None
    try:
        wait_for(lambda: "epoch 0" in log_here(ws, run.id))
        # as if the supervisor ran on a worker: its file is not on this machine
        set_host(ws, run.id, "a-worker-elsewhere")
        Path(get_run(ws, run.id).log_path).rename(ws.home / "elsewhere.log")
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
        follower = subprocess.Popen(
            [sys.executable, "-m", "dockyard.tui", "run", "logs", str(run.id), "-f"],
            cwd=ws.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert follower.stdout is not None
        first = follower.stdout.readline()
        assert first == "epoch 0\n"
        assert get_run(ws, run.id).status == "running"  # it followed, not read afterwards
        rest = follower.stdout.read()  # to the end: the follower exits when the run does
        assert follower.wait(timeout=60) == 0, follower.stderr.read() if follower.stderr else ""
        assert first + rest == "".join(f"epoch {i}\n" for i in range(12))
        assert get_run(ws, run.id).status == "finished"
    finally:
        for process in (follower, agent):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()


def log_here(workspace: Workspace, run_id: int) -> str:
    """The run's log file on this machine so far ("" before the supervisor names it)."""
    path = get_run(workspace, run_id).log_path
    return Path(path).read_text() if path and Path(path).is_file() else ""


def test_a_supervisor_that_fails_itself_says_why_in_the_stored_log_and_fails_the_run(
    ws: Workspace,
) -> None:
    """Not the script: the supervisor's own code fails (here on a run record it cannot read,
    as the agent has claimed it). Its traceback reaches the store, not just a stderr nobody
    reads, and the run is failed naming it instead of being found "lost" later."""
    from dockyard.core.executors import spawn_detached
    from dockyard.core.run_logs import stored_chunks

    (run,) = queue_runs(ws, "toy")
    writer = open_writer(ws)
    try:
        with writer.transaction() as tx:
            tx.execute(
                "UPDATE run SET status = 'running', env_json = :e WHERE id = :r",
                {"e": '["not", "an", "object"]', "r": run.id},
            )
    finally:
        writer.close()
    # started as the local executor starts it: its stderr goes to the run's log file
    supervisor = spawn_detached(ws, ["dockyard.core.supervisor", str(run.id)], f"run-{run.id}.log")
    assert supervisor.wait(timeout=60) == 1
    reason = "the supervisor failed: AttributeError: 'list' object has no attribute 'get'"
    done = get_run(ws, run.id)
    assert (done.status, done.error) == ("failed", reason)
    stored = "".join(text for _seq, _start, text in stored_chunks(ws, run.id))
    assert stored.startswith("Traceback (most recent call last):\n")
    assert 'core/supervisor.py", line' in stored
    assert (ws.logs / f"run-{run.id}.log").read_text() == stored  # once, not twice
    assert stored.endswith(f"AttributeError: 'list' object has no attribute 'get'\n"
                           f"dockyard: {reason}\n")  # fmt: skip
    set_host(ws, run.id, "a-worker-elsewhere")  # read as another machine does: the store
    shown = dockyard("run", "logs", str(run.id), cwd=ws.root)
    assert shown.returncode == 0 and shown.stdout == stored
