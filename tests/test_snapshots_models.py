"""Snapshots of the model screen and the compare screen: fixed data, a frozen clock.

Regenerate after a deliberate change with
``pytest tests/test_snapshots_models.py --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from dockyard.core.workspace import Workspace
from dockyard.tui.app import DockyardApp
from tests.conftest import FROZEN_NOW
from tests.test_tui_models import build_models_store

SnapCompare = Callable[..., bool]


@pytest.fixture(autouse=True)
def _stable_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    monkeypatch.setenv("DOCKYARD_USER", "alice")
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture
def models_workspace(workspace: Workspace) -> Workspace:
    build_models_store(workspace)
    return workspace


def app_for(workspace: Workspace) -> DockyardApp:
    return DockyardApp(workspace, user="alice", now=lambda: FROZEN_NOW)


async def loaded(pilot: Pilot[Any]) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def open_model(pilot: Pilot[Any]) -> None:
    await loaded(pilot)
    await pilot.press("3", "enter")
    await loaded(pilot)
    await pilot.press("j")  # v2, the champion
    await loaded(pilot)


async def open_compare(pilot: Pilot[Any]) -> None:
    await open_model(pilot)
    # space tags and moves down: v2 (the baseline), then v3, then v1
    await pilot.press("space", "g", "space", "G", "space", "c")
    await loaded(pilot)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_model_screen(
    snap_compare: SnapCompare, models_workspace: Workspace, size: tuple[int, int]
) -> None:
    assert snap_compare(app_for(models_workspace), terminal_size=size, run_before=open_model)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_compare_screen(
    snap_compare: SnapCompare, models_workspace: Workspace, size: tuple[int, int]
) -> None:
    assert snap_compare(app_for(models_workspace), terminal_size=size, run_before=open_compare)


def test_compare_screen_all_rows_no_color_80x24(
    snap_compare: SnapCompare, models_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")

    async def all_rows(pilot: Pilot[Any]) -> None:
        await open_compare(pilot)
        await pilot.press("d")
        await pilot.pause()

    assert snap_compare(app_for(models_workspace), terminal_size=(80, 24), run_before=all_rows)
