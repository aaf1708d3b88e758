"""The Dask executor: each run's supervisor runs on a worker of an existing Dask cluster.

The agent claims a queued run as before (``host`` = :data:`PENDING_HOST` until a worker
takes it) and submits :func:`run_on_worker` to the cluster, with the project's
``[resources]`` as Dask worker resources (``GPU``, ``MEMORY``). On the worker the task
checks that it can see the workspace, the project folder and the run's dataset objects
(the same paths as the agent's: one machine, or a shared mount), takes the run with a
compare-and-set of its ``host`` (so a task Dask re-runs after its worker died never
starts the run twice), then runs ``python -m dockyard.core.supervisor RUN_ID`` as a
subprocess and waits for it. The supervisor does what it does under the local executor;
it dies with the worker process (``DOCKYARD_DIE_WITH_PARENT``), so a dead worker leaves
no run behind that Dask no longer counts.

This module is imported only when the Dask executor is used; ``distributed`` only inside
:class:`DaskExecutor` and on the worker.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.core.errors import DockyardError, InputError
from dockyard.core.executors import Ended, Launch
from dockyard.core.workspace import DB_FILENAME, OBJECTS_ENV, Workspace, host_name

if TYPE_CHECKING:
    from dockyard.core.projects import ResourcesSpec

#: ``host`` of a run handed to the cluster that no worker has taken yet (not a hostname:
#: a hostname cannot hold a colon).
PENDING_HOST = "dask:pending"
CONNECT_SECONDS = 10.0
#: Dask worker resources a project's ``[resources]`` maps to; workers declare them with
#: ``dask worker --resources "GPU=2,MEMORY=64e9"``.
GPU_RESOURCE = "GPU"
MEMORY_RESOURCE = "MEMORY"
#: What the cluster runs for a run: ``run_on_worker(*args)``, named by an expression rather
#: than handed over as a function. Dask pickles a function by reference, and a worker
#: whose Python cannot import that reference fails while *reading the scheduler's
#: message*: the worker shuts down and the run waits forever for another. ``eval`` is
#: something every worker can read; a missing Dockyard is then the task's own
#: ``ModuleNotFoundError``, which fails the run with a reason. The expression is a
#: constant: only the arguments are data.
TASK_EXPRESSION = (
    "__import__('dockyard.core.dask_executor', fromlist=['run_on_worker']).run_on_worker(*args)"
)
_ADDRESS_RE = re.compile(r"^(tcp|tls|ws|wss|ucx|inproc)://\S+$")


class NoWorkerError(DockyardError):
    """No worker of the cluster offers what a run asks for."""


class _ClientGaveUp(logging.Filter):
    """Drops the client's own report that it gave up on a scheduler that went away (an
    ERROR record that would come before the agent's one line saying the same)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Failed to reconnect to scheduler")


def dask_resources(resources: ResourcesSpec | None) -> dict[str, float]:
    """A project's ``[resources]`` as Dask worker resources (``{}``: anything will do)."""
    wanted: dict[str, float] = {}
    if resources is None:
        return wanted
    if resources.gpus:
        wanted[GPU_RESOURCE] = float(resources.gpus)
    if resources.memory_bytes is not None:
        wanted[MEMORY_RESOURCE] = float(resources.memory_bytes)
    return wanted


class DaskExecutor:
    """Hands claimed runs to an existing Dask cluster through a ``distributed.Client``."""

    name = "dask"
    pending_host: str | None = PENDING_HOST

    def __init__(self, workspace: Workspace, scheduler: str) -> None:
        if not _ADDRESS_RE.match(scheduler):
            raise InputError(
                f"{scheduler[:80]!r} is not a Dask scheduler address; write tcp://HOST:8786"
            )
        try:
            from distributed import Client as client_class
        except ImportError:
            raise InputError(
                "the dask executor needs the distributed package on this machine and on "
                "every worker: pip install 'dockyard[dask]'"
            ) from None
        self.workspace = workspace
        self.scheduler = scheduler
        client_log = logging.getLogger("distributed.client")
        if not any(isinstance(f, _ClientGaveUp) for f in client_log.filters):
            client_log.addFilter(_ClientGaveUp())
        try:
            connect: Any = client_class  # distributed is untyped
            self.client: Any = connect(scheduler, timeout=CONNECT_SECONDS, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise InputError(
                f"cannot reach the Dask scheduler at {scheduler} ({_first_line(exc)}); "
                "start it (dask scheduler) or fix --scheduler"
            ) from None
        self.futures: dict[int, Any] = {}
        self.withdrawn: set[int] = set()
        self._broken: str | None = None

    # -- what the agent asks ----------------------------------------------------------

    def slots(self) -> int:
        """Threads of the cluster's workers now (at least one, so a cluster whose workers
        have not joined yet still takes a run, which waits for them)."""
        try:
            return max(1, int(sum(self.client.nthreads().values())))
        except Exception:  # a scheduler that went away is seen by poll()
            return 1

    def record(self, launch: Launch) -> dict[str, Any]:
        record: dict[str, Any] = {"name": self.name, "scheduler": self.scheduler}
        if launch.resources:
            record["resources"] = launch.resources.describe()
        return record

    def start(self, launch: Launch) -> int | None:
        wanted = dask_resources(launch.resources)
        if wanted:
            self._check_offered(launch, wanted)
        home_db = self.workspace.home / DB_FILENAME
        db_url = None if self.workspace.db_url == f"sqlite:///{home_db}" else self.workspace.db_url
        args = (
            str(self.workspace.home),
            db_url,
            launch.run_id,
            launch.project_path,
            launch.data_paths,
            # a configured object store is passed on: the worker has none of the agent's
            # environment, and must use the same folder (mounted at the same path)
            str(self.workspace.objects_root) if self.workspace.objects_root else None,
        )
        self.futures[launch.run_id] = self.client.submit(
            eval,
            TASK_EXPRESSION,
            {"args": args},
            key=f"dockyard-run-{launch.run_id}-{uuid.uuid4().hex[:8]}",
            pure=False,
            resources=wanted or None,
        )
        return None  # the supervisor's pid is written by the supervisor, on the worker

    def in_flight(self) -> set[int]:
        return set(self.futures)

    def poll(self) -> list[Ended]:
        ended: list[Ended] = []
        for run_id, future in list(self.futures.items()):
            if not future.done():
                continue
            del self.futures[run_id]
            if run_id in self.withdrawn:
                self.withdrawn.discard(run_id)
                continue
            outcome = self._outcome(run_id, future)
            if outcome is not None:
                ended.append(outcome)
        return ended

    def withdraw(self, run_id: int) -> None:
        future = self.futures.get(run_id)
        if future is not None:
            self.withdrawn.add(run_id)
            future.cancel()

    def broken(self) -> str | None:
        if self._broken is None and self.client.status in ("closing", "closed"):
            self._broken = f"the Dask scheduler at {self.scheduler} went away"
        if self._broken is not None:
            # the client's own reconnection attempts would follow our one line with
            # pages of tracebacks saying the same thing; Dask's logging config gives
            # some of its loggers (distributed.client) a level of their own, so the
            # parent's level alone does not silence them
            for name in ["distributed", *logging.root.manager.loggerDict]:
                if name == "distributed" or name.startswith("distributed."):
                    logging.getLogger(name).setLevel(logging.CRITICAL)
        return self._broken

    def close(self) -> None:
        # runs a worker is executing go on (Dask cannot stop a running task, and the
        # supervisor must record its outcome); the agent has put the others back in the queue
        self.futures.clear()
        try:
            self.client.close(timeout=5)
        except Exception as exc:  # a scheduler already gone: nothing left to close
            print(f"dask client not closed cleanly: {_first_line(exc)}", file=sys.stderr)

    # -- helpers ----------------------------------------------------------------------

    def _check_offered(self, launch: Launch, wanted: dict[str, float]) -> None:
        """Refuse at once a run no worker could ever take: Dask would hold it forever."""
        workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
        for info in workers.values():
            offered = info.get("resources") or {}
            if all(offered.get(name, 0) >= amount for name, amount in wanted.items()):
                return
        assert launch.resources is not None
        asked = ", ".join(f"{k}={v:g}" for k, v in wanted.items())
        raise NoWorkerError(
            f"no worker of the Dask cluster at {self.scheduler} offers {asked} "
            f"([resources] {launch.resources.describe()}); start one with "
            f'dask worker {self.scheduler} --resources "{asked}"'
        )

    def _outcome(self, run_id: int, future: Any) -> Ended | None:
        from distributed import KilledWorker

        if future.status == "cancelled":
            # the client cancels every future when it loses the scheduler
            self._broken = f"the Dask scheduler at {self.scheduler} went away"
            return Ended(run_id, "failed", f"{self._broken} while the run was on it")
        if future.status == "error":
            error = future.exception()
            if isinstance(error, KilledWorker):
                return Ended(run_id, "lost", "its Dask worker died (Dask gave up on the task)")
            missing = _missing_module(error)
            if missing is not None:
                return Ended(
                    run_id,
                    "failed",
                    f"a worker of the Dask cluster at {self.scheduler} cannot import "
                    f"{missing}: install the same Dockyard (pip install 'dockyard[dask]') "
                    "on every worker",
                )
            return Ended(
                run_id,
                "failed",
                f"the Dask cluster could not run it: {type(error).__name__}: {_first_line(error)}",
            )
        result: dict[str, Any] = future.result()
        kind = result.get("outcome")
        if kind == "unreachable":
            return Ended(run_id, "failed", str(result["reason"]))
        if kind == "superseded":
            # only a re-run after the worker that had taken the run died gets here
            return Ended(run_id, "lost", "its Dask worker died while running it")
        code = result.get("code")
        if code:
            worker = result.get("worker", "?")
            return Ended(
                run_id, "lost", f"its supervisor exited with {code} on Dask worker {worker}"
            )
        return None


# -- on the worker ------------------------------------------------------------------------


def run_on_worker(
    home: str,
    db_url: str | None,
    run_id: int,
    project_path: str,
    data_paths: dict[str, str],
    objects: str | None = None,
) -> dict[str, Any]:
    """The Dask task: check what the run needs is visible here, take the run, and run its
    supervisor to the end. Returns ``{"outcome": "ran", "code": ...}``, or
    ``"unreachable"`` with the reason, or ``"superseded"`` when another attempt took it."""
    worker = _worker_address()
    host = host_name()
    problem = unreachable(home, db_url, project_path, data_paths, objects)
    if problem is not None:
        return {
            "outcome": "unreachable",
            "reason": f"Dask worker {worker} on {host} {problem}; mount it at the same "
            "path on every worker",
        }
    workspace = Workspace(
        Path(home),
        db_url or f"sqlite:///{Path(home) / DB_FILENAME}",
        objects_root=Path(objects) if objects else None,
        objects_from=OBJECTS_ENV if objects else None,
    )
    if not take_run(workspace, run_id, host, worker):
        return {"outcome": "superseded"}
    env = {
        **run_environment(os.environ),
        "DOCKYARD_HOME": home,
        "DOCKYARD_DB": workspace.db_url,
        **({OBJECTS_ENV: objects} if objects else {}),
        # the supervisor dies with this worker process, as its training process dies with it
        "DOCKYARD_DIE_WITH_PARENT": str(os.getpid()),
    }
    with (workspace.logs / f"run-{run_id}.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "dockyard.core.supervisor", str(run_id)],
            env=env,
            cwd=workspace.root,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            # its own process group, as under the local executor: a cancel on this host
            # signals the group, and the agent kills it if it finds the supervisor gone
            start_new_session=True,
        )
    return {"outcome": "ran", "code": process.wait(), "worker": worker}


def run_environment(worker_env: Mapping[str, str]) -> dict[str, str]:
    """The worker's environment less what Dask's nanny set for the worker's own threads
    (``OMP_NUM_THREADS=1`` and the like, ``distributed.nanny.pre-spawn-environ``): the run
    is a process of its own and gets the environment the worker was started with, as a
    local run gets the agent's, not one BLAS thread whatever the machine has."""
    try:
        import dask.config

        nanny = dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {}
    except ImportError:
        nanny = {}
    return {
        key: value
        for key, value in worker_env.items()
        if key not in nanny or value != str(nanny[key])
    }


def unreachable(
    home: str,
    db_url: str | None,
    project_path: str,
    data_paths: dict[str, str],
    objects: str | None = None,
) -> str | None:
    """What of the run's workspace this machine cannot see or write, or None."""
    folder = Path(home)
    if not folder.is_dir():
        return f"cannot see the workspace folder {home}"
    if db_url is None and not (folder / DB_FILENAME).is_file():
        return f"cannot see the store {folder / DB_FILENAME}"
    logs = folder / "logs"
    if not os.access(logs, os.W_OK | os.X_OK):
        return f"cannot write the workspace's logs folder {logs}"
    store = Path(objects) if objects else folder / "objects"
    if not store.is_dir() or not os.access(store, os.W_OK | os.X_OK):
        return f"cannot write the object store {store}"
    if not Path(project_path).is_dir():
        return f"cannot see the project folder {project_path}"
    for name, path in sorted(data_paths.items()):
        if not os.access(path, os.R_OK):
            return f"cannot read dataset {name}'s version at {path} (the object store)"
    return None


def take_run(workspace: Workspace, run_id: int, host: str, worker: str) -> bool:
    """Move the run from :data:`PENDING_HOST` to this host, once: False when the run is no
    longer waiting for a worker (a previous attempt took it, or it was cancelled or put
    back in the queue meanwhile)."""
    from sqlalchemy import update
    from sqlmodel import Session, col

    from dockyard.core.workspace import engine_for
    from dockyard.store.models import Run

    with Session(engine_for(workspace)) as session:
        taken: Any = session.execute(
            update(Run)
            .where(
                col(Run.id) == run_id,
                col(Run.host) == PENDING_HOST,
                col(Run.status).in_(("running", "cancelling")),
            )
            .values(host=host)
        )
        if taken.rowcount != 1:
            session.rollback()
            return False
        run = session.get(Run, run_id)
        assert run is not None
        env = json.loads(run.env_json or "{}")
        env.setdefault("executor", {})["worker"] = worker
        run.env_json = json.dumps(env)
        session.add(run)
        session.commit()
        return True


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):  # called outside a worker (tests of the task itself)
        return "(no worker)"


def _missing_module(error: BaseException | None) -> str | None:
    """The module a failure on the cluster could not import (Dask wraps it), or None."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, ModuleNotFoundError) and error.name:
            return error.name
        error = error.__cause__ or error.__context__
        seen += 1
    return None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__
