"""``d`` (archive / restore / delete, asked first) and ``H`` (show archived rows) on the
home screen, with Textual's Pilot on a real store."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from textual.coordinate import Coordinate
from textual.widgets import Button, Static

from dockyard.core import housekeeping
from dockyard.core.audit import check_chain
from dockyard.core.datasets import list_versions as list_dataset_versions
from dockyard.core.overview import ARCHIVED_MARK, DatasetRow, Pane, RunRow
from dockyard.core.registry import remove_alias, set_alias
from dockyard.core.workspace import Workspace
from dockyard.tui.screens.dataset import DatasetScreen
from dockyard.tui.screens.help import HelpScreen
from dockyard.tui.screens.home import HomeScreen
from dockyard.tui.screens.model import ModelScreen
from dockyard.tui.widgets.choice import ChoiceModal
from tests.conftest import seed_store
from tests.pilot_wait import notifications, notified
from tests.test_tui import make_app, pane, settle
from tests.test_tui_datasets import build_datasets_store
from tests.test_tui_models import build_models_store


@pytest.fixture
def seeded(workspace: Workspace) -> tuple[Workspace, dict[str, Any]]:
    return workspace, seed_store(workspace)


def count(ws: Workspace, sql: str, *args: object) -> int:
    assert ws.db_path is not None
    with sqlite3.connect(ws.db_path) as conn:
        return int(conn.execute(sql, args).fetchone()[0])


async def highlight_run(pilot: Any, run_id: int) -> None:
    """Filter the Runs pane down to ``run_id`` (the filter matches ids) and keep it."""
    await pilot.press("2", "slash", *str(run_id), "enter")
    await settle(pilot)
    runs = pane(pilot.app, Pane.RUNS)
    assert [row.id for row in runs.rows()] == [run_id]


def modal_text(app: Any) -> str:
    return str(app.screen.query_one("#choice-message", Static).content)


async def test_d_archives_a_run_after_asking_and_h_shows_it_again(seeded: Any) -> None:
    ws, ids = seeded
    failed = ids["runs"][3]
    app = make_app(ws)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await highlight_run(pilot, failed)
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, ChoiceModal)
        text = modal_text(app)
        assert f"Archive run {failed} (diabetes)" in text and "Delete is not possible" not in text
        # the safe answer has the focus: enter right away changes nothing
        assert app.focused is app.screen.query_one("#choice-cancel-button", Button)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        assert count(ws, "SELECT count(*) FROM run WHERE archived_at IS NOT NULL") == 0

        await pilot.press("d")
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        assert f"Archived run {failed}" in notifications(app)
        runs = pane(app, Pane.RUNS)
        assert runs.rows() == []  # gone from the pane
        assert count(ws, "SELECT count(*) FROM run WHERE id = ? AND archived_at IS NOT NULL",
                     failed) == 1  # fmt: skip

        await pilot.press("H")  # show archived rows: dimmed and marked
        await settle(pilot)
        (row,) = runs.rows()
        assert isinstance(row, RunRow)
        assert row.archived and row.cells()[0] == f"{ARCHIVED_MARK} {failed}"
        first = runs.table.get_cell_at(Coordinate(0, 0))
        assert "dim" in str(first.style) or any("dim" in str(s.style) for s in first.spans)
        assert "archived shown" in str(runs.border_subtitle)

        await pilot.press("d")  # an archived row offers restore
        await settle(pilot)
        assert f"Restore run {failed}" in modal_text(app)
        await pilot.press("r")
        await settle(pilot)
        assert f"Restored run {failed}" in notifications(app)
        (row,) = runs.rows()
        assert isinstance(row, RunRow)
        assert not row.archived and row.cells()[0] == str(failed)

        await pilot.press("H")
        await settle(pilot)
        assert [r.id for r in runs.rows()] == [failed]  # restored: shown either way
    assert check_chain(ws).ok


async def test_a_blocked_delete_is_offered_disabled_with_its_reason(seeded: Any) -> None:
    ws, ids = seeded
    producer = ids["runs"][0]  # registered as breast-cancer-clf@1
    app = make_app(ws)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await highlight_run(pilot, producer)
        await pilot.press("d")
        await settle(pilot)
        text = modal_text(app)
        assert "Delete is not possible" in text and "produced model breast-cancer-clf@1" in text
        assert app.screen.query_one("#choice-delete", Button).disabled
        await pilot.press("d")  # the key of a disabled choice does nothing
        await settle(pilot)
        assert isinstance(app.screen, ChoiceModal)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
    assert count(ws, "SELECT count(*) FROM run WHERE id = ?", producer) == 1
    assert count(ws, "SELECT count(*) FROM audit_event") == 0


async def test_d_deletes_a_run_nothing_needs(seeded: Any) -> None:
    ws, ids = seeded
    free = ids["runs"][4]
    app = make_app(ws)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await highlight_run(pilot, free)
        await pilot.press("d")
        await settle(pilot)
        assert not app.screen.query_one("#choice-delete", Button).disabled
        await pilot.press("d")
        await settle(pilot)
        assert f"Deleted run {free}" in notifications(app)
        assert pane(app, Pane.RUNS).rows() == []
    assert count(ws, "SELECT count(*) FROM run WHERE id = ?", free) == 0
    assert check_chain(ws).ok


async def test_models_and_datasets_panes_name_what_blocks(seeded: Any) -> None:
    ws, _ids = seeded
    app = make_app(ws)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("3", "slash", *"wine", "enter")
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        text = modal_text(app)
        assert isinstance(app.screen, ChoiceModal)
        assert app.screen.title_text.startswith("Model wine-clf@1")
        assert "has alias champion" in text and "deployed to production" in text
        assert app.screen.query_one("#choice-archive", Button).disabled
        assert app.screen.query_one("#choice-delete", Button).disabled
        await pilot.press("escape", "escape")  # the modal, then the filter
        await settle(pilot)

        await pilot.press("1", "slash", *"diabetes", "enter")
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        assert "Archive dataset diabetes" in modal_text(app)
        await pilot.press("a")
        await settle(pilot)
        assert pane(app, Pane.DATASETS).rows() == []
        await pilot.press("H")
        await settle(pilot)
        (dataset,) = pane(app, Pane.DATASETS).rows()
        assert isinstance(dataset, DatasetRow) and dataset.archived
    assert housekeeping.blockers(ws, "data", "diabetes", "archive") == []


async def test_help_lists_d_and_h_and_other_panes_do_not_offer_them(seeded: Any) -> None:
    ws, _ids = seeded
    app = make_app(ws)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        rows = {row.binding_id: row for row in app.screen.rows}
        assert rows["tidy-row"].key == "d" and "Archive" in rows["tidy-row"].description
        assert rows["toggle-archived"].key == "H"
        await pilot.press("escape")
        await pilot.press("4")  # Deployments: d and H mean nothing there
        await settle(pilot)
        active = {b.binding.id for b in app.screen.active_bindings.values()}
        assert "tidy-row" not in active and "toggle-archived" not in active
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)


# --- the version lists of the dataset and model screens --------------------------------------


def dimmed(cell: Any) -> bool:
    return "dim" in str(cell.style) or any("dim" in str(span.style) for span in cell.spans)


def row_keys(table: Any) -> list[str]:
    return [str(key.value) for key in table.rows]


async def test_d_archives_a_dataset_version_and_h_shows_it_dimmed(
    workspace: Workspace, tmp_path: Path
) -> None:
    build_datasets_store(workspace, tmp_path / "data")  # wine@1 (a run used it), wine@2
    app = make_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("1", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DatasetScreen) and screen.selected == 2
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, ChoiceModal)
        assert app.screen.title_text.startswith("Dataset wine@2")
        assert "Archive dataset wine@2" in modal_text(app)
        assert app.focused is app.screen.query_one("#choice-cancel-button", Button)
        await pilot.press("a")
        await settle(pilot)
        assert app.screen is screen
        assert "Archived dataset wine@2" in notifications(app)
        assert row_keys(screen.table) == ["1"] and screen.selected == 1
        assert [v.version for v in list_dataset_versions(workspace, "wine")] == [1]

        await pilot.press("H")
        await settle(pilot)
        assert row_keys(screen.table) == ["2", "1"]
        first = screen.table.get_cell_at(Coordinate(0, 0))
        assert first.plain == f"{ARCHIVED_MARK} v2" and dimmed(first)
        assert not dimmed(screen.table.get_cell_at(Coordinate(1, 0)))
        assert "archived shown" in str(screen.query_one("#ds-head", Static).content)

        # wine@1 trained a run: its delete is offered disabled, with core's reason
        await pilot.press("j", "d")
        await settle(pilot)
        assert "Delete is not possible" in modal_text(app) and "run" in modal_text(app)
        assert app.screen.query_one("#choice-delete", Button).disabled
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        await pilot.press("H")
        await settle(pilot)
        assert row_keys(screen.table) == ["1"]

        await pilot.press("s", "escape", "d", "a")  # the last one, its preview on screen
        await settle(pilot)
        assert row_keys(screen.table) == [] and screen.selected is None
        assert screen.preview.version is None and screen.preview.table.row_count == 0
    assert check_chain(workspace).ok


async def open_model_screen(pilot: Any) -> ModelScreen:
    await settle(pilot)
    await pilot.press("3", "enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ModelScreen)
    return screen


async def test_d_on_a_model_version_refuses_what_an_alias_needs_and_deletes_a_free_one(
    workspace: Workspace,
) -> None:
    build_models_store(workspace)  # iris-clf@1 staging, @2 champion, @3 free
    app = make_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_model_screen(pilot)
        assert row_keys(screen.table) == ["3", "2", "1"]
        await pilot.press("G", "d")  # v1: the staging alias needs it
        await settle(pilot)
        assert isinstance(app.screen, ChoiceModal)
        text = modal_text(app)
        assert "Delete is not possible" in text and "has alias staging" in text
        assert app.screen.query_one("#choice-delete", Button).disabled
        await pilot.press("escape")
        await settle(pilot)

        # v3 is free when asked, but an alias lands on it before the answer: core refuses,
        # and the notification says why
        await pilot.press("g", "d")
        await settle(pilot)
        assert not app.screen.query_one("#choice-delete", Button).disabled
        set_alias(workspace, "iris-clf@3", "canary")
        await pilot.press("d")
        await settle(pilot)
        assert app.screen is screen
        refusal = [n for n in notified(app) if n.title == "Not deleted"]
        assert refusal and "has alias canary" in refusal[-1].message
        assert row_keys(screen.table) == ["3", "2", "1"]

        remove_alias(workspace, "iris-clf", "canary")
        await pilot.press("d")
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        assert "Deleted model iris-clf@3" in notifications(app)
        assert row_keys(screen.table) == ["2", "1"]
        assert screen.current is not None
    assert count(workspace, "SELECT count(*) FROM model_version WHERE version = 3") == 0
    assert check_chain(workspace).ok


async def test_model_screen_h_shows_an_archived_version_and_help_lists_the_keys(
    workspace: Workspace,
) -> None:
    build_models_store(workspace)
    housekeeping.archive(workspace, "model", "iris-clf@3")
    app = make_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_model_screen(pilot)
        assert row_keys(screen.table) == ["2", "1"]
        await pilot.press("H")
        await settle(pilot)
        assert row_keys(screen.table) == ["3", "2", "1"]
        first = screen.table.get_cell_at(Coordinate(0, 0))
        assert first.plain == f"{ARCHIVED_MARK} v3" and dimmed(first)
        assert "archived shown" in str(screen.query_one("#model").border_subtitle)
        await pilot.press("g", "d")  # an archived version offers restore
        await settle(pilot)
        assert "Restore model iris-clf@3" in modal_text(app)
        await pilot.press("r")
        await settle(pilot)
        assert not dimmed(screen.table.get_cell_at(Coordinate(0, 0)))
        # the palette's "Show archived" (:archived) acts on this screen, not on home's panes
        await app.run_action("app.toggle_archived")
        await settle(pilot)
        assert app.screen is screen and screen.archived == "hide"

        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        rows = {row.binding_id: row for row in app.screen.rows}
        assert rows["model-tidy-version"].key == "d"
        assert rows["model-toggle-archived"].key == "H"
