"""`dockyard migrate-store`: a trained SQLite workspace moved into an empty PostgreSQL
database, as real processes, and every way the move is refused or fails leaving the
target without rows and the workspace on its SQLite file."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dockyard.core.workspace import SETTINGS_FILENAME, Workspace
from tests.conftest import drop_pg_database
from tests.monitor_fixtures import copy_workspace
from tests.test_cli import dockyard, one_line_error

#: What a person runs to compare a store before and after the move.
READS = (
    ("run", "list"),
    ("run", "list", "--json"),
    ("model", "list"),
    ("model", "list", "--json"),
    ("deploy", "list"),
    ("deploy", "list", "--json"),
    ("audit", "verify"),
)

_names = itertools.count(1)


def _conninfo(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def empty_db(pg_server: Any) -> Iterator[str]:
    """The URL of a new, truly empty database (no schema), dropped after the test."""
    import psycopg

    name = f"dy_migrate_{os.getpid()}_{next(_names)}"
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = str(pg_server.url(name))
    yield url
    drop_pg_database(pg_server, url)


@pytest.fixture
def source(deployed_samples: Path, tmp_path: Path) -> Workspace:
    """The trained, registered and deployed samples, plus a request that a second person
    approved, and a settings file with a table of its own (which the move must keep)."""
    from dockyard.core.deployments import approve_request, request_deployment
    from dockyard.core.environments import set_environment
    from dockyard.core.workspace import close_stores

    ws = copy_workspace(deployed_samples, tmp_path / "ws")
    set_environment(ws, "staging", approvals=1, approvers=("bob",), actor="test")
    request = request_deployment(ws, "wine@1", "staging", "to staging", actor="alice")
    approve_request(ws, request.request.id, "looks good", actor="bob")
    (ws.home / SETTINGS_FILENAME).write_text('[agent]\nexecutor = "local"\n')
    close_stores()
    return ws


def _rows(url: str, statement: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(_conninfo(url)) as conn:
        return list(conn.execute(statement).fetchall())


def _pg_total_rows(url: str) -> int:
    """Rows in every table of the target but those the store keeps itself (0: empty)."""
    from dockyard.core.migrate_store import NOT_COPIED

    tables = [
        name
        for (name,) in _rows(
            url,
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema()",
        )
        if name not in NOT_COPIED
    ]
    return sum(_rows(url, f'SELECT count(*) FROM "{t}"')[0][0] for t in tables)


def _reads(ws: Workspace) -> dict[tuple[str, ...], str]:
    found: dict[tuple[str, ...], str] = {}
    for args in READS:
        result = dockyard(*args, cwd=ws.root)
        assert result.returncode == 0, (args, result.stderr)
        found[args] = result.stdout
    return found


@pytest.mark.slow
def test_moved_workspace_reads_the_same_on_postgresql(source: Workspace, empty_db: str) -> None:
    before = _reads(source)
    sqlite_file = source.home / "dockyard.db"
    sqlite_bytes = sqlite_file.read_bytes()

    result = dockyard("migrate-store", "--to", empty_db, cwd=source.root)
    assert result.returncode == 0, result.stderr
    assert "verified: every table's row count is equal" in result.stdout
    assert "audit log is intact on PostgreSQL" in result.stdout
    assert "dockyard-test" not in result.stdout + result.stderr  # the password
    settings = (source.home / SETTINGS_FILENAME).read_text()
    assert 'executor = "local"' in settings and empty_db in settings
    assert sqlite_file.read_bytes() == sqlite_bytes  # kept as it was

    status = dockyard("agent", "status", "--json", cwd=source.root)
    assert status.returncode == 0, status.stderr
    # every read a person makes gives the same answer, now from PostgreSQL
    assert _reads(source) == before
    assert _rows(empty_db, "SELECT count(*) FROM approval")[0][0] == 1
    # the sequences go on past the copied ids: a new decision extends the same chain
    last_event = _rows(empty_db, "SELECT max(id) FROM audit_event")[0][0]
    changed = dockyard("env", "set", "staging", "--approvals", "0", cwd=source.root)
    assert changed.returncode == 0, changed.stderr
    assert _rows(empty_db, "SELECT max(id) FROM audit_event")[0][0] == last_event + 1
    verify = dockyard("audit", "verify", cwd=source.root)
    assert verify.returncode == 0, verify.stdout + verify.stderr

    # going back as the command says: the [store] lines out, the SQLite witness back
    settings_path = source.home / SETTINGS_FILENAME
    kept = settings_path.read_text().split("\n# written by `dockyard migrate-store`")[0]
    settings_path.write_text(kept + "\n")
    (source.home / "audit-witness.sqlite").replace(source.home / "audit-witness")
    assert _reads(source) == before


def test_json_report_and_types(source: Workspace, empty_db: str) -> None:
    import json

    result = dockyard("migrate-store", "--to", empty_db, "--json", cwd=source.root)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["audit"]["ok"] and report["schema_created"]
    counts = {t["table"]: (t["sqlite"], t["postgresql"]) for t in report["tables"]}
    assert all(a == b for a, b in counts.values())
    assert counts["run"][0] == 3 and counts["metric"][0] > 0 and counts["approval"][0] == 1
    # the monitors' schedule too (APScheduler's own table), so no next run time is lost
    assert counts["apscheduler_jobs"][0] > 0
    assert _rows(empty_db, "SELECT count(*) FROM apscheduler_jobs WHERE next_run_time > 0")[0][0]
    assert "dockyard-test" not in result.stdout
    # booleans are booleans, times keep their instant, text stays text
    [(protected, updated)] = _rows(
        empty_db, "SELECT protected, updated_at FROM environment WHERE name = 'staging'"
    )
    assert protected is False and updated.tzinfo is not None
    with sqlite3.connect(source.home / "dockyard.db") as conn:
        [(raw,)] = conn.execute("SELECT updated_at FROM environment WHERE name = 'staging'")
    assert datetime.fromisoformat(raw).replace(tzinfo=UTC) == updated
    spec_sqlite = sqlite3.connect(source.home / "dockyard.db").execute(
        "SELECT spec_json FROM project ORDER BY id"
    )
    assert [r[0] for r in spec_sqlite] == [
        r[0] for r in _rows(empty_db, "SELECT spec_json FROM project ORDER BY id")
    ]


def test_dry_run_changes_nothing(source: Workspace, empty_db: str) -> None:
    settings = (source.home / SETTINGS_FILENAME).read_text()
    result = dockyard("migrate-store", "--to", empty_db, "--dry-run", cwd=source.root)
    assert result.returncode == 0, result.stderr
    assert "dry run:" in result.stdout and "would be copied" in result.stdout
    assert "metric" in result.stdout
    assert (source.home / SETTINGS_FILENAME).read_text() == settings
    assert _rows(empty_db, "SELECT count(*) FROM information_schema.tables "
                           "WHERE table_schema = current_schema()")[0][0] == 0  # fmt: skip


def test_non_empty_target_or_other_revision_refused(source: Workspace, pg_url: str) -> None:
    import psycopg

    settings = (source.home / SETTINGS_FILENAME).read_text()
    with psycopg.connect(_conninfo(pg_url)) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0006'")
    result = dockyard("migrate-store", "--to", pg_url, cwd=source.root)
    assert result.returncode == 2
    assert "schema revision 0006" in one_line_error(result)

    from dockyard.store.schema import HEAD_REVISION

    with psycopg.connect(_conninfo(pg_url)) as conn:
        conn.execute("UPDATE alembic_version SET version_num = %s", (HEAD_REVISION,))
        conn.execute(
            "INSERT INTO dataset (name, description, created_at, updated_at) "
            "VALUES ('other', '', now(), now())"
        )
    result = dockyard("migrate-store", "--to", pg_url, cwd=source.root)
    assert result.returncode == 2
    assert "not empty (table dataset has rows)" in one_line_error(result)
    assert (source.home / SETTINGS_FILENAME).read_text() == settings
    assert _rows(pg_url, "SELECT count(*) FROM dataset")[0][0] == 1


def test_unreachable_or_wrong_url_is_one_line(source: Workspace) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql+psycopg://alice:secret@127.0.0.1:{port}/dockyard"
    result = dockyard("migrate-store", "--to", url, cwd=source.root)
    assert result.returncode == 2
    line = one_line_error(result)
    assert "cannot reach the PostgreSQL server" in line and "secret" not in line
    result = dockyard("migrate-store", "--to", "sqlite:////tmp/x.db", cwd=source.root)
    assert result.returncode == 2
    assert "must name a PostgreSQL database" in one_line_error(result)
    assert not (source.home / SETTINGS_FILENAME).read_text().count("[store]")


def test_refused_while_runs_are_running(source: Workspace, empty_db: str) -> None:
    with sqlite3.connect(source.home / "dockyard.db") as conn:
        conn.execute("UPDATE run SET status = 'running' WHERE id = 2")
    result = dockyard("migrate-store", "--to", empty_db, cwd=source.root)
    assert result.returncode == 1
    assert "1 run(s) are running (2)" in one_line_error(result)


def test_refused_while_an_agent_serves_the_store(source: Workspace, empty_db: str) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(source.home / "dockyard.db") as conn:
        conn.execute("DELETE FROM agent_lease")
        conn.execute(
            "INSERT INTO agent_lease (id, holder, host, pid, acquired_at, heartbeat_at) "
            "VALUES (1, 'test', ?, ?, ?, ?)",
            (socket.gethostname(), os.getpid(), now, now),
        )
    result = dockyard("migrate-store", "--to", empty_db, cwd=source.root)
    assert result.returncode == 1
    assert "an agent serves this store" in one_line_error(result)


@pytest.mark.slow
def test_failure_mid_copy_leaves_target_empty_then_retry_works(
    source: Workspace, empty_db: str
) -> None:
    # a value PostgreSQL cannot hold, in a table copied after the runs and their metrics
    with sqlite3.connect(source.home / "dockyard.db") as conn:
        conn.execute("UPDATE param SET value = 'a' || char(0) || 'b' WHERE rowid = 1")
    settings = (source.home / SETTINGS_FILENAME).read_text()
    result = dockyard("migrate-store", "--to", empty_db, cwd=source.root)
    assert result.returncode == 1
    line = one_line_error(result)
    assert "table param" in line and "NUL" in line
    assert _pg_total_rows(empty_db) == 0
    assert _rows(empty_db, "SELECT count(*) FROM run")[0][0] == 0  # copied before: rolled back
    assert (source.home / SETTINGS_FILENAME).read_text() == settings

    with sqlite3.connect(source.home / "dockyard.db") as conn:
        conn.execute("UPDATE param SET value = 'ab' WHERE rowid = 1")
    again = dockyard("migrate-store", "--to", empty_db, cwd=source.root)
    assert again.returncode == 0, again.stderr  # the schema stayed, empty: it goes on


@pytest.mark.slow
def test_killed_mid_copy_leaves_target_empty(source: Workspace, empty_db: str) -> None:
    with sqlite3.connect(source.home / "dockyard.db") as conn:
        conn.executemany(
            "INSERT INTO metric (run_id, key, step, value, timestamp) VALUES (1, 'x', ?, ?, ?)",
            ((step, step / 7, 1.0e9 + step) for step in range(400_000)),
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "dockyard.tui", "migrate-store", "--to", empty_db],
        cwd=source.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                copying = _rows(
                    empty_db,
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY \"metric\"%%'",
                )[0][0]
                if copying:
                    break
            assert process.poll() is None, process.communicate()
            time.sleep(0.02)
        else:
            pytest.fail("the copy of the metric table was never seen")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # the server ends the dead client's transaction: nothing it copied remains
    deadline = time.monotonic() + 10
    while (
        _rows(empty_db, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY%%'")[0][0]
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert _pg_total_rows(empty_db) == 0
    assert "[store]" not in (source.home / SETTINGS_FILENAME).read_text()


def test_init_db_keeps_an_existing_settings_file(tmp_path: Path, pg_url: str) -> None:
    from dockyard.core.workspace import find_workspace, init_workspace

    home = tmp_path / ".dockyard"
    home.mkdir()
    (home / SETTINGS_FILENAME).write_text('[agent]\nexecutor = "local"\n')
    init_workspace(tmp_path, env={}, db=pg_url)
    text = (home / SETTINGS_FILENAME).read_text()
    assert text.startswith('[agent]\nexecutor = "local"\n') and f'db = "{pg_url}"' in text
    assert oct((home / SETTINGS_FILENAME).stat().st_mode & 0o777) == "0o600"  # a password
    assert find_workspace(tmp_path, env={}).db_url == pg_url


def test_copy_that_does_not_verify_is_removed_again(
    source: Workspace, empty_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should the audit chain not verify on PostgreSQL after the commit (a conversion that
    changed an event), the copied rows go and the workspace stays on SQLite."""
    from dataclasses import replace

    from dockyard.core import audit
    from dockyard.core.migrate_store import MigrationError, migrate_store

    real = audit.check_chain

    def check_chain(workspace: Workspace, progress: Any = None) -> audit.ChainReport:
        report = real(workspace, progress)
        if workspace.db_url.startswith("postgresql"):
            return replace(report, broken_id=1, problem="event 1 was edited")
        return report

    monkeypatch.setattr(audit, "check_chain", check_chain)
    settings = (source.home / SETTINGS_FILENAME).read_text()
    with pytest.raises(MigrationError, match=r"did not verify on PostgreSQL.*removed again"):
        migrate_store(source, empty_db, env={})
    assert _pg_total_rows(empty_db) == 0
    assert (source.home / SETTINGS_FILENAME).read_text() == settings
    assert not (source.home / "audit-witness.sqlite").exists()
    # the sequences start over too: a later move gets the same ids
    monkeypatch.setattr(audit, "check_chain", real)
    assert migrate_store(source, empty_db, env={}).ok
