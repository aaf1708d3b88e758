"""bench/seed.py writes a store that Dockyard's own code reads: keeps the bench from rotting."""

from __future__ import annotations

import importlib.util
import json
import re
import sqlite3
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dockyard.core.projects import list_projects
from dockyard.core.runs import ACTIVE, FINAL, get_run, list_runs
from dockyard.core.workspace import find_workspace
from tests import stores

SEED_PY = Path(__file__).resolve().parent.parent / "bench" / "seed.py"
NOW = datetime(2026, 3, 14, 12, 0, 0, tzinfo=UTC)
# What SQLModel writes for a datetime in SQLite (UTC, always six fractional digits).
SQLMODEL_DATETIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")


def load_seed() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dockyard_bench_seed", SEED_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def seed() -> ModuleType:
    return load_seed()


@pytest.fixture
def seeded(seed: ModuleType, tmp_path: Path) -> Path:
    seed.seed_workspace(tmp_path, runs=500, metrics_per_run=6, now=NOW)
    return tmp_path


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_core_reads_the_seeded_projects_and_runs(seeded: Path) -> None:
    workspace = find_workspace(home=seeded)
    projects = list_projects(workspace)
    assert [p.name for p in projects] == [
        "churn",
        "demand-forecast",
        "fraud",
        "house-prices",
        "wine-quality",
    ]
    assert all(p.spec.primary_metric for p in projects)

    newest = list_runs(workspace, limit=30)
    assert {r.status for r in newest[:18]} <= set(ACTIVE)  # active runs come first
    finished = list_runs(workspace, status="finished", limit=5)
    assert finished and all(r.primary_value is not None for r in finished)
    run = get_run(workspace, finished[0].id)
    assert run.params and run.dataset and run.log_path.endswith(f"run-{run.id}.log")
    assert NOW - timedelta(days=200) < run.created_at <= NOW


def test_counts_statuses_and_integrity(seeded: Path) -> None:
    db = seeded / ".dockyard" / "dockyard.db"
    assert rows(db, "SELECT COUNT(*) FROM run") == [(500,)]
    statuses = dict(rows(db, "SELECT status, COUNT(*) FROM run GROUP BY status"))
    assert set(statuses) <= set(ACTIVE) | set(FINAL)
    assert statuses["finished"] > 350 and statuses["running"] and statuses["queued"]
    assert rows(db, "PRAGMA foreign_key_check") == []
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]
    for table in (
        "dataset_version",
        "param",
        "metric",
        "model_version",
        "deployment_request",
        "approval",
        "deployment",
        "monitor_result",
        "alert",
    ):
        assert rows(db, f"SELECT COUNT(*) FROM {table}")[0][0] > 0, table
    pending = rows(db, "SELECT COUNT(*) FROM deployment_request WHERE status = 'pending'")
    assert pending[0][0] >= 1
    # params are JSON text, as core.runs writes them
    assert all(json.loads(str(v)) is not None for (v,) in rows(db, "SELECT value FROM param"))
    # the indexes dropped for the bulk load are all back
    indexes = {name for (name,) in rows(db, "SELECT name FROM sqlite_master WHERE type='index'")}
    wanted = {"ix_run_status_created", "ix_run_created_filter", "ix_metric_run_key_step_value"}
    assert wanted <= indexes


def test_datetimes_are_written_as_sqlmodel_writes_them(seeded: Path) -> None:
    db = seeded / ".dockyard" / "dockyard.db"
    written = [
        value
        for (value,) in rows(
            db,
            "SELECT created_at FROM run UNION ALL SELECT started_at FROM run "
            "WHERE started_at IS NOT NULL UNION ALL SELECT ran_at FROM monitor_result "
            "UNION ALL SELECT created_at FROM project",
        )
    ]
    assert written and all(SQLMODEL_DATETIME.match(str(v)) for v in written)


def test_runs_follow_time_and_metrics_end_at_the_primary_value(seeded: Path) -> None:
    db = seeded / ".dockyard" / "dockyard.db"
    created = [v for (v,) in rows(db, "SELECT created_at FROM run ORDER BY id")]
    assert created == sorted(created)
    last = rows(
        db,
        "SELECT r.primary_value, m.value FROM run r JOIN metric m ON m.run_id = r.id "
        "AND m.key = r.primary_metric AND m.step = 2 WHERE r.status = 'finished' LIMIT 20",
    )
    assert last and all(abs(float(a) - float(b)) < 1e-4 for a, b in last)


def test_running_runs_have_live_curves_and_the_runs_pane_draws_their_sparklines(
    seed: ModuleType, seeded: Path
) -> None:
    from dockyard.core.overview import SPARK_POINTS, Pane, RunRow, load_pane
    from dockyard.store.queries import open_reader

    db = seeded / ".dockyard" / "dockyard.db"
    counts = rows(
        db,
        "SELECT r.id, COUNT(m.step) FROM run r LEFT JOIN metric m ON m.run_id = r.id "
        "AND m.key = r.primary_metric WHERE r.status = 'running' GROUP BY r.id",
    )
    assert counts and all(n == seed.LIVE_STEPS > SPARK_POINTS for _, n in counts)
    reader = open_reader(f"sqlite:///{db}")
    try:
        page = load_pane(reader, Pane.RUNS, "running", limit=50)
    finally:
        reader.close()
    live = [row for row in page.rows if isinstance(row, RunRow) and row.status == "running"]
    assert len(live) == len(counts)
    assert all(len(row.sparkline) == SPARK_POINTS for row in live)


def test_seeding_twice_is_refused_and_the_cli_reports_it(seed: ModuleType, seeded: Path) -> None:
    with pytest.raises(ValueError, match="already holds runs"):
        seed.seed_workspace(seeded, runs=10, now=NOW)
    assert seed.main([str(seeded), "--runs", "10"]) == 2


def test_cli_seeds_a_new_folder(seed: ModuleType, tmp_path: Path) -> None:
    assert seed.main([str(tmp_path / "w"), "--runs", "40", "--metrics-per-run", "0"]) == 0
    db = tmp_path / "w" / ".dockyard" / "dockyard.db"
    assert rows(db, "SELECT COUNT(*) FROM run") == [(40,)]
    assert rows(db, "SELECT COUNT(*) FROM metric") == [(0,)]


def load_startup() -> ModuleType:
    path = SEED_PY.with_name("startup.py")
    spec = importlib.util.spec_from_file_location("dockyard_bench_startup", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_startup_bench_reaches_every_phase_of_both_programs(seeded: Path) -> None:
    """The markers bench/startup.py waits for still match what the screens print."""
    startup = load_startup()
    args = startup.build_parser().parse_args(["--runs", "500"])
    for target in startup.make_targets(seeded, args):
        sample = startup.measure(target, (120, 40), timeout=30)
        assert not sample.error, f"{target.name}: {sample.error}"
        assert sample.exit_code == 0
        assert sample.first_paint <= sample.data_shown <= sample.all_shown < sample.interactive
        assert sample.cpu_interactive is not None and sample.cpu_interactive > 0


@pytest.fixture(scope="module")
def monitored(seed: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("monitored")
    seed.seed_workspace(folder, runs=300, now=NOW, monitors=23, monitor_results=2_000)
    return folder


def test_many_monitors_and_results_are_rows_core_reads(monitored: Path) -> None:
    """--monitors / --monitor-results (issue 9's store): every monitor is a project file's,
    results are shared evenly, spaced by schedule and shaped as core.monitoring writes
    them; each alert result raised one alert; the monitors' run counts match."""
    from dockyard.core.monitoring import get_result, list_alerts, list_monitors, monitor_history

    db = monitored / ".dockyard" / "dockyard.db"
    workspace = find_workspace(home=monitored)
    monitors = list_monitors(workspace)
    assert len(monitors) == 23
    assert {m.kind for m in monitors} == {"drift", "quality", "performance"}
    assert len({(m.project, m.schedule) for m in monitors}) > 10  # not one schedule per project
    assert rows(db, "SELECT COUNT(*) FROM monitor_result") == [(2_000,)]
    per_monitor = dict(rows(db, "SELECT monitor_id, COUNT(*) FROM monitor_result GROUP BY 1"))
    assert set(per_monitor.values()) <= {86, 87}
    assert dict(rows(db, "SELECT id, checks_count FROM monitor")) == per_monitor
    statuses = dict(rows(db, "SELECT status, COUNT(*) FROM monitor_result GROUP BY status"))
    assert set(statuses) == {"ok", "warn", "alert", "error"}
    assert rows(db, "SELECT COUNT(*) FROM alert") == [(statuses["alert"],)]
    assert (
        rows(db, "PRAGMA foreign_key_check")
        == []
        == rows(
            db,
            "SELECT id FROM monitor_result WHERE status != 'error' AND "
            "(batch_hash = '' OR rows IS NULL OR model_ref = '' OR headline IS NULL)",
        )
    )
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]
    indexes = {name for (name,) in rows(db, "SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"ix_monitor_result_monitor_ran", "ux_monitor_result_batch", "ix_alert_open"} <= indexes

    for monitor in monitors:
        history = monitor_history(workspace, monitor.id, limit=3)
        assert [r.id for r in history] == sorted((r.id for r in history), reverse=True)
        newest = get_result(workspace, history[0].id)
        assert newest.status == monitor.last_status
        if newest.status == "error":
            assert newest.error and not newest.checks
        else:
            assert newest.checks and {c.status for c in newest.checks} <= {"ok", "warn", "alert"}
            worst = max((c.status for c in newest.checks), key=["ok", "warn", "alert"].index)
            assert worst == newest.status  # the stored status is its checks' worst
    assert list_alerts(workspace)  # the newest alerts are still open
    spacing = rows(
        db,
        "SELECT MIN(julianday(b.ran_at) - julianday(a.ran_at)) FROM monitor_result a "
        "JOIN monitor_result b ON b.monitor_id = a.monitor_id AND b.id = ("
        "SELECT MIN(id) FROM monitor_result c WHERE c.monitor_id = a.monitor_id AND c.id > a.id)",
    )
    assert spacing[0][0] * 24 * 60 >= 29  # the most frequent schedule is every 30 minutes


def test_monitors_fewer_than_the_projects_own_are_refused(seed: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 7"):
        seed.seed_workspace(tmp_path, runs=10, now=NOW, monitors=3)
    assert seed.main([str(tmp_path / "w"), "--runs", "10", "--monitor-results", "-1"]) == 2


def test_the_monitoring_pane_reads_results_and_alerts_by_index_only(monitored: Path) -> None:
    """The home screen's Monitoring pane (open alerts, each monitor's latest result, the
    sparklines' last results) never scans the results or alerts: with a million results
    a scan would cost the startup target (issue 9)."""
    from dockyard.store import queries

    statements = [
        queries.ALERTS_COUNT.format(where="1"),
        queries.ALERTS_PAGE.format(where="1"),
        queries.MONITORS_COUNT.format(where="1"),
        queries.MONITORS_PAGE.format(where="1"),
        queries.monitor_headlines_sql(3),
    ]
    params = {"limit": 100, "offset": 0, "pattern": "%", "n": 20, "m0": 1, "m1": 2, "m2": 3}
    conn = sqlite3.connect(monitored / ".dockyard" / "dockyard.db")
    try:
        for sql in statements:
            plan = [str(row[3]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
            # "SCAN <alias> ...": a full pass over a table (or an index of it)
            scanned = {step.split()[1] for step in plan if step.startswith("SCAN ")}
            assert not scanned & {"al", "lr", "res", "r"}, (sql, plan)
    finally:
        conn.close()


# --- the seeded store on PostgreSQL (bench/pg_load.py's store) -------------------------------


@pytest.fixture(scope="module")
def pg_seeded(
    seed: ModuleType, pg_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    from dockyard.core.workspace import close_stores
    from tests.conftest import create_pg_database, drop_pg_database

    url = create_pg_database(pg_server)
    folder = tmp_path_factory.mktemp("pg-seeded")
    report = seed.seed_workspace(folder, runs=500, metrics_per_run=6, now=NOW, db=url)
    yield report.workspace
    close_stores()
    drop_pg_database(pg_server, url)


def _recording_reader(workspace: Any) -> Any:
    """A psycopg reader of ``workspace`` that keeps every statement it ran, to EXPLAIN."""
    from dockyard.store.queries import PsycopgReader, libpq_url

    class Recording(PsycopgReader):
        statements: list[tuple[str, dict[str, Any]]] = []

        def fetch_all(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
            self.statements.append((sql, dict(params or {})))
            return super().fetch_all(sql, params)

    conninfo = libpq_url(workspace.db_url)
    assert conninfo is not None
    return Recording(conninfo)


def _buffers(workspace: Any, sql: str, params: dict[str, Any]) -> int:
    """Shared buffers PostgreSQL touched running ``sql`` (subplans included)."""
    from dockyard.store.queries import _pyformat

    with stores.connect(workspace) as conn:
        row = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + _pyformat(sql), params)
        plan = row.fetchone()[0][0]["Plan"]
    return int(plan["Shared Hit Blocks"]) + int(plan["Shared Read Blocks"])


def test_seeding_into_postgresql_gives_rows_core_reads(seed: ModuleType, pg_seeded: Any) -> None:
    from dockyard.core.overview import Pane, load_pane
    from dockyard.core.workspace import reader_for

    assert pg_seeded.db_url.startswith("postgresql")
    assert not (pg_seeded.home / "dockyard.db").exists()  # the staging file is gone
    workspace = find_workspace(home=pg_seeded.home)  # the settings name the database
    assert workspace.db_url == pg_seeded.db_url
    assert load_pane(reader_for(workspace), Pane.RUNS).total == 500
    assert len(list_projects(workspace)) == 5
    run = get_run(workspace, max(r.id for r in list_runs(workspace, limit=5)))
    assert run.status in (*ACTIVE, *FINAL)
    # the id sequences moved past the copied rows: Dockyard's next insert does not collide
    (next_id,) = stores.rows(workspace, "SELECT nextval(pg_get_serial_sequence('run', 'id'))")[0]
    assert next_id > 500
    with pytest.raises(ValueError, match="already holds runs"):
        seed.seed_workspace(pg_seeded.root.parent / "again", runs=10, db=pg_seeded.db_url)


def test_home_screen_reads_on_postgresql_stay_small(pg_seeded: Any) -> None:
    """Every statement of the Runs and Monitoring panes touches few buffers on PostgreSQL,
    and the Runs page is a handful of statements whatever the number of live runs: the
    monitors' history sparklines were a subquery PostgreSQL ran once per (result,
    monitor) pair (130,000 buffers for 618 results), and each live run's sparkline was a
    statement of its own (docs/performance.md, "Team scale on PostgreSQL")."""
    from dockyard.core.overview import Pane, RunRow, load_pane

    reader = _recording_reader(pg_seeded)
    page = load_pane(reader, Pane.RUNS)
    live = sum(isinstance(row, RunRow) and row.status in ACTIVE for row in page.rows)
    assert live >= 6 and len(reader.statements) <= 7, len(reader.statements)
    load_pane(reader, Pane.MONITORING)
    for sql, params in reader.statements:
        assert _buffers(pg_seeded, sql, params) < 2_000, " ".join(sql.split())[:200]
    reader.close()
