"""Snapshots of the monitor screen: fixed data, a frozen clock.

The seeded store (``seed_store``) has a drift monitor on breast-cancer with two results
and an open alert on the newer one; this fills both results with fixed checks (three
columns, the dataset verdict, the predictions) and their histograms, as a monitor run
stores them. Regenerate after a deliberate change with
``pytest tests/test_snapshots_monitor.py --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from dockyard.core.workspace import Workspace
from dockyard.tui.app import DockyardApp
from tests.conftest import FROZEN_NOW, seed_store
from tests.pilot_wait import settle

SnapCompare = Callable[..., bool]

EDGES = [10.2, 11.1, 11.9, 12.6, 13.4, 14.1, 15.0, 16.3, 18.2]
REFERENCE = [43, 42, 44, 41, 43, 42, 44, 43, 42, 43]


def drift_check(column: str | None, psi: float, status: str, current: list[int]) -> dict[str, Any]:
    return {
        "check": "drift" if column else "prediction_drift",
        "column": column,
        "status": status,
        "statistic": "psi",
        "value": psi,
        "threshold": 0.25,
        "detail": f"PSI {psi:.3f}",
        "extras": {
            "histogram": {
                "kind": "numeric",
                "edges": EDGES,
                "reference": REFERENCE,
                "current": current,
            }
        },
    }


def checks(drifted: bool) -> list[dict[str, Any]]:
    shifted = [2, 3, 5, 8, 12, 20, 31, 44, 52, 60] if drifted else [9, 8, 9, 8, 9, 9, 8, 9, 9, 8]
    steady = [9, 8, 9, 8, 9, 9, 8, 9, 9, 8]
    return [
        drift_check("mean radius", 0.61 if drifted else 0.02, "alert" if drifted else "ok",
                    shifted),
        drift_check("mean texture", 0.03, "ok", steady),
        drift_check("mean smoothness", 0.12 if drifted else 0.01, "warn" if drifted else "ok",
                    steady),
        {
            "check": "dataset_drift", "column": None,
            "status": "alert" if drifted else "ok", "statistic": "drifted_share",
            "value": 0.3333 if drifted else 0.0, "threshold": 0.2,
            "detail": "1 of 3 columns drifted" if drifted else "0 of 3 columns drifted",
            "extras": {},
        },
        drift_check(None, 0.08, "ok", steady),
    ]  # fmt: skip


def fill_results(workspace: Workspace) -> None:
    assert workspace.db_path is not None
    with sqlite3.connect(workspace.db_path) as conn:
        rows = conn.execute(
            "SELECT r.id, r.status, r.ran_at FROM monitor_result AS r "
            "JOIN monitor AS m ON m.id = r.monitor_id WHERE m.name = 'feature-drift' "
            "ORDER BY r.ran_at"
        ).fetchall()
        for index, (result_id, status, ran_at) in enumerate(rows):
            drifted = status == "alert"
            conn.execute(
                "UPDATE monitor_result SET details_json = ?, started_at = ?, finished_at = ?, "
                "batch_path = ?, rows = 60, model_ref = 'breast-cancer@1', headline = ? "
                "WHERE id = ?",
                (
                    json.dumps({"checks": checks(drifted)}),
                    ran_at,
                    ran_at,
                    f"incoming/batch-{index + 1}.csv",
                    0.3333 if drifted else 0.0,
                    result_id,
                ),
            )


@pytest.fixture(autouse=True)
def _stable_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    monkeypatch.setenv("DOCKYARD_USER", "alice")
    monkeypatch.delenv("NO_COLOR", raising=False)


async def open_monitor(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press("5", "enter")  # the open alert, first in the pane
    await settle(pilot)


@pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=["80x24", "120x36"])
def test_monitor_screen(
    snap_compare: SnapCompare, workspace: Workspace, size: tuple[int, int]
) -> None:
    seed_store(workspace)
    fill_results(workspace)
    app = DockyardApp(workspace, user="alice", now=lambda: FROZEN_NOW)
    assert snap_compare(app, terminal_size=size, run_before=open_monitor)
