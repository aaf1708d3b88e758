"""Training runs with real processes: queue, agent, supervisor, cancel, faults."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path

import pytest

from dockyard.core.agent import Agent, LeaseHeldError, agent_status, pid_alive
from dockyard.core.errors import ConflictError, InputError, NotFoundError
from dockyard.core.projects import add_project
from dockyard.core.runs import (
    cancel_run,
    get_run,
    latest_metrics,
    list_runs,
    metric_history,
    queue_runs,
    retry_run,
)
from dockyard.core.workspace import Workspace, init_workspace

TOML = """
[project]
name = "toy"
entry = "python train.py"

[params.n]
type = "int"
default = 3
min = 1
max = 1000

[params.sleep]
type = "float"
default = 0.0
min = 0.0

[params.mode]
type = "choice"
choices = ["ok", "fail", "nan", "garbage", "exit-at-once"]
default = "ok"

[metrics]
primary = "loss"
direction = "minimize"
"""

TRAIN = """
import sys, time
if __import__("os").environ.get("DOCKYARD_PARAMS", "").find("exit-at-once") >= 0:
    sys.exit(7)
from dockyard.core.tracking import Tracker
with Tracker.from_env() as t:
    p = t.params
    t.log_params(p)
    if p["mode"] == "garbage":
        print("@dockyard {not json", flush=True)
        print('@dockyard {"metric": "lr", "value": "high"}', flush=True)
        print('@dockyard {"metric": "proto", "value": 1.5, "step": 0}', flush=True)
    for i in range(p["n"]):
        t.log_metric("loss", 1.0 / (i + 1), step=i)
        print(f"epoch {i}", flush=True)
        time.sleep(p["sleep"])
    if p["mode"] == "nan":
        t.log_metric("loss", float("nan"), step=99)
    if p["mode"] == "fail":
        print("something broke", file=sys.stderr)
        sys.exit(3)
"""


#: the tests that run on PostgreSQL as well: queueing, the run's record and the agent's
#: verdicts; the rest are about processes, which the store does not change
BOTH = pytest.mark.both_stores


@pytest.fixture
def ws(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    store_backend: str,
    request: pytest.FixtureRequest,
) -> Workspace:
    for key in [k for k in os.environ if k.startswith("DOCKYARD_")]:
        monkeypatch.delenv(key)
    db = request.getfixturevalue("pg_url") if store_backend == "pg" else None
    workspace = init_workspace(tmp_path / "ws", db=db)
    project = tmp_path / "toy"
    project.mkdir()
    (project / "dockyard.toml").write_text(TOML)
    (project / "train.py").write_text(TRAIN)
    add_project(workspace, project)
    return workspace


def serve_until_idle(ws: Workspace, concurrency: int = 2) -> None:
    Agent(ws, concurrency=concurrency).serve(until_idle=True)


def wait_for(
    predicate: Callable[[], bool], timeout: float = 30.0, explain: Callable[[], str] = str
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {explain()}")
        time.sleep(0.1)


def run_state(ws: Workspace, run_id: int) -> Callable[[], str]:
    """What a timed-out wait shows: the run's status, error and log tail."""

    def explain() -> str:
        info = get_run(ws, run_id)
        log = Path(info.log_path).read_text()[-2000:] if info.log_path else ""
        return f"status={info.status} error={info.error!r} pid={info.pid} log=...{log}"

    return explain


@pytest.fixture
def agent_process(ws: Workspace) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        env = {**os.environ, "DOCKYARD_HOME": str(ws.home)}
        process = subprocess.Popen(
            [sys.executable, "-m", "dockyard.core.agent"], env=env, start_new_session=True
        )
        started.append(process)
        wait_for(lambda: agent_status(ws).pid == process.pid)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


@BOTH
@pytest.mark.slow
def test_a_run_finishes_with_metrics_params_log_and_record(ws: Workspace) -> None:
    (run,) = queue_runs(ws, "toy", ["n=4"])
    assert run.status == "queued" and run.params["n"] == "4"
    serve_until_idle(ws)
    done = get_run(ws, run.id)
    assert done.status == "finished" and done.exit_code == 0
    assert done.primary_value == pytest.approx(0.25)
    assert metric_history(ws, run.id, "loss") == [(0, 1.0), (1, 0.5), (2, 1 / 3), (3, 0.25)]
    assert "epoch 3" in Path(done.log_path).read_text()
    assert done.env["python"] == sys.version.split()[0]
    assert done.env["packages"]["scikit-learn"] == metadata.version("scikit-learn")
    assert done.host and done.user and done.started_at and done.ended_at


@pytest.mark.slow
def test_sweep_queues_the_grid_as_one_group(ws: Workspace) -> None:
    runs = queue_runs(ws, "toy", ["n=1,2", "sleep=0,0.01"])
    assert len(runs) == 4 and len({r.group_id for r in runs}) == 1
    assert {(r.params["n"], r.params["sleep"]) for r in runs} == {
        ("1", "0.0"), ("1", "0.01"), ("2", "0.0"), ("2", "0.01"),
    }  # fmt: skip
    serve_until_idle(ws)
    assert {get_run(ws, r.id).status for r in runs} == {"finished"}


@BOTH
def test_clone_applies_edits_over_the_source_params(ws: Workspace) -> None:
    (source,) = queue_runs(ws, "toy", ["n=9", "mode=fail"])
    (clone,) = queue_runs(ws, from_run=source.id, params=["mode=ok"])
    assert clone.params == {"n": "9", "sleep": "0.0", "mode": "ok"}
    assert clone.parent_run_id == source.id


@BOTH
@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("nope", []), NotFoundError, "no project named 'nope'"),
        (("toy", ["n=abc"]), InputError, "parameter n: 'abc' is not an integer"),
        (("toy", ["n=0"]), InputError, "parameter n: 0 is below the minimum 1"),
        (("toy", ["mode=weird"]), InputError, "'weird' is not one of ok, fail"),
        (("toy", ["lr=1"]), InputError, "unknown parameter 'lr'"),
        (("toy", ["n"]), InputError, "is not KEY=VALUE"),
    ],
)
def test_bad_launches_are_refused_and_queue_nothing(
    ws: Workspace, args: tuple[str, list[str]], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        queue_runs(ws, args[0], args[1])
    assert list_runs(ws) == []


@BOTH
def test_unknown_dataset_version_is_refused(ws: Workspace) -> None:
    with pytest.raises(NotFoundError, match="no dataset named 'iris'"):
        queue_runs(ws, "toy", data="iris@3")
    from dockyard.core.datasets import register_dataset

    source = ws.root / "iris.csv"
    source.write_text("a,b\n1,2\n")
    register_dataset(ws, "iris", source)
    with pytest.raises(NotFoundError, match="dataset 'iris' has no version 3"):
        queue_runs(ws, "toy", data="iris@3")
    assert list_runs(ws) == []


@BOTH
def test_unknown_run_ids(ws: Workspace) -> None:
    for call in (get_run, cancel_run, retry_run):
        with pytest.raises(NotFoundError, match="no run with id 404"):
            call(ws, 404)


@pytest.mark.slow
def test_a_script_that_fails_at_once_is_failed_with_its_exit_code(ws: Workspace) -> None:
    (run,) = queue_runs(ws, "toy", ["mode=exit-at-once"])
    serve_until_idle(ws)
    done = get_run(ws, run.id)
    assert done.status == "failed" and done.exit_code == 7
    assert done.error.startswith("exit code 7")


@pytest.mark.slow
def test_failure_keeps_the_last_log_line_as_the_error(ws: Workspace) -> None:
    (run,) = queue_runs(ws, "toy", ["mode=fail"])
    serve_until_idle(ws)
    done = get_run(ws, run.id)
    assert done.status == "failed" and done.error == "exit code 3: something broke"
    with pytest.raises(ConflictError, match="already failed"):
        cancel_run(ws, run.id)
    retry = retry_run(ws, run.id)
    assert retry.params == done.params and retry.parent_run_id == run.id


@pytest.mark.slow
def test_garbage_on_the_protocol_is_reported_and_the_rest_kept(ws: Workspace) -> None:
    (run,) = queue_runs(ws, "toy", ["mode=garbage"])
    serve_until_idle(ws)
    done = get_run(ws, run.id)
    assert done.status == "finished"
    assert done.error == "2 malformed @dockyard line(s) ignored; see the log"
    log = Path(done.log_path).read_text()
    assert "ignored a malformed @dockyard line: @dockyard line is not valid JSON" in log
    assert "metric 'lr': \"value\" must be a number" in log
    assert latest_metrics(ws, run.id)["proto"] == (0, 1.5)


@pytest.mark.slow
def test_nan_metric_fails_the_run_naming_the_key_and_keeps_earlier_points(
    ws: Workspace,
) -> None:
    (run,) = queue_runs(ws, "toy", ["mode=nan", "n=2"])
    serve_until_idle(ws)
    done = get_run(ws, run.id)
    assert done.status == "failed"
    assert "loss" in Path(done.log_path).read_text().split("Traceback")[-1]
    assert [s for s, _v in metric_history(ws, run.id, "loss")] == [0, 1]


@BOTH
def test_cancel_a_queued_run_is_immediate(ws: Workspace) -> None:
    (run,) = queue_runs(ws, "toy")
    assert cancel_run(ws, run.id).status == "cancelled"
    serve_until_idle(ws)
    assert get_run(ws, run.id).started_at is None


@pytest.mark.slow
def test_cancel_a_running_run_terminates_its_process(
    ws: Workspace, agent_process: Callable[[], subprocess.Popen[bytes]]
) -> None:
    agent_process()
    (run,) = queue_runs(ws, "toy", ["n=1000", "sleep=0.05"])
    wait_for(lambda: bool(latest_metrics(ws, run.id)))
    cancel_run(ws, run.id)
    wait_for(
        lambda: get_run(ws, run.id).status == "cancelled", timeout=30, explain=run_state(ws, run.id)
    )
    pid = get_run(ws, run.id).pid
    assert pid is not None
    wait_for(lambda: not pid_alive(pid))  # the agent reaps its supervisor child


def test_a_second_agent_is_refused_with_a_clear_message(
    ws: Workspace, agent_process: Callable[[], subprocess.Popen[bytes]]
) -> None:
    first = agent_process()
    with pytest.raises(LeaseHeldError, match=f"another agent \\(pid {first.pid} on"):
        Agent(ws).acquire(wait=False)


@pytest.mark.slow
def test_runs_survive_an_agent_killed_with_sigkill(
    ws: Workspace, agent_process: Callable[[], subprocess.Popen[bytes]]
) -> None:
    agent = agent_process()
    (run,) = queue_runs(ws, "toy", ["n=30", "sleep=0.05"])
    wait_for(lambda: bool(latest_metrics(ws, run.id)))
    os.kill(agent.pid, signal.SIGKILL)
    agent.wait()
    # nobody serves the store now; the run goes on under its supervisor
    wait_for(lambda: get_run(ws, run.id).status == "finished", timeout=30)
    assert len(metric_history(ws, run.id, "loss")) == 30
    # a new agent takes over the stale lease at once
    second = agent_process()
    assert agent_status(ws).pid == second.pid


@BOTH
@pytest.mark.slow
def test_a_run_whose_supervisor_vanished_is_marked_lost_by_the_next_agent(
    ws: Workspace, agent_process: Callable[[], subprocess.Popen[bytes]]
) -> None:
    agent = agent_process()
    (run,) = queue_runs(ws, "toy", ["n=1000", "sleep=0.05"])
    wait_for(lambda: bool(latest_metrics(ws, run.id)))
    os.kill(agent.pid, signal.SIGKILL)
    agent.wait()
    supervisor = get_run(ws, run.id).pid
    assert supervisor is not None
    os.killpg(supervisor, signal.SIGKILL)  # the machine "lost" the run
    wait_for(lambda: not pid_alive(supervisor))
    agent_process()
    wait_for(lambda: get_run(ws, run.id).status == "lost")
    assert "vanished" in get_run(ws, run.id).error


@pytest.mark.slow
def test_the_launching_process_dying_does_not_stop_the_run(ws: Workspace, tmp_path: Path) -> None:
    """`dockyard run start` (as the TUI would) starts a detached agent, then is killed."""
    env = {**os.environ, "DOCKYARD_HOME": str(ws.home)}
    launcher = subprocess.Popen(
        [sys.executable, "-m", "dockyard.tui", "run", "start", "toy", "-p", "n=20",
         "-p", "sleep=0.05", "--json", "--wait"],
        env=env, stdout=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    assert launcher.stdout is not None
    printed = b""
    while not printed.endswith(b"]\n"):
        printed += launcher.stdout.readline()
    run_id = json.loads(printed)[0]["id"]
    wait_for(lambda: get_run(ws, run_id).status in ("running", "finished"))
    os.killpg(launcher.pid, signal.SIGKILL)
    launcher.wait()
    wait_for(lambda: get_run(ws, run_id).status == "finished", timeout=30)
    status = agent_status(ws)
    assert status.alive and status.pid is not None
    os.kill(status.pid, signal.SIGTERM)


@pytest.mark.slow
def test_a_run_trains_on_the_verified_immutable_dataset_version(
    ws: Workspace, tmp_path: Path
) -> None:
    from dockyard.core.datasets import get_version, register_dataset

    source = tmp_path / "data.csv"
    source.write_text("x,y\n1,2\n3,4\n")
    register_dataset(ws, "toy-data", source, "v1")
    source.write_text("x,y\n5,6\n")  # editing the source changes nothing registered
    (good,) = queue_runs(ws, "toy", data="toy-data@1")
    assert good.dataset == "toy-data@1"
    assert good.dataset_hash is not None and good.dataset_hash.startswith("blake3:")
    stored = get_version(ws, "toy-data@1").object_path
    assert good.env["data_paths"] == {"toy-data": str(stored)}
    serve_until_idle(ws)
    assert get_run(ws, good.id).status == "finished"

    os.chmod(stored, 0o644)
    original = stored.read_bytes()
    # One byte flipped, same size: only the hash can tell, and it must, before the run.
    stored.write_bytes(original.replace(b"3,4", b"3,5"))
    assert stored.stat().st_size == len(original)
    (flipped,) = queue_runs(ws, "toy", data="toy-data@1")
    serve_until_idle(ws)
    failed = get_run(ws, flipped.id)
    assert failed.status == "failed" and failed.exit_code is None  # the script never ran
    assert failed.error.startswith("the run's dataset cannot be used:"), failed.error
    assert "no longer matches" in failed.error

    stored.write_text("x,y\n9,9\n")  # someone tampers with the object store
    (bad,) = queue_runs(ws, "toy", data="toy-data@1")
    serve_until_idle(ws)
    failed = get_run(ws, bad.id)
    assert failed.status == "failed"
    assert failed.error.startswith("the run's dataset cannot be used:"), failed.error
