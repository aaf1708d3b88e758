"""Each bench of tracking, load, compare, deploy and monitoring runs end to end at a tiny
size and writes its JSON: the benches keep working as the code under them changes (numbers
are not checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
TOP_LEVEL = {"bench", "date", "machine", "params", "results", "targets"}
TARGET_FIELDS = {"name", "value", "target", "unit", "comparison", "met", "note"}

pytestmark = pytest.mark.slow


def run_bench(script: str, out: Path, *args: str, timeout: float = 120) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=BENCH.parent,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    data: dict[str, Any] = json.loads(out.read_text())
    assert set(data) >= TOP_LEVEL
    assert data["targets"], "a bench states its targets"
    for target in data["targets"]:
        assert set(target) >= TARGET_FIELDS
    assert "Targets" in done.stdout  # the rich table was printed
    return data


def test_tracking_bench(tmp_path: Path) -> None:
    data = run_bench(
        "tracking.py",
        tmp_path / "tracking.json",
        "--points",
        "2000",
        "--repeat",
        "1",
        "--history-steps",
        "500",
        "--no-mlflow",
    )
    results = data["results"]
    assert data["bench"] == "tracking"
    assert {"tracker", "tracker_metrics", "raw"} <= set(results["throughput"])
    assert results["lost_points"] == 0
    assert results["throughput"]["tracker"]["samples"][0]["stored"] == 2000
    assert results["history"]["points"] == 500
    assert results["mlflow"]["available"] is False  # --no-mlflow never installs it
    assert results["ratio_to_raw"] > 0
    assert results["history_ratio_to_raw"] > 0
    names = {target["name"] for target in data["targets"]}
    assert "throughput / raw sqlite3 executemany, same run" in names
    assert "metric_history / raw sqlite3 same query, same run" in names


def test_load_bench(tmp_path: Path) -> None:
    data = run_bench(
        "load.py",
        tmp_path / "load.json",
        "--writers",
        "3",
        "--seconds",
        "1",
        "--writer-points",
        "4000",
        "--runs",
        "300",
        "--points",
        "20000",
        "--history-steps",
        "1000",
        "--watch-seconds",
        "1",
        "--repeat",
        "1",
    )
    concurrent = data["results"]["concurrent"]
    assert concurrent["lost_points"] == 0
    assert concurrent["writer_locked_errors"] == 0
    assert concurrent["reader"]["locked"] == 0
    assert concurrent["stored_points"] == concurrent["logged_points"] > 0
    large = data["results"]["large"]
    assert large["runs"] == 300
    assert large["metric_points"] == 20000
    assert large["history_points"] == 1000
    assert large["db_bytes"] > 0
    assert {"project name", "no match"} <= set(large["filters"])
    # the budget comes from the bare app measured in this run, not from a saved file
    assert large["bare_app_interactive_seconds"]["n"] == 1
    assert "this run" in large["startup_budget_source"]
    assert all(f["cold_seconds"] > 0 for f in large["filters"].values())
    assert large["history_raw_sqlite3_seconds"]["median"] > 0
    names = {target["name"] for target in data["targets"]}
    assert "large: slowest first (cold) filter, fresh process" in names
    assert "large: metric_history / raw sqlite3 same query, same run" in names


def test_compare_bench(tmp_path: Path) -> None:
    data = run_bench(
        "compare.py",
        tmp_path / "compare.json",
        "--versions",
        "3",
        "--points",
        "2000",
        "--repeat",
        "1",
    )
    results = data["results"]
    assert data["params"]["versions"] == 3
    assert results["curves"] == 4
    assert 0 < results["max_points_per_curve"] <= 100
    assert results["compare_seconds"]["n"] == 1
    assert results["cli_whole_process"]["warm_seconds"]["n"] == 1
    assert results["tui_first_compare"]["painted_seconds"]["n"] == 1
    # the TUI's first compare reads through sqlite3: SQLAlchemy is never loaded
    assert results["tui_first_compare"]["sqlalchemy_loaded"] == ["False"]


def test_deploy_bench(tmp_path: Path) -> None:
    data = run_bench(
        "deploy.py",
        tmp_path / "deploy.json",
        "--rows",
        "3000",
        "--events",
        "3000",
        "--repeat",
        "1",
        "--keep",
        str(tmp_path / "work"),
    )
    predict, audit = data["results"]["predict"], data["results"]["audit"]
    assert predict["rows"] == 3000 and predict["ratio"] > 0
    assert predict["warm"]["dockyard"]["n"] == 1
    assert audit["events"] == 3000 and audit["warm"]["n"] == 1


def test_monitoring_bench(tmp_path: Path) -> None:
    data = run_bench(
        "monitoring.py", tmp_path / "monitoring.json", "--rows", "20000", "--repeat", "1"
    )
    results = data["results"]
    assert results["dockyard_seconds"]["n"] == 1 and results["evidently"]["measured"] is False
    assert results["peak_traced_bytes"] > 0 and results["batch_frame_bytes"] > 0
    assert [name for name, _status in results["flagged"]["100,000 rows"]] == sorted(
        data["params"]["shifted"]
    )


@pytest.mark.timeout(400)
def test_dask_sweep_bench(tmp_path: Path) -> None:
    data = run_bench(
        "dask_sweep.py", tmp_path / "dask.json", "--runs", "2", "--cv-folds", "2", timeout=360
    )
    results = data["results"]
    assert data["bench"] == "dask_sweep"
    for name in ("local", "dask"):
        (sweep,) = results[name]["sweeps"]
        assert sweep["runs"] == 2 and sweep["wall_seconds"] > 0
    assert results["local"]["sweeps"][0]["workers_used"] == ["local"]
    assert all(w.startswith("tcp://") for w in results["dask"]["sweeps"][0]["workers_used"])
    assert results["ratio"] > 0


def test_pg_tracking_bench(tmp_path: Path, pg_server: Any) -> None:
    """On the suite's own server (``--db``): the bench makes its databases there and drops
    them; no server of its own, no MLflow."""
    data = run_bench(
        "pg_tracking.py",
        tmp_path / "pg_tracking.json",
        "--db",
        pg_server.url("postgres"),
        "--points",
        "2000",
        "--repeat",
        "1",
        "--no-mlflow",
    )
    results = data["results"]
    assert results["lost_points"] == 0
    assert {"pg_tracker", "pg_tracker_metrics", "pg_copy", "sqlite_tracker"} <= set(
        results["points_per_s"]
    )
    assert results["samples"]["pg_tracker"][0]["stored"] == 2000
    assert results["ratios"]["tracker_vs_copy"] > 0
    assert results["server"]["where"] == "--db"
    assert _bench_databases(pg_server) == []


def test_pg_load_bench(tmp_path: Path, pg_server: Any) -> None:
    data = run_bench(
        "pg_load.py",
        tmp_path / "pg_load.json",
        "--db", pg_server.url("postgres"), "--runs", "200", "--seconds", "3",
        "--writers", "2", "--readers", "2", "--rate", "400", "--every", "0.5",
        "--approve-every", "0.5", "--requests", "2", "--baseline-reads", "3",
        timeout=300,
    )  # fmt: skip
    results = data["results"]
    assert results["errors"] == 0, results
    assert results["writers"]["lost_points"] == 0
    assert results["writers"]["stored_points"] == results["writers"]["logged_points"] > 0
    assert results["readers"]["runs_page"]["n"] >= 2 and results["baseline"]["n"] == 3
    # two requests, each approved by both approvers, the second approval deploying it
    assert results["approvers"]["approvals_in_store"] == 4
    assert results["approvers"]["deployments_in_store"] == 2
    assert _bench_databases(pg_server) == []


def _bench_databases(server: Any) -> list[str]:
    import psycopg

    with psycopg.connect(server.conninfo()) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'dockyard_bench_%'"
        ).fetchall()
    return [str(row[0]) for row in rows]
