"""Where the agent executes the runs it claims: local processes (the default) or a Dask cluster.

The agent decides *when* a run starts (the queue, the concurrency limit, the lease); an
executor decides *where*: :class:`LocalExecutor` starts ``python -m
dockyard.core.supervisor RUN_ID`` as a detached child of the agent, and
``core.dask_executor.DaskExecutor`` submits a task that starts the same supervisor on a
worker of an existing Dask cluster. Either way the supervisor records everything; an
executor only reports the runs that ended without their supervisor recording the outcome.

Nothing here imports Dask: ``core.dask_executor`` is imported only when the Dask executor
is chosen (``dockyard agent --executor dask`` or ``[agent] executor = "dask"`` in
``.dockyard/settings.toml``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from dockyard.core.errors import InputError
from dockyard.core.settings import EXECUTORS

if TYPE_CHECKING:
    from dockyard.core.projects import ResourcesSpec
    from dockyard.core.workspace import Workspace


@dataclass(frozen=True)
class AgentSettings:
    """How the workspace's agent executes runs: flags over ``[agent]`` of the settings."""

    executor: str = "local"
    scheduler: str | None = None
    concurrency: int | None = None


@dataclass(frozen=True)
class Launch:
    """What an executor needs to start a claimed run, read from the store by the agent."""

    run_id: int
    project: str
    project_path: str
    #: dataset name -> the immutable object the script reads (must be visible where it runs)
    data_paths: dict[str, str] = field(default_factory=dict)
    resources: ResourcesSpec | None = None


@dataclass(frozen=True)
class Ended:
    """A run whose execution ended without its supervisor recording the outcome: the
    agent sets ``status`` (``failed``, ``lost`` or ``cancelled``) with ``error``."""

    run_id: int
    status: str
    error: str


class Executor(Protocol):
    """What the agent asks of an executor; see :class:`LocalExecutor` for the reference."""

    name: str
    #: the ``host`` a claimed run gets until its supervisor writes its own
    pending_host: str | None

    def slots(self) -> int:
        """Runs it can execute at once, when the user did not say."""

    def record(self, launch: Launch) -> dict[str, Any]:
        """What the run's record says about where and how it executes (``env.executor``)."""

    def start(self, launch: Launch) -> int | None:
        """Start the claimed run; the supervisor's pid when known here. Raises
        ``DockyardError`` when the run cannot be started (the agent fails it, named)."""

    def in_flight(self) -> set[int]:
        """Runs this executor started whose execution has not ended."""

    def poll(self) -> list[Ended]:
        """Runs whose execution ended since the last poll without a recorded outcome."""

    def withdraw(self, run_id: int) -> None:
        """Forget a run that will not start after all (cancelled before a worker took it)."""

    def broken(self) -> str | None:
        """Why this executor can start nothing more (the agent stops), or None."""

    def close(self) -> None:
        """Let go of what the executor holds; running supervisors go on."""


def read_agent_settings(
    workspace: Workspace,
    executor: str | None = None,
    scheduler: str | None = None,
    concurrency: int | None = None,
) -> AgentSettings:
    """The agent's settings: the given flags, else ``[agent]`` of ``.dockyard/settings.toml``
    (read and checked by ``core.settings``), else the local executor. A scheduler without
    an executor means Dask.
    """
    from dockyard.core.settings import read_settings

    settings = read_settings(workspace.home)
    path = settings.path
    chosen_scheduler = scheduler or settings.agent_scheduler
    # a --scheduler flag says "Dask" even where the file says local
    chosen = executor or ("dask" if scheduler else settings.agent_executor) or "local"
    if chosen not in EXECUTORS:
        where = "--executor" if executor else settings.where("agent.executor")
        raise InputError(f"{where}: {chosen!r} is not one of {', '.join(EXECUTORS)}")
    if chosen == "dask" and not chosen_scheduler:
        raise InputError(
            "the dask executor needs its scheduler's address: --scheduler tcp://HOST:8786, "
            f'or scheduler = "tcp://HOST:8786" under [agent] in {path}'
        )
    if chosen == "local" and scheduler:
        raise InputError("--scheduler applies to the dask executor; add --executor dask")
    return AgentSettings(
        executor=chosen,
        scheduler=chosen_scheduler if chosen == "dask" else None,
        concurrency=concurrency if concurrency is not None else settings.agent_concurrency,
    )


def make_executor(workspace: Workspace, settings: AgentSettings) -> Executor:
    """The executor the settings name, connected and ready (a Dask scheduler that cannot
    be reached is an ``InputError`` here, before the agent takes the lease)."""
    if settings.executor == "dask":
        from dockyard.core.dask_executor import DaskExecutor

        assert settings.scheduler is not None  # read_agent_settings insists
        return DaskExecutor(workspace, settings.scheduler)
    return LocalExecutor(workspace)


class LocalExecutor:
    """Each run's supervisor is a detached child process of the agent, on this machine."""

    name = "local"
    pending_host: str | None = None

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.children: dict[int, subprocess.Popen[bytes]] = {}

    def slots(self) -> int:
        return os.cpu_count() or 1

    def record(self, launch: Launch) -> dict[str, Any]:
        record: dict[str, Any] = {"name": self.name}
        if launch.resources:
            # a local process gets whatever the machine has: say so rather than pretend
            record["resources"] = launch.resources.describe()
            record["note"] = "not enforced by the local executor"
        return record

    def start(self, launch: Launch) -> int | None:
        process = spawn_detached(
            self.workspace,
            ["dockyard.core.supervisor", str(launch.run_id)],
            f"run-{launch.run_id}.log",
        )
        self.children[launch.run_id] = process
        return process.pid

    def in_flight(self) -> set[int]:
        return set(self.children)

    def poll(self) -> list[Ended]:
        for run_id, process in list(self.children.items()):
            code = process.poll()
            if code is not None:
                del self.children[run_id]
                if code != 0:
                    # the supervisor itself failed (not the run: its exit code is recorded
                    # by the supervisor), and has failed the run if it could; if not, the
                    # agent's check for vanished supervisors settles the run's status
                    print(f"supervisor of run {run_id} exited with {code}", file=sys.stderr)
        return []

    def withdraw(self, run_id: int) -> None:
        self.children.pop(run_id, None)

    def broken(self) -> str | None:
        return None

    def close(self) -> None:
        self.children.clear()


def spawn_detached(
    workspace: Workspace, module_args: list[str], log_name: str
) -> subprocess.Popen[bytes]:
    """``python -m MODULE ARGS`` in a session of its own (no terminal, so no hang-up
    reaches it), output appended to ``logs/LOG_NAME``, with the workspace in its env."""
    workspace.logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DOCKYARD_HOME": str(workspace.home), "DOCKYARD_DB": workspace.db_url}
    with (workspace.logs / log_name).open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", *module_args],
            env=env,
            cwd=workspace.root,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
