"""Snapshots of the dataset screen and the diff view: fixed data, a frozen clock.

Regenerate after a deliberate change with
``pytest tests/test_snapshots_datasets.py --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from dockyard.core.workspace import Workspace
from tests.pilot_wait import settle
from tests.test_tui_datasets import build_datasets_store, make_app

SnapCompare = Callable[..., bool]


@pytest.fixture(autouse=True)
def _stable_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    monkeypatch.setenv("DOCKYARD_USER", "alice")
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture
def datasets_workspace(workspace: Workspace, tmp_path: Path) -> Workspace:
    build_datasets_store(workspace, tmp_path / "data")
    return workspace


async def open_dataset(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press("1", "enter")
    await settle(pilot)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_dataset_screen(
    snap_compare: SnapCompare, datasets_workspace: Workspace, size: tuple[int, int]
) -> None:
    assert snap_compare(make_app(datasets_workspace), terminal_size=size, run_before=open_dataset)


def test_dataset_preview_80x24(snap_compare: SnapCompare, datasets_workspace: Workspace) -> None:
    async def preview(pilot: Pilot[Any]) -> None:
        await open_dataset(pilot)
        await pilot.press("s")
        await settle(pilot)

    assert snap_compare(make_app(datasets_workspace), terminal_size=(80, 24), run_before=preview)


def test_dataset_diff_80x24(snap_compare: SnapCompare, datasets_workspace: Workspace) -> None:
    async def diff(pilot: Pilot[Any]) -> None:
        await open_dataset(pilot)
        await pilot.press("c")
        await settle(pilot)

    assert snap_compare(make_app(datasets_workspace), terminal_size=(80, 24), run_before=diff)
