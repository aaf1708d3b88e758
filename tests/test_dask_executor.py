"""Runs on a real Dask cluster: a ``dask scheduler`` and two ``dask worker`` processes on this
machine, the agent as a real ``dockyard agent --executor dask`` process, real samples.

A sweep spreads over both workers with the project's ``[resources]``; a cancel recorded
in the store reaches the supervisor on its worker; a worker killed mid-run leaves its run
``lost`` and requeued once; a worker that cannot see the object store or the workspace,
or cannot import dockyard, fails the run with the reason; a scheduler that is down stops
the agent at start (exit 2), and one that goes away mid-run fails the run and stops the
agent (exit 1, on a PostgreSQL store).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.core.agent import agent_status, pid_alive
from dockyard.core.datasets import register_dataset
from dockyard.core.projects import add_project
from dockyard.core.runs import (
    cancel_run,
    claim_status,
    get_run,
    latest_metrics,
    list_runs,
    queue_runs,
)
from dockyard.core.workspace import Workspace, engine_for, init_workspace

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_projects"

TOY_TOML = """
[project]
name = "toy"
entry = "python train.py"

[params.steps]
type = "int"
default = 2000
min = 1

[runs]
requeue_lost = true
"""

# long enough to be caught running; every step is a metric point, so "it runs" is visible
TOY_TRAIN = """
import os, time
from dockyard.core.tracking import Tracker
with Tracker.from_env() as t:
    t.set_tag("omp_threads", os.environ.get("OMP_NUM_THREADS", "unset"))
    for i in range(t.params["steps"]):
        t.log_metric("loss", 1.0 / (i + 1), step=i)
        time.sleep(0.05)
"""


# A worker's sitecustomize that makes dockyard unimportable however the venv finds it (a
# .pth file, PYTHONPATH): a machine where Dockyard was not installed.
NO_DOCKYARD = """
import sys

class NoDockyard:
    def find_spec(self, name, path=None, target=None):
        if name == "dockyard" or name.startswith("dockyard."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoDockyard())
"""


def child_env() -> dict[str, str]:
    """This checkout's code first, for every process a test starts (decision 21)."""
    path = os.environ.get("PYTHONPATH", "")
    pkg = str(REPO / ".pkg")
    return {**os.environ, "PYTHONPATH": f"{pkg}{os.pathsep}{path}" if path else pkg}


def wait_for(predicate: Callable[[], bool], timeout: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {what()}")
        time.sleep(0.2)


def explain(ws: Workspace, run_id: int) -> Callable[[], str]:
    def text() -> str:
        info = get_run(ws, run_id)
        log = Path(info.log_path).read_text()[-1500:] if info.log_path else ""
        return f"run {run_id}: status={info.status} error={info.error!r} log=...{log}"

    return text


def stop_group(process: subprocess.Popen[Any], grace: float = 10.0) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class Cluster:
    """A Dask scheduler and worker processes started here, each in a session of its own."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.file = folder / "scheduler.json"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.scheduler: subprocess.Popen[bytes] | None = None
        self.address = ""

    def _start(
        self, argv: list[str], log: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        with (self.folder / log).open("ab") as out:
            process = subprocess.Popen(
                argv, cwd=self.folder, env=env or child_env(), stdout=out, stderr=out,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        self.processes.append(process)
        return process

    def start_scheduler(self) -> str:
        self.scheduler = self._start(
            [sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", str(self.file)],
            "scheduler.log",
        )  # fmt: skip
        wait_for(self.file.is_file, 60, lambda: (self.folder / "scheduler.log").read_text())
        self.address = json.loads(self.file.read_text())["address"]
        return self.address

    def start_workers(
        self,
        count: int,
        resources: str = "",
        hide: Path | None = None,
        without_dockyard: bool = False,
    ) -> subprocess.Popen[bytes]:
        """``count`` worker processes (one thread each); ``hide``: a folder these workers
        cannot see (a private mount namespace with an empty tmpfs over it), as on a
        machine that does not mount the shared workspace; ``without_dockyard``: workers
        whose Python cannot import dockyard, as on a machine where it was not installed."""
        argv = [sys.executable, "-m", "dask", "worker", "--scheduler-file", str(self.file),
                "--nworkers", str(count), "--nthreads", "1", "--no-dashboard"]  # fmt: skip
        if resources:
            argv += ["--resources", resources]
        if hide is not None:
            argv = ["unshare", "-m", "sh", "-c", 'mount -t tmpfs none "$0" && exec "$@"',
                    str(hide), *argv]  # fmt: skip
        env = child_env()
        if without_dockyard:
            blocker = self.folder / "no-dockyard"
            blocker.mkdir(exist_ok=True)
            (blocker / "sitecustomize.py").write_text(NO_DOCKYARD)
            env["PYTHONPATH"] = f"{blocker}{os.pathsep}{env['PYTHONPATH']}"
        return self._start(argv, "workers.log", env)

    def client(self) -> Any:
        from distributed import Client

        connect: Any = Client  # distributed is untyped
        return connect(self.address, timeout=30, set_as_default=False)

    def wait_workers(self, count: int) -> None:
        with self.client() as client:
            client.wait_for_workers(count, timeout=90)

    def worker_count(self) -> int:
        with self.client() as client:
            return len(client.scheduler_info(n_workers=-1)["workers"])

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop_group(process)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two workers, each offering one GPU and 4 GB (as declared: Dask only counts)."""
    running = Cluster(tmp_path_factory.mktemp("dask"))
    try:
        running.start_scheduler()
        running.start_workers(2, resources="GPU=1 MEMORY=4e9")
        running.wait_workers(2)
        yield running
    finally:
        running.stop()


@contextlib.contextmanager
def dask_agent(ws: Workspace, address: str) -> Iterator[subprocess.Popen[str]]:
    """``dockyard agent --executor dask --scheduler ADDRESS``, stopped (SIGTERM) after."""
    env = {**child_env(), "DOCKYARD_HOME": str(ws.home)}
    process = subprocess.Popen(
        [sys.executable, "-m", "dockyard.tui", "agent", "--executor", "dask",
         "--scheduler", address],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(
            lambda: agent_status(ws).pid == process.pid or process.poll() is not None,
            60,
            lambda: "the agent takes the lease",
        )
        yield process
    finally:
        stop_group(process)


def toy_workspace(root: Path, db: str | None = None, objects: Path | None = None) -> Workspace:
    ws = init_workspace(root / "ws", db=db, objects=objects)
    project = root / "toy"
    project.mkdir()
    (project / "dockyard.toml").write_text(TOY_TOML)
    (project / "train.py").write_text(TOY_TRAIN)
    add_project(ws, project)
    return ws


def dockyard_cli(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    """The ``dockyard`` command in the workspace, as a user runs it there."""
    return subprocess.run(
        [sys.executable, "-m", "dockyard.tui", *args],
        env={**child_env(), "DOCKYARD_HOME": str(ws.home)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def set_cancelling(ws: Workspace, run_id: int) -> None:
    """What ``run cancel`` records when it cannot signal the supervisor (another host)."""
    from sqlmodel import Session

    with Session(engine_for(ws)) as session:
        assert claim_status(session, run_id, "running", "cancelling")
        session.commit()


def ended(ws: Workspace, run_id: int) -> Callable[[], bool]:
    return lambda: get_run(ws, run_id).status not in ("queued", "running", "cancelling")


def parent_pid(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_a_sweep_of_the_wine_sample_spreads_over_two_workers_with_its_resources(
    tmp_path: Path, cluster: Cluster
) -> None:
    ws = init_workspace(tmp_path / "ws")
    project = tmp_path / "wine"
    shutil.copytree(SAMPLES / "wine", project, ignore=shutil.ignore_patterns("outputs"))
    toml = project / "dockyard.toml"
    toml.write_text(toml.read_text() + '\n[resources]\ngpus = 1\nmemory = "2GB"\n')
    add_project(ws, project)
    # a registered version: the runs read it from the object store, on the workers
    register_dataset(ws, "wine", project / "data" / "train.csv")
    runs = queue_runs(ws, "wine", ["model=logreg,forest", "cv_folds=2", "steps=2"])
    assert all(r.env["data_paths"]["wine"].startswith(str(ws.objects)) for r in runs)
    with dask_agent(ws, cluster.address) as agent:
        for run in runs:
            wait_for(ended(ws, run.id), 300, explain(ws, run.id))
        done = [get_run(ws, r.id) for r in runs]
        assert [r.status for r in done] == ["finished", "finished"], explain(ws, runs[0].id)()
        assert all(latest_metrics(ws, r.id) for r in done)
        # one GPU per worker and a GPU per run: the two runs had to use both workers
        workers = {r.env["executor"]["worker"] for r in done}
        assert len(workers) == 2
        assert all(r.env["executor"]["resources"] == "gpus=1, memory=2GB" for r in done)
        shown = subprocess.run(
            [sys.executable, "-m", "dockyard.tui", "run", "show", str(runs[0].id)],
            env={**child_env(), "DOCKYARD_HOME": str(ws.home)},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert f"executor   dask {cluster.address} worker tcp://" in shown.stdout

        # more than any worker offers: failed at once, saying what to start
        toml.write_text(toml.read_text().replace("gpus = 1", "gpus = 2"))
        add_project(ws, project)
        (greedy,) = queue_runs(ws, "wine")
        wait_for(lambda: get_run(ws, greedy.id).status == "failed", 60, explain(ws, greedy.id))
        assert "offers GPU=2" in get_run(ws, greedy.id).error
        assert agent.poll() is None


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_cancel_through_the_store_and_a_dead_worker_on_a_dask_cluster(
    tmp_path: Path, cluster: Cluster
) -> None:
    ws = toy_workspace(tmp_path)
    with dask_agent(ws, cluster.address) as agent:
        # a cancel from a machine that cannot signal the worker's processes: the store only
        (first,) = queue_runs(ws, "toy")
        wait_for(lambda: bool(latest_metrics(ws, first.id)), 90, explain(ws, first.id))
        set_cancelling(ws, first.id)
        wait_for(lambda: get_run(ws, first.id).status == "cancelled", 30, explain(ws, first.id))
        # the run's process has the worker's environment, not the one Dask's nanny made
        # for the worker's own threads (one BLAS thread)
        expected = os.environ.get("OMP_NUM_THREADS", "unset")
        assert get_run(ws, first.id).tags["omp_threads"] == expected
        first_pid = get_run(ws, first.id).pid
        assert first_pid is not None
        wait_for(lambda: not pid_alive(first_pid), 15, lambda: "the supervisor exits")

        # the worker running a run dies: the run is lost, and queued again once
        (second,) = queue_runs(ws, "toy")
        wait_for(lambda: bool(latest_metrics(ws, second.id)), 90, explain(ws, second.id))
        supervisor = get_run(ws, second.id).pid
        assert supervisor is not None
        os.kill(parent_pid(supervisor), signal.SIGKILL)  # its worker process
        # the requeued run is queued right after the lost one is marked
        wait_for(lambda: "requeued" in get_run(ws, second.id).error, 60, explain(ws, second.id))
        lost = get_run(ws, second.id)
        assert lost.status == "lost"
        assert "Dask worker died" in lost.error
        wait_for(lambda: not pid_alive(supervisor), 15, lambda: "the supervisor dies with it")
        again = [r for r in list_runs(ws) if r.id > second.id]
        assert len(again) == 1 and again[0].env["requeue_of"] == second.id
        assert f"requeued as run {again[0].id}" in lost.error
        # the requeued run runs (the nanny restarted the worker); cancel it the usual way
        wait_for(lambda: bool(latest_metrics(ws, again[0].id)), 90, explain(ws, again[0].id))
        cancel_run(ws, again[0].id)
        wait_for(
            lambda: get_run(ws, again[0].id).status == "cancelled", 30, explain(ws, again[0].id)
        )
        assert agent.poll() is None
    cluster.wait_workers(2)


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs none /mnt"], capture_output=True
    )
    return result.returncode == 0


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_worker_blind_to_the_object_store_or_the_workspace_fails_the_run(
    tmp_path: Path,
) -> None:
    if not _can_unshare():
        pytest.skip("needs mount namespaces (unshare -m, as root) to hide the workspace")
    hidden = tmp_path / "shared"
    hidden.mkdir()
    # the object store on a share this worker does not mount; the workspace it sees
    ws = toy_workspace(tmp_path, objects=hidden / "objects")
    cluster = Cluster(tmp_path / "dask")
    try:
        address = cluster.start_scheduler()
        cluster.start_workers(1, hide=hidden)
        cluster.wait_workers(1)
        with dask_agent(ws, address) as agent:
            (run,) = queue_runs(ws, "toy", ["steps=1"])
            wait_for(lambda: get_run(ws, run.id).status == "failed", 60, explain(ws, run.id))
            error = get_run(ws, run.id).error
            assert f"cannot write the object store {hidden / 'objects'}; mount it" in error
            assert error in (ws.logs / f"run-{run.id}.log").read_text()
            shown = dockyard_cli(ws, "run", "show", str(run.id))
            assert "cannot write the object store" in shown.stdout
            assert agent.poll() is None  # it goes on serving
        # a workspace on the share: the same worker cannot see it at all
        blind_ws = toy_workspace(hidden)
        with dask_agent(blind_ws, address):
            (run,) = queue_runs(blind_ws, "toy", ["steps=1"])
            wait_for(
                lambda: get_run(blind_ws, run.id).status == "failed", 60, explain(blind_ws, run.id)
            )
            error = get_run(blind_ws, run.id).error
            assert f"cannot see the workspace folder {blind_ws.home}" in error
            assert "mount it at the same path on every worker" in error
    finally:
        cluster.stop()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_worker_without_dockyard_and_a_scheduler_that_goes_away(
    tmp_path: Path, pg_url: str
) -> None:
    """On a PostgreSQL store, as a team runs it: a worker whose Python lacks Dockyard fails
    the run with that reason (it used to shut down on the task's message, and the run
    waited for ever); the scheduler killed mid-run fails the run and stops the agent."""
    ws = toy_workspace(tmp_path, db=pg_url)
    cluster = Cluster(tmp_path / "dask")
    try:
        address = cluster.start_scheduler()
        bare = cluster.start_workers(1, without_dockyard=True)
        cluster.wait_workers(1)
        # a scheduler that answers does not hide a wrong password: one line, no lease
        refused = subprocess.run(
            [sys.executable, "-m", "dockyard.tui", "agent", "--scheduler", address],
            env={**child_env(), "DOCKYARD_HOME": str(ws.home),
                 "DOCKYARD_DB": pg_url.replace(":dockyard-test@", ":not-the-password@")},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert refused.returncode == 2
        assert refused.stderr.count("\n") == 1 and "(wrong password)" in refused.stderr
        assert "not-the-password" not in refused.stderr
        assert not agent_status(ws).alive
        with dask_agent(ws, address) as agent:
            (run,) = queue_runs(ws, "toy", ["steps=1"])
            wait_for(lambda: get_run(ws, run.id).status == "failed", 60, explain(ws, run.id))
            assert get_run(ws, run.id).error == (
                f"a worker of the Dask cluster at {address} cannot import dockyard: install "
                "the same Dockyard (pip install 'dockyard[dask]') on every worker"
            )
            assert agent.poll() is None  # it goes on serving
            assert cluster.worker_count() == 1  # and so does the worker

            cluster.start_workers(1)
            cluster.wait_workers(2)
            stop_group(bare)
            wait_for(lambda: cluster.worker_count() == 1, 60, lambda: "the bare worker left")
            (long,) = queue_runs(ws, "toy")
            wait_for(lambda: bool(latest_metrics(ws, long.id)), 90, explain(ws, long.id))
            supervisor = get_run(ws, long.id).pid
            assert supervisor is not None and cluster.scheduler is not None
            os.killpg(cluster.scheduler.pid, signal.SIGKILL)
            wait_for(lambda: agent.poll() is not None, 60, lambda: "the agent stops")
            _out, err = agent.communicate()
            assert agent.returncode == 1
            # the agent's log of what it did, then its one line; no traceback of Dask's
            # reconnection attempts in between
            assert "Traceback" not in err, err
            lines = err.strip().splitlines()
            assert lines[-2:] == [
                f"agent: run {long.id} failed: the Dask scheduler at {address} went away "
                "while the run was on it",
                f"dockyard: error: the Dask scheduler at {address} went away; "
                "queued runs wait for the next agent",
            ], err
            info = get_run(ws, long.id)
            assert info.status == "failed"
            assert (
                info.error == f"the Dask scheduler at {address} went away while the run was on it"
            )
            wait_for(lambda: not pid_alive(supervisor), 30, lambda: "the supervisor stops")
            assert not agent_status(ws).alive  # the lease was given back
            listed = dockyard_cli(ws, "run", "list")
            assert listed.returncode == 0 and "failed" in listed.stdout
    finally:
        cluster.stop()


@pytest.mark.slow
def test_a_scheduler_that_is_down_stops_the_agent_at_start(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    address = f"tcp://127.0.0.1:{free_port()}"
    env = {**child_env(), "DOCKYARD_HOME": str(ws.home)}
    result = subprocess.run(
        [sys.executable, "-m", "dockyard.tui", "agent", "--scheduler", address],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"dockyard: error: cannot reach the Dask scheduler at {address}")
    assert "start it (dask scheduler) or fix --scheduler" in lines[0]
    assert not agent_status(ws).alive  # it took no lease

    # a scheduler that goes away while the agent has nothing on it: the same, exit 1
    cluster = Cluster(tmp_path / "dask")
    try:
        address = cluster.start_scheduler()
        with dask_agent(ws, address) as agent:
            assert cluster.scheduler is not None
            os.killpg(cluster.scheduler.pid, signal.SIGKILL)
            wait_for(lambda: agent.poll() is not None, 60, lambda: "the agent stops")
            _out, err = agent.communicate()
    finally:
        cluster.stop()
    assert agent.returncode == 1
    assert "distributed" not in err and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == (
        f"dockyard: error: the Dask scheduler at {address} went away; "
        "queued runs wait for the next agent"
    )
    assert not agent_status(ws).alive


# -- without a cluster ----------------------------------------------------------------------


def test_resources_and_runs_are_checked_strictly_with_key_paths(tmp_path: Path) -> None:
    from dockyard.core.projects import ProjectFileError, parse_project_file

    file = tmp_path / "dockyard.toml"
    file.write_text(
        '[project]\nname = "p"\nentry = "python t.py"\n'
        '[resources]\ngpus = -1\nmemory = "8 parsecs"\ncpus = 2\n'
        '[runs]\nrequeue_lost = "yes"\n'
    )
    with pytest.raises(ProjectFileError) as caught:
        parse_project_file(file)
    problems = dict(caught.value.problems)
    assert set(problems) == {
        "resources.gpus", "resources.memory", "resources.cpus", "runs.requeue_lost",
    }  # fmt: skip
    assert "whole number of GPUs" in problems["resources.gpus"]
    assert "not an amount of memory" in problems["resources.memory"]
    assert problems["resources.cpus"] == "unknown key (expected one of gpus, memory)"
    assert problems["runs.requeue_lost"] == "must be true or false"

    file.write_text(
        '[project]\nname = "p"\nentry = "python t.py"\n'
        '[resources]\ngpus = 1\nmemory = "1.5GiB"\n[runs]\nrequeue_lost = true\n'
    )
    spec = parse_project_file(file)
    assert (spec.resources.gpus, spec.resources.memory_bytes) == (1, int(1.5 * 2**30))
    assert spec.requeue_lost
    from dockyard.core.projects import ProjectSpec

    assert ProjectSpec.from_json(spec.to_json()) == spec


def test_a_project_without_resources_keeps_the_spec_it_had(tmp_path: Path) -> None:
    """Adding the fields must not change the stored spec (and hash) of every project."""
    from dockyard.core.projects import parse_project_file

    text = parse_project_file(SAMPLES / "wine" / "dockyard.toml").to_json()
    assert "resources" not in text and "requeue_lost" not in text


def test_the_agent_settings_file_is_read_and_checked(tmp_path: Path) -> None:
    from dockyard.core.errors import InputError
    from dockyard.core.executors import read_agent_settings

    ws = init_workspace(tmp_path)
    assert read_agent_settings(ws).executor == "local"
    settings = ws.home / "settings.toml"
    settings.write_text(
        '[agent]\nexecutor = "dask"\nscheduler = "tcp://h:8786"\n[objects]\npath = "o"\n'
    )
    chosen = read_agent_settings(ws)
    assert (chosen.executor, chosen.scheduler) == ("dask", "tcp://h:8786")
    assert read_agent_settings(ws, executor="local").executor == "local"  # the flag wins
    settings.write_text('[agent]\nexecutor = "local"\n')
    flagged = read_agent_settings(ws, scheduler="tcp://other:8786")
    assert (flagged.executor, flagged.scheduler) == ("dask", "tcp://other:8786")
    for text, message in (
        ('[agent]\nexecutor = "ray"\n', "agent.executor: 'ray' is not one of local, dask"),
        ('[agent]\nschedular = "tcp://h:1"\n', "agent.schedular: unknown key"),
        ('[agent]\nexecutor = "dask"\n', "the dask executor needs its scheduler's address"),
        ("[agent]\nconcurrency = 0\n", "agent.concurrency: must be a whole number"),
    ):
        settings.write_text(text)
        with pytest.raises(InputError, match=message):
            read_agent_settings(ws)


def test_a_lost_run_is_requeued_once_when_its_project_asks(tmp_path: Path) -> None:
    from sqlmodel import Session

    from dockyard.core.runs import requeue_lost_run

    ws = toy_workspace(tmp_path)

    def lose(run_id: int) -> None:
        with Session(engine_for(ws)) as session:
            assert claim_status(session, run_id, "queued", "lost", error="gone")
            session.commit()

    (run,) = queue_runs(ws, "toy", ["steps=7"])
    assert requeue_lost_run(ws, run.id) is None  # queued, not lost
    lose(run.id)
    again = requeue_lost_run(ws, run.id)
    assert again is not None
    requeued = get_run(ws, again)
    assert (requeued.status, requeued.params["steps"], requeued.env["requeue_of"]) == (
        "queued", "7", run.id,
    )  # fmt: skip
    assert get_run(ws, run.id).error == f"gone; requeued as run {again}"
    lose(again)
    assert requeue_lost_run(ws, again) is None  # once


@pytest.mark.slow
def test_the_local_executor_notes_the_resources_it_cannot_enforce(tmp_path: Path) -> None:
    from dockyard.core.agent import Agent

    ws = toy_workspace(tmp_path)
    toml = tmp_path / "toy" / "dockyard.toml"
    toml.write_text(toml.read_text() + '\n[resources]\ngpus = 1\nmemory = "8GB"\n')
    add_project(ws, tmp_path / "toy")
    (run,) = queue_runs(ws, "toy", ["steps=1"])
    Agent(ws, concurrency=1).serve(until_idle=True)
    info = get_run(ws, run.id)
    assert info.status == "finished", explain(ws, run.id)()
    assert info.env["executor"] == {
        "name": "local",
        "resources": "gpus=1, memory=8GB",
        "note": "not enforced by the local executor",
    }
    shown = subprocess.run(
        [sys.executable, "-m", "dockyard.tui", "run", "show", str(run.id)],
        env={**child_env(), "DOCKYARD_HOME": str(ws.home)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (
        "executor   local (resources gpus=1, memory=8GB: not enforced by the local executor)"
        in shown.stdout
    )


@pytest.mark.slow
def test_a_cancel_recorded_in_the_store_alone_stops_a_local_run(tmp_path: Path) -> None:
    """The supervisor reads a cancel from the store (its heartbeat), so a cancel from a
    machine that cannot signal it still stops the run, whatever the executor."""
    from dockyard.core.agent import Agent

    ws = toy_workspace(tmp_path)
    (run,) = queue_runs(ws, "toy")
    agent = Agent(ws, concurrency=1)
    agent.acquire()
    try:
        agent.start_queued()
        wait_for(lambda: bool(latest_metrics(ws, run.id)), 60, explain(ws, run.id))
        set_cancelling(ws, run.id)
        wait_for(lambda: get_run(ws, run.id).status == "cancelled", 30, explain(ws, run.id))
    finally:
        agent.release()


def test_a_cluster_that_cannot_import_dockyard_is_named_as_such() -> None:
    """What Dask raises when its scheduler or a worker lacks Dockyard: a RuntimeError
    caused by the ModuleNotFoundError (seen with a real cluster; a test cluster always has
    Dockyard on its path, so the wrapped error is built here)."""
    from dockyard.core.dask_executor import _missing_module

    try:
        try:
            import dockyard_is_not_here  # noqa: F401
        except ModuleNotFoundError as exc:
            raise RuntimeError("Error during deserialization of the task graph.") from exc
    except RuntimeError as wrapped:
        assert _missing_module(wrapped) == "dockyard_is_not_here"
    assert _missing_module(RuntimeError("other")) is None
