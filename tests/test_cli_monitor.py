"""`dockyard monitor ...` in a real subprocess on trained, deployed sample models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.core.workspace import Workspace
from tests.monitor_fixtures import copy_workspace


@pytest.fixture
def ws(deployed_samples: Path, tmp_path: Path) -> Workspace:
    return copy_workspace(deployed_samples, tmp_path / "ws")


def dockyard(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKYARD_HOME": str(ws.home), "DOCKYARD_MONITOR_SETTLE": "0",
           "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "dockyard.tui", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_run_exits_1_on_alert_then_history_show_ack_pause(ws: Workspace) -> None:
    run = dockyard(ws, "monitor", "run", "wine/feature-drift", "--json")
    assert run.returncode == 1, run.stderr
    results = json.loads(run.stdout)
    assert sorted(r["status"] for r in results) == ["alert", "ok"]
    again = dockyard(ws, "monitor", "run", "wine/feature-drift")
    assert again.returncode == 0 and "no new batch" in again.stdout
    history = json.loads(dockyard(ws, "monitor", "history", "wine/feature-drift", "--json").stdout)
    assert [h["id"] for h in history] == sorted((r["id"] for r in results), reverse=True)
    shown = dockyard(ws, "monitor", "show", "wine/feature-drift")
    assert shown.returncode == 0 and "dataset_drift" in shown.stdout
    alert_id = next(r["alert_id"] for r in results if r["status"] == "alert")
    assert dockyard(ws, "monitor", "ack", str(alert_id)).returncode == 2  # -m is required
    acked = dockyard(ws, "monitor", "ack", str(alert_id), "-m", "known")
    assert acked.returncode == 0, acked.stderr
    assert dockyard(ws, "monitor", "pause", "wine/feature-drift").returncode == 0
    listed = json.loads(dockyard(ws, "monitor", "list", "--json").stdout)
    state = {(m["project"], m["name"]): m for m in listed}
    assert state[("wine", "feature-drift")]["paused"] is True
    assert state[("wine", "feature-drift")]["open_alerts"] == 0
    added = dockyard(ws, "monitor", "add", "wine", "cli-q", "--kind", "quality",
                     "--schedule", "every 2h", "--threshold", "0.1")  # fmt: skip
    assert added.returncode == 0, added.stderr
    bad = dockyard(ws, "monitor", "add", "wine", "cli-x", "--kind", "drift",
                   "--schedule", "every often")  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert dockyard(ws, "monitor", "show", "nope").returncode == 2
