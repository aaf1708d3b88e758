"""The Runs pane's total on PostgreSQL: counted again only when ``run_change`` moved
(migration 0011), and exact whatever changed in between."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dockyard.core.overview import Pane, load_pane
from dockyard.core.workspace import Workspace, init_workspace
from dockyard.store.queries import PsycopgReader, libpq_url
from tests import stores

FULL_COUNT = "AS total"


class CountingReader(PsycopgReader):
    """The TUI's PostgreSQL reader, keeping the statements it ran."""

    def __init__(self, conninfo: str) -> None:
        super().__init__(conninfo)
        self.statements: list[str] = []

    def fetch_all(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        self.statements.append(sql)
        return super().fetch_all(sql, params)


def _truth(workspace: Workspace, archived: str = "hide") -> tuple[int, int]:
    where = {"hide": "archived_at IS NULL", "include": "TRUE"}[archived]
    ((running, total),) = stores.rows(
        workspace,
        f"SELECT count(*) FILTER (WHERE status = 'running'), count(*) FROM run WHERE {where}",
    )
    return running, total


def _page(reader: CountingReader, archived: str = "hide") -> tuple[int, int, bool]:
    """(running, total, whether the whole table was counted) of one refresh."""
    reader.statements.clear()
    page = load_pane(reader, Pane.RUNS, archived=archived)
    counted = any(FULL_COUNT in sql for sql in reader.statements)
    return page.counts["running"], page.total, counted


def _insert_run(conn: Any, status: str = "finished") -> None:
    conn.execute(
        'INSERT INTO run (project_id, status, command, error, host, "user", log_path,'
        " env_json, code_json, created_at) SELECT id, %s, '', '', '', 'u', '', '{}', '{}', now()"
        " FROM project LIMIT 1",
        (status,),
    )


@pytest.fixture
def pg(tmp_path: Path, pg_url: str) -> Any:
    workspace = init_workspace(tmp_path, db=pg_url)
    stores.execute(
        workspace,
        "INSERT INTO project (name, path, description, entry, spec_json, spec_hash, created_at,"
        " updated_at) VALUES ('p', '/p', '', 'true', '{}', 'x', now(), now())",
    )
    conn = stores.connect(workspace)
    conn.autocommit = True
    for status in ("running", "finished", "finished"):
        _insert_run(conn, status)
    conninfo = libpq_url(pg_url)
    assert conninfo is not None
    reader = CountingReader(conninfo)
    yield workspace, reader, conn
    reader.close()
    conn.close()


def test_the_runs_total_is_counted_again_only_when_runs_come_go_or_are_archived(
    pg: tuple[Workspace, CountingReader, Any],
) -> None:
    workspace, reader, conn = pg
    assert _page(reader) == (1, 3, True)
    assert _page(reader) == (1, 3, False)  # nothing changed: the marker alone

    conn.execute("UPDATE run SET status = 'running' WHERE status = 'finished' AND id = 2")
    assert _page(reader) == (2, 3, False) and _truth(workspace) == (2, 3)
    conn.execute("UPDATE run SET heartbeat_at = now(), primary_value = 1.0")
    assert _page(reader) == (2, 3, False)

    _insert_run(conn)
    assert _page(reader) == (2, 4, True) and _truth(workspace) == (2, 4)
    conn.execute("UPDATE run SET archived_at = now(), archived_by = 'u' WHERE id = 1")
    assert _page(reader) == (1, 3, True) and _truth(workspace) == (1, 3)
    assert _page(reader, "include") == (2, 4, True)
    assert _page(reader) == (1, 3, False)  # each list keeps its own total
    conn.execute("UPDATE run SET archived_at = NULL WHERE id = 1")
    assert _page(reader) == (2, 4, True)
    conn.execute("DELETE FROM run WHERE id = 4")
    assert _page(reader) == (2, 3, True) and _truth(workspace) == (2, 3)


def test_a_run_added_in_a_transaction_counts_when_it_commits(
    pg: tuple[Workspace, CountingReader, Any],
) -> None:
    workspace, reader, conn = pg
    assert _page(reader)[:2] == (1, 3)
    conn.autocommit = False
    _insert_run(conn)
    assert _page(reader) == (1, 3, False)  # not committed: not counted, marker unmoved
    conn.commit()
    assert _page(reader) == (1, 4, True) and _truth(workspace) == (1, 4)


def test_a_filtered_runs_list_is_counted_as_before(
    pg: tuple[Workspace, CountingReader, Any],
) -> None:
    _, reader, _ = pg
    reader.statements.clear()
    page = load_pane(reader, Pane.RUNS, "finished")
    assert page.total == 2
    assert not any("run_change" in sql for sql in reader.statements)
