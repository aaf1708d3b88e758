"""`dockyard demo` leaves each sample trained, deployed and monitored (real processes)."""

from __future__ import annotations

import json
import os
import pwd
import sqlite3
from pathlib import Path

import pytest

from tests.test_cli import dockyard

SAMPLES = ["breast-cancer", "diabetes", "wine"]


def _counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in (
                "run",
                "model_version",
                "deployment_request",
                "deployment",
                "monitor_result",
                "alert",
                "audit_event",
                "dataset_version",
            )
        }


@pytest.mark.timeout(400)
def test_demo_trains_deploys_and_monitors_each_sample_once(tmp_path: Path) -> None:
    made = dockyard("demo", "ws", "--no-tui", "--wait", cwd=tmp_path, timeout=360)
    assert made.returncode == 0, made.stdout + made.stderr
    ws = tmp_path / "ws"
    runs = json.loads(dockyard("run", "list", "--json", cwd=ws).stdout)
    assert sorted((r["project"], r["status"]) for r in runs) == [(s, "finished") for s in SAMPLES]

    live = json.loads(dockyard("deploy", "status", "--json", cwd=ws).stdout)
    assert sorted((d["env"], d["model"], d["version"]) for d in live) == sorted(
        (env, s, 1) for env in ("production", "staging") for s in SAMPLES
    )
    # production kept its rule (one approval by someone other than the requester): the demo
    # requested as its own name and the user who ran it approved
    me = pwd.getpwuid(os.geteuid()).pw_name
    envs = {e["name"]: e for e in json.loads(dockyard("env", "list", "--json", cwd=ws).stdout)}
    assert envs["production"]["approvals"] == 1
    requests = json.loads(dockyard("deploy", "list", "--json", cwd=ws).stdout)
    production = [r for r in requests if r["target"] == "production"]
    assert len(production) == 3
    for request in production:
        assert request["requested_by"] == "dockyard-demo"
        assert [a["reviewer"] for a in request["approvals"]] == [me]

    db = ws / ".dockyard" / "dockyard.db"
    with sqlite3.connect(db) as conn:
        results = conn.execute(
            "SELECT p.name, m.name, r.batch_path, r.status FROM monitor_result r "
            "JOIN monitor m ON m.id = r.monitor_id JOIN project p ON p.id = m.project_id"
        ).fetchall()
    assert len(results) == 3 * 3 * 2  # three monitors per sample, two batches each
    for project, monitor, batch, status in results:
        expected = "alert" if Path(batch).name == "batch_drift.csv" else "ok"
        assert status == expected, (project, monitor, batch, status)

    before = _counts(db)
    again = dockyard("demo", "ws", "--no-tui", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "background" not in again.stdout  # nothing left to do, nothing started
    assert not (ws / ".dockyard" / "demo-finisher.pid").exists()
    assert _counts(db) == before
    dockyard("agent", "stop", cwd=ws)
