"""A workspace with the three sample projects trained and deployed to production, built
once per test session and copied for each test (training takes seconds)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dockyard.core.workspace import Workspace, find_workspace

SAMPLES = ("breast-cancer", "diabetes", "wine")


def build_deployed(root: Path) -> Path:
    """Train each sample project once (defaults), register and deploy it to production."""
    from dockyard.core.agent import Agent
    from dockyard.core.demo import prepare_demo
    from dockyard.core.deployments import request_deployment
    from dockyard.core.environments import set_environment
    from dockyard.core.registry import register_version
    from dockyard.core.runs import list_runs, queue_runs

    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("DOCKYARD_")}
    try:
        ws, _projects = prepare_demo(root / "ws")
        for name in SAMPLES:
            queue_runs(ws, name)
        Agent(ws, concurrency=2).serve(until_idle=True)
        set_environment(ws, "production", approvals=0, actor="test")
        for run in sorted(list_runs(ws), key=lambda r: r.id):
            assert run.status == "finished", (run.project, run.status)
            register_version(ws, run.id, run.project)
            request_deployment(ws, f"{run.project}@1", "production", actor="test")
    finally:
        os.environ.update(saved)
        from dockyard.core.workspace import _ENGINES

        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()
    return root / "ws"


def copy_workspace(source: Path, target: Path) -> Workspace:
    shutil.copytree(source, target, symlinks=True)
    ws = find_workspace(target)
    # the projects were registered at the source's path: point them at the copy
    import sqlite3

    with sqlite3.connect(ws.home / "dockyard.db") as conn:
        conn.execute("UPDATE project SET path = replace(path, ?, ?)", (str(source), str(target)))
    return ws
