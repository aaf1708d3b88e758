"""Shared fixtures: real workspaces with real SQLite stores in ``tmp_path``.

``workspace`` is an empty, migrated workspace. ``seeded_workspace`` holds a small, fixed
history (projects, datasets, runs, models, deployments, monitors, an agent lease) whose
times are fixed relative to :data:`FROZEN_NOW`, so relative times ("3 min ago") in
output and snapshots never drift. Pass ``now=lambda: FROZEN_NOW`` (or use the
``frozen_now`` fixture) wherever a clock is injected.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dockyard.core.workspace import DIRNAME, Workspace, init_workspace

#: The clock every seeded time is relative to.
FROZEN_NOW = datetime(2026, 3, 14, 12, 0, 0, tzinfo=UTC)


def ago(**delta: float) -> datetime:
    """``FROZEN_NOW`` minus a ``timedelta(**delta)``."""
    return FROZEN_NOW - timedelta(**delta)


@pytest.fixture
def frozen_now() -> datetime:
    return FROZEN_NOW


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    """Close the readers and engines a test's stores left cached in ``core.workspace``
    (set up first, so torn down last): hundreds of tests' open files otherwise exhaust
    the descriptors ``select()`` accepts (1024) in one session."""
    yield
    from dockyard.core.workspace import close_stores

    close_stores()


@pytest.fixture(autouse=True)
def _isolated_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test sees the developer's own workspace or database through the environment,
    nor writes into their remembered verifications (``core.hashing.verify_cache_dir``)."""
    for name in ("DOCKYARD_HOME", "DOCKYARD_DB", "DOCKYARD_HOSTNAME", "DOCKYARD_OBJECTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))


@pytest.fixture(autouse=True)
def _keep_every_notification(monkeypatch: pytest.MonkeyPatch) -> None:
    """A toast expires after a few seconds, and a loaded machine can take longer than that
    to reach a test's assert: every notification an app posts is also kept, in order, for
    ``tests.pilot_wait.notified`` to read."""
    from textual.app import App

    from tests.pilot_wait import NOTIFIED

    original = App._on_notify

    def on_notify(self: App[Any], event: Any) -> None:
        self.__dict__.setdefault(NOTIFIED, []).append(event.notification)
        original(self, event)

    monkeypatch.setattr(App, "_on_notify", on_notify)


@pytest.fixture(autouse=True)
def _stop_what_the_test_started(tmp_path: Path) -> Iterator[None]:
    """A test that fails (or times out) half-way must not leave a detached agent or a
    training run behind: afterwards, every agent and live run recorded in a store under
    ``tmp_path`` is stopped. Agents serve until told to stop, so one leaked here would
    keep polling a deleted store for the rest of the machine's life."""
    yield
    for pid, role in processes_recorded_under(tmp_path):
        stop_process_group(pid, role)


#: Folders that never hold a workspace and can be large (a test's venv, stored objects).
_NOT_WORKSPACES = {"objects", "logs", "lib", "site-packages", "__pycache__", ".git"}


def processes_recorded_under(root: Path) -> list[tuple[int, str]]:
    """(pid, role) of the agents and live runs on this host that the stores under ``root``
    record; role is the module the process runs (``core.agent``, ``core.supervisor``,
    ``core.demo``)."""
    found: list[tuple[int, str]] = []
    host = socket.gethostname()
    for folder, subfolders, files in os.walk(root):
        if Path(folder).name == ".dockyard":
            subfolders.clear()
            if "dockyard.db" in files:
                found += _recorded_processes(Path(folder) / "dockyard.db", host)
            continue
        subfolders[:] = [name for name in subfolders if name not in _NOT_WORKSPACES]
    return found


def _recorded_processes(db: Path, host: str) -> list[tuple[int, str]]:
    queries = (
        ("dockyard.core.agent", "SELECT pid FROM agent_lease WHERE host = ? AND pid IS NOT NULL"),
        (
            "dockyard.core.supervisor",
            "SELECT pid FROM run WHERE host = ? AND pid IS NOT NULL AND status IN "
            "('running', 'cancelling')",
        ),
    )
    found: list[tuple[int, str]] = []
    try:
        with sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5) as conn:
            for role, sql in queries:
                found += [(int(pid), role) for (pid,) in conn.execute(sql, (host,))]
    except sqlite3.Error:
        pass  # not migrated, or not a store at all: nothing it could have started
    # the demo's background step (core.demo.start_demo_models) records itself in a file
    with contextlib.suppress(OSError, ValueError):
        found.append((int((db.parent / "demo-finisher.pid").read_text()), "dockyard.core.demo"))
    return found


def stop_process_group(pid: int, role: str, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL, the process group led by ``pid``, if ``pid`` still runs
    ``role`` (the pid may have been reused since the store recorded it)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return  # gone (or no /proc: nothing safe to check the pid against)
    if role.encode() not in cmdline:
        return
    # Detached agents and supervisors lead sessions of their own (start_new_session), so
    # their group holds what they started (the training script) as well.
    try:
        target = pid if os.getpgid(pid) == pid else None
    except ProcessLookupError:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        try:
            if target is not None:
                os.killpg(target, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _reap_if_child(pid)
            if not Path(f"/proc/{pid}").exists() or _is_zombie(pid):
                return
            time.sleep(0.05)


def _reap_if_child(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):  # not ours: init reaps it
        os.waitpid(pid, os.WNOHANG)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


# --- PostgreSQL -----------------------------------------------------------------------------
#
# Modules marked ``both_stores`` run every test that uses ``workspace`` (directly or through
# another fixture) twice: on a SQLite file and on a PostgreSQL database of its own, created
# from a template that already holds the migrated schema (a copy costs ~50 ms, migrating
# ~1 s). Each pytest-xdist worker starts its own server (tests/pg_server.py). Without
# PostgreSQL the PostgreSQL half skips, saying why, except in CI (CI=true), where it fails.

STORE_BACKENDS = ("sqlite", "pg")
_TEMPLATE_DB = "dockyard_template"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "both_stores: run the module's workspace tests on SQLite and on PostgreSQL"
    )
    config.addinivalue_line(
        "markers", "sqlite_only(reason): a test of a both_stores module that is about SQLite"
    )
    # pytest-xdist's own, declared for runs without it (`make test-min`)
    config.addinivalue_line("markers", "xdist_group(name): run these tests on one worker")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("both_stores") is None:
        return
    if metafunc.definition.get_closest_marker("sqlite_only") is not None:
        return
    # A module-scoped template (a workspace trained once per module) decides for the
    # whole module, so its copies and the plain workspaces of the same test agree.
    if "module_store_backend" in metafunc.fixturenames:
        metafunc.parametrize("module_store_backend", STORE_BACKENDS, indirect=True, scope="module")
    elif "store_backend" in metafunc.fixturenames:
        metafunc.parametrize("store_backend", STORE_BACKENDS, indirect=True)


@pytest.fixture(scope="module")
def module_store_backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``pg`` for a module-scoped template workspace (see ``clone_workspace``)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def store_backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``pg``: the store the test's workspace lives in."""
    if "module_store_backend" in request.fixturenames:
        return str(request.getfixturevalue("module_store_backend"))
    return str(getattr(request, "param", "sqlite"))


def _pg_unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"PostgreSQL is required in CI and is not usable: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL is not usable here: {reason}")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    """A private PostgreSQL server for this worker, with the template database migrated."""
    try:
        import psycopg  # noqa: F401

        from tests.pg_server import ServerUnavailable, start_server
    except ImportError as exc:
        _pg_unavailable(f"psycopg is not installed ({exc}); pip install 'dockyard[postgres]'")
        raise  # unreachable: _pg_unavailable raises
    try:
        server = start_server()
    except (ServerUnavailable, OSError, subprocess.SubprocessError) as exc:
        _pg_unavailable(str(exc))
        raise
    try:
        _create_template(server)
        yield server
    finally:
        server.stop()


def _create_template(server: Any) -> None:
    import psycopg

    from dockyard.store.db import open_engine

    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {_TEMPLATE_DB}")
    open_engine(server.url(_TEMPLATE_DB)).dispose()


_pg_databases = itertools.count(1)


def create_pg_database(server: Any, template: str = _TEMPLATE_DB) -> str:
    """The URL of a new database on ``server``, a copy of database ``template`` (which
    nobody may be connected to meanwhile)."""
    import psycopg

    name = f"dy_{os.getpid()}_{next(_pg_databases)}"
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    return str(server.url(name))


def drop_pg_database(server: Any, url: str) -> None:
    """Stop what the store records as running here, close our pools, drop the database."""
    import psycopg

    for pid, role in _pg_recorded_processes(url):
        stop_process_group(pid, role)
    _forget_store(url)
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def pg_url(pg_server: Any) -> Iterator[str]:
    """The URL of a fresh, migrated PostgreSQL database, dropped after the test."""
    url = create_pg_database(pg_server)
    yield url
    drop_pg_database(pg_server, url)


def template_workspace(
    request: pytest.FixtureRequest, backend: str, directory: Path
) -> tuple[Workspace, str | None]:
    """For a module-scoped fixture: a new workspace in ``directory`` on ``backend`` and
    the URL of its PostgreSQL database (None on SQLite). The caller drops the database
    with ``drop_pg_database`` when the module is done."""
    if backend != "pg":
        return init_workspace(directory, env={}), None
    url = create_pg_database(request.getfixturevalue("pg_server"))
    return init_workspace(directory, env={}, db=url), url


def release_template(template: Workspace) -> None:
    """Close this process's connections to a template's database: PostgreSQL copies a
    database only while nobody is connected to it."""
    _forget_store(template.db_url)


def clone_workspace(
    template: Workspace, destination: Path, request: pytest.FixtureRequest
) -> Workspace:
    """A private copy of ``template``: its folder copied to ``destination`` and, on
    PostgreSQL, its database copied into a new one that the copy's settings name (dropped
    after the test)."""
    import shutil

    from dockyard.core.workspace import SETTINGS_FILENAME, _write_settings, find_workspace

    # with the SQLite WAL, which may hold the newest commits (nobody has the template open)
    shutil.copytree(template.root, destination, symlinks=True)
    if template.db_url.startswith("postgresql"):
        server = request.getfixturevalue("pg_server")
        url = create_pg_database(server, template=template.db_url.rsplit("/", 1)[1])
        request.addfinalizer(lambda: drop_pg_database(server, url))
        home = destination / template.home.name
        (home / SETTINGS_FILENAME).unlink()
        _write_settings(home, url)
    return find_workspace(home=destination)


def _forget_store(url: str) -> None:
    """Close what this process keeps open on ``url`` (engines, readers), so the pools of
    dropped databases do not pile up over a session."""
    from dockyard.core import workspace as workspace_module

    engine = workspace_module._ENGINES.pop(url, None)
    if engine is not None:
        engine.dispose()
    reader = workspace_module._READERS.pop(url, None)
    if reader is not None:
        with contextlib.suppress(Exception):
            reader.close()


def _pg_recorded_processes(url: str) -> list[tuple[int, str]]:
    """What ``_recorded_processes`` finds in a SQLite store, in a PostgreSQL one."""
    import psycopg

    host = socket.gethostname()
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    found: list[tuple[int, str]] = []
    with contextlib.suppress(psycopg.Error), psycopg.connect(conninfo) as conn:
        for (pid,) in conn.execute(
            "SELECT pid FROM agent_lease WHERE host = %s AND pid IS NOT NULL", (host,)
        ):
            found.append((int(pid), "dockyard.core.agent"))
        for (pid,) in conn.execute(
            "SELECT pid FROM run WHERE host = %s AND pid IS NOT NULL "
            "AND status IN ('running', 'cancelling')",
            (host,),
        ):
            found.append((int(pid), "dockyard.core.supervisor"))
    return found


@pytest.fixture(scope="session")
def migrated_sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store file at the head revision, made once per worker: ``workspace``
    copies it (a few ms) instead of running every migration again (0.2-0.5 s a test)."""
    made = init_workspace(tmp_path_factory.mktemp("sqlite-template"), env={})
    assert made.db_path is not None
    with sqlite3.connect(made.db_path) as conn:  # everything into the main file
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    assert busy == 0
    _forget_store(made.db_url)
    return made.db_path


@pytest.fixture
def workspace(tmp_path: Path, store_backend: str, request: pytest.FixtureRequest) -> Workspace:
    """An empty workspace, store created and migrated, in ``tmp_path``.

    On ``pg`` its store is a PostgreSQL database of its own, recorded in the workspace's
    settings as `dockyard init --db URL` does (so every process finds it, as a user's do).
    On SQLite the store is a copy of ``migrated_sqlite_store``; ``init_workspace`` then
    makes the rest of the folder as for a user.
    """
    if store_backend == "pg":
        return init_workspace(tmp_path, db=request.getfixturevalue("pg_url"))
    template: Path = request.getfixturevalue("migrated_sqlite_store")
    (tmp_path / DIRNAME).mkdir(exist_ok=True)
    shutil.copyfile(template, tmp_path / DIRNAME / template.name)
    return init_workspace(tmp_path)


def _engine(workspace: Workspace) -> Any:
    from dockyard.store.db import open_engine

    return open_engine(workspace.db_url)


@pytest.fixture
def store_engine(workspace: Workspace) -> Iterator[Any]:
    """The SQLAlchemy engine of ``workspace``, disposed after the test."""
    engine = _engine(workspace)
    yield engine
    engine.dispose()


def seed_store(workspace: Workspace) -> dict[str, Any]:
    """Write the fixed history described in the module docstring; returns its ids."""
    from sqlmodel import Session

    from dockyard.store.models import (
        AgentLease,
        Alert,
        Artifact,
        Dataset,
        DatasetVersion,
        Deployment,
        DeploymentRequest,
        Metric,
        ModelAlias,
        ModelVersion,
        Monitor,
        MonitorResult,
        Param,
        Project,
        RegisteredModel,
        Run,
    )

    engine = _engine(workspace)
    ids: dict[str, Any] = {}
    with Session(engine) as session:
        projects = {
            name: Project(
                name=name,
                path=f"/samples/{name}",
                description=description,
                entry="python train.py",
                spec_json="{}",
                spec_hash=f"hash-{name}",
                created_at=ago(days=20),
                updated_at=ago(days=20),
            )
            for name, description in (
                ("breast-cancer", "binary classifier"),
                ("wine", "multiclass classifier"),
                ("diabetes", "regressor"),
            )
        }
        session.add_all(projects.values())
        session.flush()

        datasets: dict[str, Dataset] = {}
        versions: dict[str, DatasetVersion] = {}
        for name, n_rows, n_cols, size, n_versions, updated in (
            ("breast_cancer", 569, 31, 124_000, 2, ago(hours=3)),
            ("wine", 178, 14, 11_200, 1, ago(days=2)),
            ("diabetes", 442, 11, 48_500, 1, ago(minutes=45)),
        ):
            dataset = Dataset(
                name=name, description=f"{name} sample", created_at=ago(days=10), updated_at=updated
            )
            session.add(dataset)
            session.flush()
            assert dataset.id is not None
            datasets[name] = dataset
            for number in range(1, n_versions + 1):
                version = DatasetVersion(
                    dataset_id=dataset.id,
                    version=number,
                    content_hash=f"{name}-{number}",
                    hash_algo="sha256",
                    sha256=f"{name}-{number}",
                    object_path=f"objects/{name}-{number}",
                    file_format="csv",
                    size_bytes=size + number - 1,
                    n_rows=n_rows + (number - 1) * 10,
                    n_cols=n_cols,
                    created_at=updated,
                )
                session.add(version)
                session.flush()
                versions[name] = version

        def project_id(name: str) -> int:
            value = projects[name].id
            assert value is not None
            return value

        runs: list[Run] = []
        for project, status, created, duration, metric, value in (
            ("breast-cancer", "succeeded", ago(days=3), 95.0, "roc_auc", 0.9812),
            ("breast-cancer", "succeeded", ago(days=1), 130.0, "roc_auc", 0.9874),
            ("wine", "succeeded", ago(days=2, hours=1), 42.0, "accuracy", 0.9444),
            ("diabetes", "failed", ago(hours=5), 12.0, None, None),
            ("diabetes", "succeeded", ago(hours=4), 61.0, "r2", 0.4821),
            ("wine", "queued", ago(minutes=2), None, None, None),
            ("breast-cancer", "running", ago(minutes=12), None, "roc_auc", 0.9701),
            ("diabetes", "running", ago(minutes=3), None, None, None),
        ):
            started = None if status == "queued" else created + timedelta(seconds=5)
            ended = started + timedelta(seconds=duration) if started and duration else None
            run = Run(
                project_id=project_id(project),
                status=status,
                command="python train.py",
                user="alice",
                host="box",
                primary_metric=metric,
                primary_value=value,
                exit_code=None if ended is None else (1 if status == "failed" else 0),
                error="ValueError: bad column" if status == "failed" else "",
                created_at=created,
                started_at=started,
                ended_at=ended,
                dataset_version_id=versions["breast_cancer"].id,
            )
            session.add(run)
            runs.append(run)
        session.flush()
        ids["runs"] = [run.id for run in runs]
        for run in runs[:3]:
            assert run.id is not None
            session.add(Param(run_id=run.id, key="model", value="logreg"))
            for step in range(3):
                session.add(
                    Metric(
                        run_id=run.id,
                        key=run.primary_metric or "loss",
                        step=step,
                        value=0.9 + step / 100,
                        timestamp=(ago(days=1) + timedelta(seconds=step)).timestamp(),
                    )
                )

        artifacts = []
        for run in runs[:3]:
            assert run.id is not None
            artifact = Artifact(
                run_id=run.id,
                name="model.skops",
                sha256=f"art-{run.id}",
                size_bytes=2048,
                object_path=f"objects/art-{run.id}",
                created_at=run.ended_at or FROZEN_NOW,
            )
            session.add(artifact)
            artifacts.append(artifact)
        session.flush()

        bc_model = RegisteredModel(
            name="breast-cancer-clf", created_at=ago(days=3), updated_at=ago(days=1)
        )
        wine_model = RegisteredModel(
            name="wine-clf", created_at=ago(days=2), updated_at=ago(days=2)
        )
        session.add_all([bc_model, wine_model])
        session.flush()
        assert bc_model.id is not None and wine_model.id is not None
        model_versions = []
        for model_id, number, run, artifact, created in (
            (bc_model.id, 1, runs[0], artifacts[0], ago(days=3)),
            (bc_model.id, 2, runs[1], artifacts[1], ago(days=1)),
            (wine_model.id, 1, runs[2], artifacts[2], ago(days=2)),
        ):
            assert run.id is not None and artifact.id is not None
            model_version = ModelVersion(
                model_id=model_id,
                version=number,
                run_id=run.id,
                artifact_id=artifact.id,
                created_by="alice",
                created_at=created,
            )
            session.add(model_version)
            model_versions.append(model_version)
        session.flush()
        bc_v1, bc_v2, wine_v1 = model_versions
        assert bc_v1.id is not None and bc_v2.id is not None and wine_v1.id is not None
        session.add_all(
            [
                ModelAlias(model_id=bc_model.id, alias="champion", model_version_id=bc_v1.id),
                ModelAlias(model_id=bc_model.id, alias="staging", model_version_id=bc_v2.id),
                ModelAlias(model_id=wine_model.id, alias="champion", model_version_id=wine_v1.id),
            ]
        )

        pending = DeploymentRequest(
            model_version_id=bc_v2.id,
            target="production",
            status="pending",
            requested_by="alice",
            reason="better roc_auc",
            requested_at=ago(minutes=20),
        )
        approved = DeploymentRequest(
            model_version_id=wine_v1.id,
            target="production",
            status="approved",
            requested_by="bob",
            requested_at=ago(days=2),
            decided_at=ago(days=1, hours=23),
        )
        session.add_all([pending, approved])
        session.flush()
        session.add_all(
            [
                Deployment(
                    request_id=approved.id,
                    model_version_id=wine_v1.id,
                    target="production",
                    deployed_by="bob",
                    deployed_at=ago(days=1, hours=23),
                ),
                Deployment(
                    model_version_id=bc_v1.id,
                    target="staging",
                    deployed_by="alice",
                    deployed_at=ago(days=2, hours=12),
                ),
            ]
        )
        ids["pending_request"] = pending.id

        drift = Monitor(
            project_id=project_id("breast-cancer"),
            name="feature-drift",
            kind="drift",
            schedule="0 * * * *",
            created_at=ago(days=5),
        )
        quality = Monitor(
            project_id=project_id("wine"),
            name="data-quality",
            kind="quality",
            schedule="0 6 * * *",
            created_at=ago(days=5),
        )
        performance = Monitor(
            project_id=project_id("diabetes"),
            name="performance",
            kind="performance",
            schedule="0 0 * * 1",
            created_at=ago(days=5),
        )
        session.add_all([drift, quality, performance])
        session.flush()
        assert drift.id is not None and quality.id is not None
        session.add(
            MonitorResult(monitor_id=drift.id, status="ok", summary="no drift", ran_at=ago(hours=2))
        )
        drift_result = MonitorResult(
            monitor_id=drift.id,
            status="alert",
            summary="PSI 0.31 on mean radius",
            ran_at=ago(minutes=8),
        )
        session.add(drift_result)
        session.add(
            MonitorResult(
                monitor_id=quality.id, status="ok", summary="0 missing values", ran_at=ago(hours=6)
            )
        )
        session.flush()
        session.add_all(
            [
                Alert(
                    monitor_id=drift.id,
                    result_id=drift_result.id,
                    severity="critical",
                    message="drift on mean radius (PSI 0.31 > 0.2)",
                    created_at=ago(minutes=8),
                ),
                Alert(
                    monitor_id=quality.id,
                    severity="warning",
                    message="3 missing values",
                    created_at=ago(days=1),
                    acknowledged_at=ago(hours=20),
                    acknowledged_by="bob",
                ),
            ]
        )
        session.add(
            AgentLease(
                holder="agent-1",
                host="box",
                pid=4242,
                acquired_at=ago(hours=1),
                heartbeat_at=ago(seconds=5),
            )
        )
        session.commit()
    engine.dispose()
    return ids


def rechain_audit(workspace: Workspace) -> None:
    """Recompute every audit hash and rewrite the witness to match.

    What an attacker who controls both the store and the witness can do (out of scope, see
    docs/security.md); fixtures use it after fixing event times so that screens drawn from
    them show an intact log.
    """
    import sqlite3

    from dockyard.core.audit import GENESIS, WITNESS_HEADER, _digest_text, _iso, witness_path

    assert workspace.db_path is not None
    prev, lines = GENESIS, [WITNESS_HEADER]
    with sqlite3.connect(workspace.db_path) as conn:
        rows = conn.execute(
            "SELECT id, at, actor, action, entity_type, entity_id, details_json "
            "FROM audit_event ORDER BY id"
        ).fetchall()
        for count, (event_id, at, *fields) in enumerate(rows, start=1):
            digest = _digest_text(prev, _iso(at), *fields)
            conn.execute(
                "UPDATE audit_event SET prev_hash = ?, hash = ? WHERE id = ?",
                (prev, digest, event_id),
            )
            lines.append(b"%d %d %s\n" % (count, event_id, digest.encode()))
            prev = digest
    witness_path(workspace).write_bytes(b"".join(lines))


@pytest.fixture
def seeded_workspace(workspace: Workspace) -> Workspace:
    """``workspace`` holding the fixed history of :func:`seed_store`."""
    seed_store(workspace)
    return workspace


@pytest.fixture(scope="session")
def deployed_samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample projects trained once and deployed to production (monitor tests)."""
    from tests.monitor_fixtures import build_deployed

    return build_deployed(tmp_path_factory.mktemp("deployed-samples"))


@pytest.fixture(scope="session")
def deployed_samples_db(deployed_samples: Path, pg_server: Any) -> str:
    """``deployed_samples``' store copied into a PostgreSQL database, the template of the
    monitor tests' PostgreSQL copies (``tests.monitor_fixtures.copy_workspace``)."""
    from dockyard.store.db import sqlite_url
    from tests.monitor_fixtures import copy_store

    url = create_pg_database(pg_server)
    copy_store(sqlite_url(deployed_samples / ".dockyard" / "dockyard.db"), url)
    return url
