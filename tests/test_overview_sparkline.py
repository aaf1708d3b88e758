"""The Runs pane draws a sparkline of a live run's primary metric; ended runs get none."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from dockyard.core.overview import Pane, RunRow, load_pane, sparkline
from dockyard.core.workspace import init_workspace
from dockyard.store.queries import open_reader

NOW = "2026-01-01 00:00:00"


def test_sparkline_scales_between_min_and_max() -> None:
    assert sparkline([0.0, 0.5, 1.0]) == "▁▅█"
    assert sparkline([2.0, 2.0]) == "▁▁"
    assert sparkline([1.0]) == ""


def test_live_runs_show_their_recent_primary_metric(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path)
    assert ws.db_path is not None
    with sqlite3.connect(ws.db_path) as conn:
        conn.execute(
            "INSERT INTO project (name, path, description, entry, spec_json, spec_hash, "
            "created_at, updated_at) VALUES ('p', '.', '', 'x', '{}', '', ?, ?)",
            (NOW, NOW),
        )
        for run_id, status in ((1, "running"), (2, "finished")):
            conn.execute(
                "INSERT INTO run (id, project_id, status, command, error, host, user, "
                "log_path, env_json, primary_metric, primary_value, created_at) "
                "VALUES (?, 1, ?, '', '', '', '', '', '{}', 'acc', 0.9, ?)",
                (run_id, status, NOW),
            )
            conn.executemany(
                "INSERT INTO metric (run_id, key, step, value, timestamp) "
                "VALUES (?, 'acc', ?, ?, 0)",
                [(run_id, step, step / 20) for step in range(20)],
            )
    page = load_pane(open_reader(ws.db_url), Pane.RUNS)
    rows = {row.id: row for row in page.rows if isinstance(row, RunRow)}
    assert rows[1].sparkline == sparkline([step / 20 for step in range(8, 20)])
    assert rows[1].sparkline in rows[1].cells()[4]
    assert rows[2].sparkline == ""
