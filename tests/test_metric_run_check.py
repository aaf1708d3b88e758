"""``metric.run_id`` on PostgreSQL: checked once per statement by migration 0012's triggers
instead of the per-row foreign key, with the same guarantee and the same errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.core.tracking import _COPY_METRICS, _COPY_TYPES
from dockyard.core.workspace import Workspace, init_workspace
from tests import stores

MISSING = 999_999
#: migration 0012's triggers
OURS = (
    "tgname IN ('metric_run_insert', 'metric_run_update', 'run_id_kept', 'run_metric_delete',"
    " 'run_metric_truncate')"
)
INSERT = "INSERT INTO metric (run_id, key, step, value, timestamp) VALUES (%s, 'loss', 0, 1, 0)"


@pytest.fixture
def pg(tmp_path: Path, pg_url: str) -> Iterator[tuple[Workspace, int]]:
    """A PostgreSQL workspace with one run (its id) that has two points."""
    workspace = init_workspace(tmp_path, db=pg_url)
    with stores.connect(workspace) as conn:
        conn.execute(
            "INSERT INTO project (name, path, description, entry, spec_json, spec_hash,"
            " created_at, updated_at) VALUES ('p', '/p', '', 'true', '{}', 'x', now(), now())"
        )
        (run_id,) = conn.execute(
            'INSERT INTO run (project_id, status, command, error, host, "user", log_path,'
            " env_json, code_json, created_at) SELECT id, 'running', '', '', '', 'u', '', '{}',"
            " '{}', now() FROM project RETURNING id"
        ).fetchone()
        conn.execute(INSERT, (run_id,))
        conn.execute(INSERT, (run_id,))
    yield workspace, int(run_id)


def _orphans(workspace: Workspace) -> int:
    return int(
        stores.rows(
            workspace,
            "SELECT count(*) FROM metric WHERE NOT EXISTS"
            " (SELECT 1 FROM run WHERE run.id = metric.run_id)",
        )[0][0]
    )


def _refusal(exc: pytest.ExceptionInfo[Any]) -> tuple[str, str | None, str | None, str | None]:
    diag = exc.value.diag
    assert (diag.schema_name, diag.table_name) == ("public", "metric")  # as the key's error
    return (type(exc.value).__name__, diag.message_primary, diag.message_detail,
            diag.constraint_name)  # fmt: skip


def test_the_foreign_key_is_replaced_by_statement_triggers(pg: tuple[Workspace, int]) -> None:
    workspace, _ = pg
    assert stores.rows(
        workspace,
        "SELECT conname FROM pg_constraint WHERE conrelid = 'metric'::regclass AND contype = 'f'",
    ) == []  # fmt: skip
    triggers = stores.rows(
        workspace,
        f"SELECT tgname, tgtype & 1 FROM pg_trigger WHERE {OURS} ORDER BY tgname",
    )
    # bit 1 of tgtype: per row; only the check of a changed run id is
    assert triggers == [
        ("metric_run_insert", 0),
        ("metric_run_update", 0),
        ("run_id_kept", 1),
        ("run_metric_delete", 0),
        ("run_metric_truncate", 0),
    ]


def test_a_point_for_a_missing_run_is_refused_as_the_foreign_key_refused_it(
    pg: tuple[Workspace, int],
) -> None:
    import psycopg

    workspace, run_id = pg
    expected = (
        "ForeignKeyViolation",
        'insert or update on table "metric" violates foreign key constraint "metric_run_id_fkey"',
        f'Key (run_id)=({MISSING}) is not present in table "run".',
        "metric_run_id_fkey",
    )
    with stores.connect(workspace) as conn, pytest.raises(psycopg.IntegrityError) as insert:
        conn.execute(  # one good row and one bad: the statement is refused whole
            "INSERT INTO metric (run_id, key, step, value, timestamp)"
            " VALUES (%s, 'a', 0, 1, 0), (%s, 'a', 1, 1, 0)",
            (run_id, MISSING),
        )
    assert _refusal(insert) == expected
    # the Tracker's own statement: binary COPY, in batches
    with (
        stores.connect(workspace) as conn,
        pytest.raises(psycopg.IntegrityError) as copied,
        conn.cursor() as cursor,
        cursor.copy(_COPY_METRICS) as copy,
    ):
        copy.set_types(_COPY_TYPES)
        for step in range(1000):
            copy.write_row((run_id if step % 2 else MISSING, "a", step, 1.0, 0.0))
    assert _refusal(copied) == expected
    with stores.connect(workspace) as conn, pytest.raises(psycopg.IntegrityError) as moved:
        conn.execute("UPDATE metric SET run_id = %s", (MISSING,))
    assert _refusal(moved) == expected
    assert stores.rows(workspace, "SELECT count(*) FROM metric") == [(2,)]
    # SQLAlchemy, as core writes, raises what it raised for the foreign key
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import IntegrityError

    engine = create_engine(workspace.db_url)
    try:
        with pytest.raises(IntegrityError, match="metric_run_id_fkey"), engine.begin() as conn:
            conn.execute(text(INSERT.replace("%s", str(MISSING))))
    finally:
        engine.dispose()


def test_deleting_a_run_with_points_is_refused_unless_they_go_first(
    pg: tuple[Workspace, int],
) -> None:
    import psycopg

    from dockyard.core.housekeeping import delete

    workspace, run_id = pg
    with stores.connect(workspace) as conn, pytest.raises(psycopg.IntegrityError) as refused:
        conn.execute("DELETE FROM run WHERE id = %s", (run_id,))
    assert _refusal(refused) == (
        "ForeignKeyViolation",
        'update or delete on table "run" violates foreign key constraint "metric_run_id_fkey"'
        ' on table "metric"',
        f'Key (id)=({run_id}) is still referenced from table "metric".',
        "metric_run_id_fkey",
    )
    with stores.connect(workspace) as conn, pytest.raises(psycopg.IntegrityError):
        conn.execute("UPDATE run SET id = %s WHERE id = %s", (MISSING, run_id))
    with stores.connect(workspace) as conn, pytest.raises(psycopg.IntegrityError):
        conn.execute("TRUNCATE run CASCADE")  # cascades to run's other children, not metric
    stores.execute(workspace, ("UPDATE run SET status = 'finished' WHERE id = ?", (run_id,)))
    assert delete(workspace, "run", str(run_id)).changed  # `dockyard run delete`
    assert stores.rows(workspace, "SELECT count(*) FROM metric") == [(0,)]


def test_a_login_granted_only_insert_on_metric_may_log_points(
    pg: tuple[Workspace, int], pg_server: Any
) -> None:
    # the foreign key checked and locked the run as the tables' owner; so do the triggers
    import psycopg

    from tests.pg_server import PASSWORD

    workspace, run_id = pg
    role = f"metric_writer_{run_id}_{id(workspace) % 10_000}"
    database = workspace.db_url.rsplit("/", 1)[1]
    with stores.connect(workspace) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
        conn.execute(f"GRANT INSERT ON metric TO {role}")
        conn.execute(f"GRANT USAGE ON SEQUENCE metric_id_seq TO {role}")
    try:
        with psycopg.connect(
            f"host=127.0.0.1 port={pg_server.port} dbname={database} user={role}"
            f" password={PASSWORD}"
        ) as narrow:
            narrow.execute(INSERT, (run_id,))
            narrow.commit()
            with pytest.raises(psycopg.errors.ForeignKeyViolation):
                narrow.execute(INSERT, (MISSING,))
    finally:
        with stores.connect(workspace) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")
    assert stores.rows(workspace, "SELECT count(*) FROM metric") == [(3,)]


def _in_thread(work: Any) -> tuple[threading.Thread, list[BaseException]]:
    failures: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as exc:  # handed to the test
            failures.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, failures


def test_a_run_deleted_while_points_arrive_leaves_no_orphans(pg: tuple[Workspace, int]) -> None:
    import psycopg

    workspace, run_id = pg
    stores.execute(workspace, ("DELETE FROM metric WHERE run_id = ?", (run_id,)))
    # 1. points first: their statement locks the run, so the delete waits, then is refused
    with stores.connect(workspace) as writer, stores.connect(workspace) as deleter:
        writer.execute(INSERT, (run_id,))  # not committed yet
        deleter.execute("SET lock_timeout = '300ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            deleter.execute("DELETE FROM run WHERE id = %s", (run_id,))
        deleter.rollback()
        deleter.execute("SET lock_timeout = '30s'")
        thread, failures = _in_thread(
            lambda: deleter.execute("DELETE FROM run WHERE id = %s", (run_id,))
        )
        thread.join(0.3)
        assert thread.is_alive()  # waiting for the writer
        writer.commit()
        thread.join(30)
        assert [type(f) for f in failures] == [psycopg.errors.ForeignKeyViolation]
    assert _orphans(workspace) == 0
    # 2. the delete first: the points wait for it, then find no run
    stores.execute(workspace, ("DELETE FROM metric WHERE run_id = ?", (run_id,)))
    with stores.connect(workspace) as writer, stores.connect(workspace) as deleter:
        deleter.execute("DELETE FROM run WHERE id = %s", (run_id,))  # not committed yet
        thread, failures = _in_thread(lambda: writer.execute(INSERT, (run_id,)))
        thread.join(0.3)
        assert thread.is_alive()  # waiting for the deleter
        deleter.commit()
        thread.join(30)
        assert [type(f) for f in failures] == [psycopg.errors.ForeignKeyViolation]
    assert _orphans(workspace) == 0
    assert stores.rows(workspace, "SELECT count(*) FROM run WHERE id = ?", run_id) == [(0,)]


def test_migration_0012_downgrades_and_upgrades_on_both_engines(
    tmp_path: Path, pg_url: str
) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect, text

    from dockyard.store.db import MIGRATIONS_DIR, open_engine

    def state(engine: Any) -> tuple[list[str], int]:
        keys = [fk["referred_table"] for fk in inspect(engine).get_foreign_keys("metric")]
        if engine.dialect.name == "sqlite":
            return keys, 0
        with engine.connect() as conn:
            count = conn.execute(text(f"SELECT count(*) FROM pg_trigger WHERE {OURS}")).scalar_one()
        return keys, int(count)

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    for url, head in ((f"sqlite:///{tmp_path / 'd.db'}", (["run"], 0)), (pg_url, ([], 5))):
        engine = open_engine(url)
        try:
            assert state(engine) == head
            for target, expected in (("0011", (["run"], 0)), ("head", head)):
                with engine.begin() as conn:
                    config.attributes["connection"] = conn
                    (command.downgrade if target == "0011" else command.upgrade)(config, target)
                assert state(engine) == expected
        finally:
            engine.dispose()
