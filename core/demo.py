"""The demo workspace: the bundled sample projects copied and registered, with their
training data registered as the first version of each dataset."""

from __future__ import annotations

import contextlib
import os
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from dockyard.core.datasets import register_dataset
from dockyard.core.errors import DockyardError
from dockyard.core.projects import PROJECT_FILE, ProjectInfo, add_project
from dockyard.core.workspace import Workspace, init_workspace


def samples_root() -> Path:
    """The folder holding the sample projects: ``dockyard/sample_projects``, package data in
    an installed wheel and a link to the repository's ``sample_projects/`` in a checkout."""
    folder = Path(str(resources.files("dockyard") / "sample_projects"))
    if not folder.is_dir():
        raise DockyardError(
            f"the sample projects are missing from this installation ({folder}); reinstall Dockyard"
        )
    return folder


def sample_project_dirs() -> list[Path]:
    """The bundled sample projects, by name."""
    return sorted(p for p in samples_root().iterdir() if (p / PROJECT_FILE).is_file())


def prepare_demo(directory: Path) -> tuple[Workspace, list[ProjectInfo]]:
    """Create or reuse a workspace in ``directory`` with every sample project registered.

    Idempotent: projects already copied are left as the user may have edited them.
    """
    workspace = init_workspace(directory)
    projects_dir = workspace.root / "projects"
    projects_dir.mkdir(exist_ok=True)
    registered = []
    for sample in sample_project_dirs():
        target = projects_dir / sample.name
        if not target.exists():
            shutil.copytree(sample, target, ignore=shutil.ignore_patterns("__pycache__", "outputs"))
        project = add_project(workspace, target)
        for dataset in project.spec.datasets:
            # idempotent: identical bytes make no new version
            register_dataset(
                workspace, dataset.name, target / dataset.path, "sample data", author="demo"
            )
        registered.append(project)
    _declare_environments(workspace)
    return workspace, registered


def _declare_environments(workspace: Workspace) -> None:
    """``staging`` (no approval) and ``production`` (one approval, by a member of this
    user's primary group other than the requester), unless already declared."""
    import grp

    from dockyard.core.environments import list_environments, set_environment

    declared = {e.name for e in list_environments(workspace)}
    if "staging" not in declared:
        set_environment(workspace, "staging", approvals=0)
    if "production" not in declared:
        group = grp.getgrgid(os.getgid()).gr_name
        set_environment(workspace, "production", approvals=1, approvers=(f"@{group}",))


# --- the demo's models: trained, deployed and watched in the background ----------------------

#: who requests the demo's deployments. Not an OS account (identity is the process's uid,
#: architecture decision 24): it only names, in the audit log, the step the demo took for
#: its user, so that the user's own approval of it satisfies the four-eyes rule unchanged.
DEMO_ACTOR = "dockyard-demo"
#: the background step's pid, so a second ``dockyard demo`` does not start another
FINISHER_PID = "demo-finisher.pid"
#: how long the background step waits for the demo's training runs
TRAINING_TIMEOUT = 900.0


def demo_run_ids(workspace: Workspace, projects: list[ProjectInfo]) -> dict[str, int]:
    """The demo run of each sample project: its first run, queued now if it has none.

    Idempotent: a project that has any run already gets no new one."""
    from dockyard.core.runs import list_runs, queue_runs

    runs = {}
    for project in projects:
        existing = list_runs(workspace, project=project.name, limit=10_000)
        if existing:
            runs[project.name] = min(r.id for r in existing)
        else:
            runs[project.name] = queue_runs(workspace, project.name)[0].id
    return runs


def demo_complete(workspace: Workspace, projects: list[ProjectInfo]) -> bool:
    """Whether every sample's model runs in production and each of its monitors has a result."""
    from dockyard.core.deployments import deployment_status
    from dockyard.core.monitoring import list_monitors

    live = {(d.target, d.model) for d in deployment_status(workspace)}
    if any(("production", p.name) not in live for p in projects):
        return False
    names = {p.name for p in projects}
    return all(m.last_status is not None for m in list_monitors(workspace) if m.project in names)


def finisher_alive(workspace: Workspace) -> bool:
    from dockyard.core.agent import pid_alive

    try:
        pid = int((workspace.home / FINISHER_PID).read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid_alive(pid)  # no /proc: trust the pid
    return b"dockyard.core.demo" in cmdline


def wait_for_finisher(workspace: Workspace, timeout: float = TRAINING_TIMEOUT) -> None:
    """Return when no background step of the demo is at work (or after ``timeout``)."""
    import time

    deadline = time.monotonic() + timeout
    while finisher_alive(workspace) and time.monotonic() < deadline:
        time.sleep(0.2)


def start_demo_models(workspace: Workspace, projects: list[ProjectInfo]) -> bool:
    """Queue each sample's demo run, make sure an agent runs them, and start the background
    step that deploys and monitors them (:func:`finish_demo`). Returns False, starting
    nothing, when the demo is complete or its background step is already at work."""
    from dockyard.core.agent import ensure_agent
    from dockyard.core.executors import spawn_detached

    if finisher_alive(workspace) or demo_complete(workspace, projects):
        return False
    demo_run_ids(workspace, projects)
    ensure_agent(workspace)
    process = spawn_detached(workspace, ["dockyard.core.demo"], "demo.log")
    (workspace.home / FINISHER_PID).write_text(f"{process.pid}\n")
    return True


def finish_demo(
    workspace: Workspace,
    projects: list[ProjectInfo],
    timeout: float = TRAINING_TIMEOUT,
    say: Any = print,
) -> None:
    """Wait for each sample's demo run, then register its model, deploy it to ``staging``
    (no approval) and ``production`` (requested as :data:`DEMO_ACTOR`, approved as the user
    running the demo) and run the project's monitors once on its ``incoming/`` batches.

    Every step is skipped when already done, so it can be run again after an interruption.
    """
    import time

    from dockyard.core.monitoring import list_monitors, run_monitor
    from dockyard.core.runs import FINAL, get_run

    deadline = time.monotonic() + timeout
    waiting = demo_run_ids(workspace, projects)
    while waiting:
        for name, run_id in list(waiting.items()):
            run = get_run(workspace, run_id)
            if run.status in FINAL:
                del waiting[name]
                if run.status != "finished":
                    say(f"{name}: run {run_id} {run.status}; its model is not deployed")
                elif _deploy_demo_model(workspace, name, run_id, say):
                    for monitor in list_monitors(workspace, project=name):
                        for result in run_monitor(workspace, monitor.id):
                            say(f"{name}/{monitor.name}: {result.batch_path}: {result.status}")
        if waiting:
            if time.monotonic() > deadline:
                names = ", ".join(sorted(waiting))
                raise DockyardError(f"the demo's runs of {names} did not finish in {timeout:.0f} s")
            time.sleep(0.5)


def _deploy_demo_model(workspace: Workspace, name: str, run_id: int, say: Any) -> bool:
    """Register, then deploy to staging and production; False when production waits."""
    from dockyard.core.deployments import (
        approve_request,
        deployment_status,
        list_requests,
        request_deployment,
    )
    from dockyard.core.environments import NotPermittedError
    from dockyard.core.errors import NotFoundError
    from dockyard.core.registry import list_versions, register_version

    try:
        versions = [v for v in list_versions(workspace, name) if v.run_id == run_id]
    except NotFoundError:
        versions = []  # no model of that name yet
    if versions:
        version = versions[0]
    else:
        version = register_version(workspace, run_id, name, "trained by the demo")
        say(f"{name}: registered {version.ref} from run {run_id}")
    live = {(d.target, d.model) for d in deployment_status(workspace)}
    if ("staging", name) not in live:
        request_deployment(workspace, version.ref, "staging", "demo", actor=DEMO_ACTOR)
    if ("production", name) in live:
        return True
    pending = [
        r
        for r in list_requests(workspace, status="pending", env="production")
        if r.model == name and r.version == version.version
    ]
    if pending:
        request_id = pending[0].id
    else:
        request_id = request_deployment(
            workspace, version.ref, "production", "demo", actor=DEMO_ACTOR
        ).request.id
    try:
        approve_request(workspace, request_id, "approved by `dockyard demo` for its sample model")
    except NotPermittedError as exc:
        # e.g. an account whose primary group lists no members here: the request waits
        say(f"{name}: production request {request_id} waits for an approver ({exc})")
        return False
    say(f"{name}: {version.ref} deployed to staging and production")
    return True


def main() -> int:
    """``python -m dockyard.core.demo``: the demo's background step, on the workspace named by
    the environment (started by ``dockyard demo``)."""
    import sys

    from dockyard.core.projects import list_projects
    from dockyard.core.workspace import find_workspace

    workspace = find_workspace()
    folder = (workspace.root / "projects").resolve()
    samples = {folder / sample.name for sample in sample_project_dirs()}
    try:
        projects = [p for p in list_projects(workspace) if Path(p.path).resolve() in samples]
        finish_demo(workspace, projects, say=lambda line: print(line, flush=True))
    except DockyardError as exc:
        print(f"dockyard demo: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        with contextlib.suppress(OSError):
            (workspace.home / FINISHER_PID).unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
