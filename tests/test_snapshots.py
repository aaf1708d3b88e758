"""Snapshots of the home screen: fixed data, a frozen clock, no animations, fixed paths.

Regenerate after a deliberate change (or a Textual upgrade) with
``pytest tests/test_snapshots.py --snapshot-update`` and look at the SVGs before committing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from dockyard.core.workspace import Workspace
from dockyard.tui.app import DockyardApp
from tests.conftest import FROZEN_NOW

SnapCompare = Callable[..., bool]

#: Where the header says the workspace is; the real store lives in ``tmp_path``.
SHOWN_HOME = Path("/home/alice/iris-lab/.dockyard")


@pytest.fixture(autouse=True)
def _stable_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    monkeypatch.setenv("HOME", "/home/alice")
    monkeypatch.delenv("NO_COLOR", raising=False)


def snapshot_app(workspace: Workspace) -> DockyardApp:
    shown = Workspace(home=SHOWN_HOME, db_url=workspace.db_url)
    return DockyardApp(shown, user="alice", now=lambda: FROZEN_NOW)


async def loaded(pilot: Pilot[Any]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_home_80x24(snap_compare: SnapCompare, seeded_workspace: Workspace) -> None:
    assert snap_compare(snapshot_app(seeded_workspace), terminal_size=(80, 24), run_before=loaded)


def test_home_120x40(snap_compare: SnapCompare, seeded_workspace: Workspace) -> None:
    assert snap_compare(snapshot_app(seeded_workspace), terminal_size=(120, 40), run_before=loaded)


def test_home_monitoring_focused_80x24(
    snap_compare: SnapCompare, seeded_workspace: Workspace
) -> None:
    async def focus_monitoring(pilot: Pilot[Any]) -> None:
        await loaded(pilot)
        await pilot.press("5", "j")
        await loaded(pilot)

    assert snap_compare(
        snapshot_app(seeded_workspace), terminal_size=(80, 24), run_before=focus_monitoring
    )


def test_home_empty_store_120x40(snap_compare: SnapCompare, workspace: Workspace) -> None:
    assert snap_compare(snapshot_app(workspace), terminal_size=(120, 40), run_before=loaded)


def test_home_no_color_80x24(
    snap_compare: SnapCompare, seeded_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(snapshot_app(seeded_workspace), terminal_size=(80, 24), run_before=loaded)


def test_help_80x24(snap_compare: SnapCompare, seeded_workspace: Workspace) -> None:
    async def open_help(pilot: Pilot[Any]) -> None:
        await loaded(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(
        snapshot_app(seeded_workspace), terminal_size=(80, 24), run_before=open_help
    )
