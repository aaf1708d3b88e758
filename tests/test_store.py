"""The store: migrations from empty, pragmas in force, refusal of a newer schema."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from dockyard.core.workspace import Workspace, init_workspace
from dockyard.store.db import (
    HEAD_REVISION,
    SchemaTooNewError,
    known_revisions,
    open_engine,
    sqlite_url,
)
from tests.test_cli import dockyard, one_line_error


def test_migrates_an_empty_file_to_head(tmp_path: Path) -> None:
    engine = open_engine(sqlite_url(tmp_path / "s.db"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == (
            HEAD_REVISION
        )
        tables = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master"))}
    for table in (
        "project", "dataset", "dataset_version", "run", "param", "metric", "artifact",
        "registered_model", "model_version", "deployment_request", "approval", "deployment",
        "monitor", "monitor_result", "alert", "audit_event", "agent_lease",
    ):  # fmt: skip
        assert table in tables


def test_head_revision_matches_the_migration_scripts() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from dockyard.store.db import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION
    assert known_revisions()[-1] == HEAD_REVISION


def test_pragmas_are_in_force_on_every_connection(tmp_path: Path) -> None:
    engine = open_engine(sqlite_url(tmp_path / "s.db"))
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 10000
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL


def test_foreign_keys_are_enforced(tmp_path: Path) -> None:
    engine = open_engine(sqlite_url(tmp_path / "s.db"))
    with pytest.raises(Exception, match="FOREIGN KEY"), engine.begin() as conn:
        conn.execute(text("INSERT INTO param (run_id, key, value) VALUES (999, 'a', 'b')"))


def test_reopening_at_head_does_not_touch_alembic(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "s.db")
    open_engine(url).dispose()
    open_engine(url).dispose()  # second open: fast path, schema unchanged
    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)


def test_a_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    open_engine(sqlite_url(path)).dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    before = path.read_bytes()
    with pytest.raises(SchemaTooNewError, match="newer than this Dockyard knows"):
        open_engine(sqlite_url(path))
    assert path.read_bytes() == before


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    from dockyard.store.db import StoreError

    path = tmp_path / "s.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open the store"):
        open_engine(sqlite_url(path))


def test_an_older_store_is_migrated_to_head_on_open(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from dockyard.store.db import MIGRATIONS_DIR

    path = tmp_path / "old.db"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with create_engine(sqlite_url(path)).begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
    engine = open_engine(sqlite_url(path))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == (
            HEAD_REVISION
        )
        indexes = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master"))}
    assert "ix_metric_run_key_step_value" in indexes and "ix_metric_run_key_step" not in indexes


# --- both engines -------------------------------------------------------------------------


@pytest.mark.both_stores
def test_the_migrations_build_the_same_tables_and_indexes_on_both_engines(
    workspace: Workspace,
) -> None:
    from sqlalchemy import inspect

    engine = open_engine(workspace.db_url)
    try:
        with engine.connect() as conn:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            inspector = inspect(conn)
            tables = set(inspector.get_table_names())
            indexes = {ix["name"] for table in tables for ix in inspector.get_indexes(table)}
    finally:
        engine.dispose()
    assert revision == HEAD_REVISION
    assert {"run", "metric", "audit_event", "agent_lease", "environment"} <= tables
    for index in (
        "ix_metric_run_key_step_value",
        "ix_run_created_filter",
        "ix_run_status_created",
        "ux_monitor_result_batch",
    ):
        assert index in indexes


# --- PostgreSQL: bad URLs, and the URL the workspace records ------------------------------


PROJECT = '[project]\nname = "p"\nentry = "python t.py"\n'


def _unused_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("command", [("run", "list"), ("project", "add", "."), ("agent",)])
def test_an_unreachable_postgresql_server_is_one_line_without_the_password(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    pytest.importorskip("psycopg")
    init_workspace(tmp_path)
    (tmp_path / "dockyard.toml").write_text(PROJECT)
    port = _unused_port()  # nothing listens there
    url = f"postgresql+psycopg://alice:s3cret-pw@127.0.0.1:{port}/dockyard"
    result = dockyard(*command, cwd=tmp_path, env={"DOCKYARD_DB": url})
    assert result.returncode == 2
    line = one_line_error(result)
    assert f"cannot reach the PostgreSQL server at 127.0.0.1:{port}" in line
    assert "s3cret-pw" not in result.stderr


def test_a_wrong_password_is_one_line_and_init_writes_nothing(tmp_path: Path, pg_url: str) -> None:
    wrong = pg_url.replace(":dockyard-test@", ":not-the-password@")
    init_workspace(tmp_path / "ws")
    for command in (("run", "list"), ("agent",)):
        listed = dockyard(*command, cwd=tmp_path / "ws", env={"DOCKYARD_DB": wrong})
        assert listed.returncode == 2
        assert "refused the login of 'dockyard' (wrong password)" in one_line_error(listed)
        assert "not-the-password" not in listed.stderr
    version = dockyard("--version", cwd=tmp_path / "ws", env={"DOCKYARD_DB": wrong})
    assert version.returncode == 0 and "not-the-password" not in version.stdout
    assert "refused the login of 'dockyard' (wrong password)" in version.stdout
    made = dockyard("init", str(tmp_path / "team"), "--db", wrong, cwd=tmp_path)
    assert made.returncode == 2 and "wrong password" in one_line_error(made)
    assert not (tmp_path / "team").exists()


def test_a_missing_database_is_named(tmp_path: Path, pg_url: str) -> None:
    missing = pg_url.rsplit("/", 1)[0] + "/no_such_db"
    result = dockyard("init", str(tmp_path), "--db", missing, cwd=tmp_path)
    assert result.returncode == 2
    assert "has no database 'no_such_db'; create it" in one_line_error(result)


def test_a_postgresql_store_at_a_newer_migration_is_refused_and_left_untouched(
    tmp_path: Path, pg_url: str
) -> None:
    from tests.stores import _pg_connect

    with _pg_connect(pg_url) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    init_workspace(tmp_path)
    (tmp_path / "dockyard.toml").write_text(PROJECT)
    for command in (("run", "list"), ("project", "add", "."), ("agent",)):
        result = dockyard(*command, cwd=tmp_path, env={"DOCKYARD_DB": pg_url})
        assert result.returncode == 2
        assert "(revision 9999) is newer than this Dockyard knows" in one_line_error(result)
    version = dockyard("--version", cwd=tmp_path, env={"DOCKYARD_DB": pg_url})
    assert f"workspace {tmp_path}: store schema 9999 (this Dockyard expects" in version.stdout
    with _pg_connect(pg_url) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("9999",)]


def test_init_db_records_the_store_for_every_later_command(tmp_path: Path, pg_url: str) -> None:
    made = dockyard("init", str(tmp_path), "--db", pg_url, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    settings = tmp_path / ".dockyard" / "settings.toml"
    assert oct(settings.stat().st_mode & 0o777) == "0o600"  # the URL holds a password
    assert not (tmp_path / ".dockyard" / "dockyard.db").exists()
    (tmp_path / "dockyard.toml").write_text(PROJECT)
    added = dockyard("project", "add", ".", cwd=tmp_path)  # no DOCKYARD_DB: the settings
    assert added.returncode == 0, added.stderr
    listed = dockyard("project", "list", "--json", cwd=tmp_path)
    assert [p["name"] for p in json.loads(listed.stdout)] == ["p"]
    assert not (tmp_path / ".dockyard" / "dockyard.db").exists()
    version = dockyard("--version", cwd=tmp_path)  # read from PostgreSQL, nothing migrated
    assert version.stdout.splitlines()[1] == f"workspace {tmp_path}: store schema {HEAD_REVISION}"
    again = dockyard("init", str(tmp_path), "--db", pg_url.replace("/dy_", "/other_"), cwd=tmp_path)
    assert again.returncode == 2 and "already uses another store" in one_line_error(again)


def test_the_home_screens_read_path_gives_the_same_rows_on_postgresql(
    tmp_path: Path, pg_url: str
) -> None:
    """The TUI's first paint reads through ``open_reader``: psycopg on PostgreSQL, not
    SQLAlchemy; every pane, filtered or not, must show exactly what it shows on SQLite."""
    from dockyard.core.overview import Pane, load_home, row_fields
    from dockyard.store.queries import PsycopgReader, open_reader
    from tests.conftest import FROZEN_NOW, seed_store

    lite = init_workspace(tmp_path / "lite")
    pg = init_workspace(tmp_path / "pg", db=pg_url)
    shown = {}
    for workspace in (lite, pg):
        seed_store(workspace)
        reader = open_reader(workspace.db_url)
        try:
            pages = []
            for text in ("", "wine", "ALICE", "17", "pe"):
                home = load_home(reader, dict.fromkeys(Pane, text), now=FROZEN_NOW)
                for pane in Pane:
                    page = home.panes[pane]
                    pages.append((page.total, page.summary, [row_fields(r) for r in page.rows]))
            shown[workspace.db_url] = (pages, home.agent)
        finally:
            if workspace is pg:
                assert isinstance(reader, PsycopgReader)
            reader.close()
    assert shown[pg.db_url] == shown[lite.db_url]
    assert shown[lite.db_url][0][0][0] == 3  # three datasets: the seed is really there


def test_a_bare_postgresql_url_uses_psycopg(tmp_path: Path, pg_url: str) -> None:
    """``postgresql://`` means psycopg2 to SQLAlchemy; without it, the psycopg we ship."""
    bare = pg_url.replace("postgresql+psycopg://", "postgresql://")
    (tmp_path / "dockyard.toml").write_text(PROJECT)
    init_workspace(tmp_path)
    added = dockyard("project", "add", ".", cwd=tmp_path, env={"DOCKYARD_DB": bare})
    assert added.returncode == 0, added.stderr
    listed = dockyard("project", "list", "--json", cwd=tmp_path, env={"DOCKYARD_DB": bare})
    assert [p["name"] for p in json.loads(listed.stdout)] == ["p"]


def test_without_postgresql_its_tests_skip_here_and_fail_in_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.conftest import _pg_unavailable

    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL is not usable here: gone"):
        _pg_unavailable("gone")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="PostgreSQL is required in CI"):
        _pg_unavailable("gone")
