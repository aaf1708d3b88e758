"""A workspace with the three sample projects trained and deployed to production, built
once per test session and copied for each test (training takes seconds)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from dockyard.core.workspace import Workspace, find_workspace
from tests.stores import execute

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


def copy_workspace(
    source: Path, target: Path, request: pytest.FixtureRequest | None = None
) -> Workspace:
    """A private copy of the workspace at ``source`` in ``target``. When ``request``'s
    ``store_backend`` is ``pg``, its store is a PostgreSQL database holding the same rows
    (a copy of ``deployed_samples_db``, dropped after the test), else the copied SQLite
    file."""
    shutil.copytree(source, target, symlinks=True)
    if request is not None and request.getfixturevalue("store_backend") == "pg":
        from dockyard.core.workspace import DIRNAME, _write_settings
        from tests.conftest import create_pg_database, drop_pg_database

        server = request.getfixturevalue("pg_server")
        template = request.getfixturevalue("deployed_samples_db").rsplit("/", 1)[1]
        url = create_pg_database(server, template=template)
        request.addfinalizer(lambda: drop_pg_database(server, url))
        home = target / DIRNAME
        for stale in home.glob("dockyard.db*"):
            stale.unlink()
        _write_settings(home, url)
    ws = find_workspace(target)
    # the projects were registered at the source's path: point them at the copy
    execute(ws, ("UPDATE project SET path = replace(path, ?, ?)", (str(source), str(target))))
    return ws


def copy_store(source_url: str, target_url: str) -> None:
    """Every row of the store at ``source_url`` into the migrated store at ``target_url``
    (emptied first), ids kept and PostgreSQL's id sequences moved past them: a trained
    SQLite workspace becomes a PostgreSQL one without training again."""
    from sqlalchemy import create_engine, delete, insert, select, text
    from sqlmodel import SQLModel

    import dockyard.store.models  # noqa: F401  (registers the tables)

    source, target = create_engine(source_url), create_engine(target_url)
    tables = SQLModel.metadata.sorted_tables
    try:
        with source.connect() as reading, target.begin() as writing:
            for table in reversed(tables):
                writing.execute(delete(table))
            for table in tables:
                rows = [dict(row._mapping) for row in reading.execute(select(table))]
                if rows:
                    writing.execute(insert(table), rows)
                if "id" in table.c and target.dialect.name == "postgresql":
                    writing.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                            f'COALESCE((SELECT MAX(id) FROM "{table.name}"), 0) + 1, false)'
                        )
                    )
    finally:
        source.dispose()
        target.dispose()
