"""The home screen with Textual's Pilot, and the read path under it.

Every test runs the real app on a real SQLite store in ``tmp_path``; waits are on the
app's workers and message queue, never on the clock.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import DataTable

from dockyard.core.overview import EMPTY_HINTS, PAGE_SIZE, Pane, load_home, load_pane
from dockyard.core.workspace import Workspace
from dockyard.store.queries import like_pattern, open_reader, sqlite_file
from dockyard.store.schema import HEAD_REVISION
from dockyard.tui.app import DockyardApp
from dockyard.tui.screens.command_bar import CommandBarScreen
from dockyard.tui.screens.detail import DetailScreen
from dockyard.tui.screens.help import HelpScreen
from dockyard.tui.screens.home import HomeScreen
from dockyard.tui.widgets.commands import APP_COMMANDS, resolve_command
from dockyard.tui.widgets.pane import OverviewPane, PaneTable
from tests.conftest import FROZEN_NOW
from tests.pilot_wait import notifications

ROOT = Path(__file__).resolve().parents[1]
HEAVY_MODULES = ("pandas", "sklearn", "sqlmodel", "sqlalchemy")


def make_app(workspace: Workspace) -> DockyardApp:
    return DockyardApp(workspace, user="alice", now=lambda: FROZEN_NOW)


async def settle(pilot: Pilot[None]) -> None:
    """Let workers finish and their messages reach the widgets."""
    app = pilot.app
    await app.workers.wait_for_complete()
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def home(app: DockyardApp) -> HomeScreen:
    return app.home


def pane(app: DockyardApp, which: Pane) -> OverviewPane:
    return app.home.pane(which)


def add_runs(workspace: Workspace, count: int, *, project: str = "bulk") -> None:
    """``count`` finished runs of one project, one minute apart, straight through sqlite3."""
    path = sqlite_file(workspace.db_url)
    assert path is not None
    with sqlite3.connect(path) as conn:
        cursor = conn.execute(
            "INSERT INTO project (name, path, description, entry, spec_json, spec_hash,"
            " created_at, updated_at) VALUES (?, '/p', '', 'python t.py', '{}', 'h', ?, ?)",
            (project, "2026-01-01 00:00:00.000000", "2026-01-01 00:00:00.000000"),
        )
        project_id = cursor.lastrowid
        rows = []
        for index in range(count):
            created = (FROZEN_NOW - timedelta(days=1, minutes=index)).strftime(
                "%Y-%m-%d %H:%M:%S.%f"
            )
            rows.append((project_id, "succeeded", "tester", created, "accuracy", index / count))
        conn.executemany(
            "INSERT INTO run (project_id, status, command, error, host, user, log_path, env_json,"
            " created_at, primary_metric, primary_value)"
            " VALUES (?, ?, 'python t.py', '', 'box', ?, '', '{}', ?, ?, ?)",
            rows,
        )


# --- keys -----------------------------------------------------------------------------------


async def test_number_keys_focus_each_pane(seeded_workspace: Workspace) -> None:
    app = make_app(seeded_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert isinstance(app.focused, PaneTable) and app.focused.pane is Pane.RUNS
        for pane_ in Pane:
            await pilot.press(str(pane_.number))
            assert isinstance(app.focused, PaneTable)
            assert app.focused.pane is pane_
            assert home(app).active_pane is pane_


async def test_panes_show_rows_counts_and_status_line(seeded_workspace: Workspace) -> None:
    app = make_app(seeded_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        runs = pane(app, Pane.RUNS)
        assert runs.table.row_count == 8
        assert "2 Runs (8)" in str(runs.border_title)
        assert "2 running" in str(runs.border_title)
        assert [row.cells()[2] for row in runs.rows()][:2] == ["running", "running"]
        assert "1 pending" in str(pane(app, Pane.DEPLOYMENTS).border_title)
        assert "1 open alert" in str(pane(app, Pane.MONITORING).border_title)
        first_deployment = pane(app, Pane.DEPLOYMENTS).rows()[0].cells()
        assert first_deployment[:4] == ("R1", "breast-cancer-clf@2", "production", "pending")
        status_line = str(app.home.query_one("#status-line").render())
        assert "agent running" in status_line
        assert "user alice" in status_line


async def test_jk_g_and_G_move_the_cursor(seeded_workspace: Workspace) -> None:
    app = make_app(seeded_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = pane(app, Pane.RUNS).table
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == 7
        await pilot.press("g")
        assert table.cursor_row == 0
        await pilot.press("down")
        assert table.cursor_row == 1


async def test_help_screen_lists_every_binding_of_the_screen(seeded_workspace: Workspace) -> None:
    app = make_app(seeded_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        active = app.screen.active_bindings.values()
        expected_ids = {item.binding.id for item in active if item.binding.id}
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        listed = {row.binding_id for row in app.screen.rows}
        assert expected_ids <= listed
        # the home screen's own keys, the pane's and the app's are all there
        for binding_id in ("filter", "refresh", "open", "cursor-down", "last-row", "help"):
            assert binding_id in listed
        for pane_ in Pane:
            assert f"pane-{pane_.value}" in listed
        keys = app.screen.query_one("#help-keys", DataTable)
        assert keys.row_count == len(app.screen.rows)
        await pilot.press("escape")
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("question_mark", "question_mark")
        assert isinstance(app.screen, HomeScreen)


async def test_help_at_80x24_draws_no_partial_scrollbar_blocks(
    seeded_workspace: Workspace,
) -> None:
    import html
    import re

    app = make_app(seeded_workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        svg = app.export_screenshot()
        keys = app.screen.query_one("#help-keys", DataTable)
        await pilot.press("right", "right")
        assert keys.scroll_x > 0  # what runs past the edge is still reachable
    text = html.unescape(re.sub(r"<[^>]+>", "", svg))
    # the thumb of a horizontal scrollbar is drawn with eighth blocks, stray marks
    # under a table; the help is read, not scrolled sideways
    assert not set("▏▎▍▌▋▊▉") & set(text)


async def test_help_follows_a_remapped_key(seeded_workspace: Workspace) -> None:
    app = make_app(seeded_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        app.set_keymap({"refresh": "f5", "pane-models": "m"})
        await pilot.press("m")
        assert isinstance(app.focused, PaneTable) and app.focused.pane is Pane.MODELS
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        by_id = {row.binding_id: row.key for row in app.screen.rows}
        assert by_id["refresh"] == "f5"
        assert by_id["pane-models"] == "m"


async def test_palette_opens_and_runs_a_command(seeded_workspace: Workspace) -> None:
    app = make_app(seeded_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"Monitoring")
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        assert isinstance(app.focused, PaneTable) and app.focused.pane is Pane.MONITORING


def test_every_bound_action_is_in_the_palette() -> None:
    """Each key of the app and home screen (except cursor moves) has a palette command."""
    from textual.binding import Binding

    commanded = {command.action for command in APP_COMMANDS} | {"command_palette"}
    bindings = [
        *DockyardApp.BINDINGS,
        *HomeScreen.BINDINGS,
        *PaneTable.BINDINGS,
        *HelpScreen.BINDINGS,
        *DetailScreen.BINDINGS,
    ]
    for binding in bindings:
        assert isinstance(binding, Binding)
        assert binding.id, f"binding {binding.key} has no id, so a keymap cannot remap it"
        if binding.action in {"cursor_down", "cursor_up"}:
            continue
        action = {"select_cursor": "open_selected"}.get(binding.action, binding.action)
        if binding.id == "help-close":
            action = "help"
        assert action in commanded, f"{binding.action} ({binding.id}) is not in the palette"


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("runs", Pane.RUNS),
        ("data", Pane.DATASETS),
        ("models", Pane.MODELS),
        ("deploy", Pane.DEPLOYMENTS),
        ("mon", Pane.MONITORING),
    ],
)
async def test_command_bar_aliases_focus_panes(
    seeded_workspace: Workspace, alias: str, expected: Pane
) -> None:
    app = make_app(seeded_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("colon")
        assert isinstance(app.screen, CommandBarScreen)
        await pilot.press(*alias, "enter")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        assert isinstance(app.focused, PaneTable) and app.focused.pane is expected


async def test_command_bar_help_refresh_unknown_and_quit(seeded_workspace: Workspace) -> None:
    app = make_app(seeded_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"help", "enter")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("colon", *"runs", "enter")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen), "a pane command goes back home"
        await pilot.press("colon", *"nope", "enter")
        await pilot.pause()
        assert any("Unknown command :nope" in text for text in notifications(app))
        await pilot.press("colon", "escape")
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("colon", *"refresh", "enter")
        await settle(pilot)
        assert pane(app, Pane.RUNS).table.row_count == 8
        await pilot.press("colon", "q", "enter")
        await pilot.pause()
    assert app.return_code == 0


def test_command_aliases_resolve() -> None:
    assert resolve_command(":runs") is resolve_command("run")
    assert resolve_command("Refresh") is not None
    assert resolve_command("q!") is resolve_command("quit")
    assert resolve_command("") is None
    assert resolve_command(":nope") is None


async def test_q_quits(seeded_workspace: Workspace) -> None:
    app = make_app(seeded_workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


# --- filter, open, back -----------------------------------------------------------------------


async def test_filter_narrows_the_pane_and_esc_clears_it(seeded_workspace: Workspace) -> None:
    app = make_app(seeded_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        runs = pane(app, Pane.RUNS)
        await pilot.press("slash")
        assert runs.is_filtering and app.focused is runs.filter_input
        await pilot.press(*"wine")
        await settle(pilot)
        assert runs.table.row_count == 2
        assert {row.cells()[1] for row in runs.rows()} == {"wine"}
        assert "2 matching /wine" in str(runs.border_title)
        await pilot.press("enter")
        assert app.focused is runs.table and not runs.is_filtering
        assert runs.filter_text == "wine"
        # other panes are not filtered
        assert pane(app, Pane.DATASETS).table.row_count == 3
        # a refresh keeps the filter
        await pilot.press("r")
        await settle(pilot)
        assert runs.table.row_count == 2
        await pilot.press("escape")
        await settle(pilot)
        assert runs.filter_text == ""
        assert runs.table.row_count == 8
        assert isinstance(app.screen, HomeScreen)


async def test_esc_in_the_filter_input_clears_it(seeded_workspace: Workspace) -> None:
    app = make_app(seeded_workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("1", "slash", *"zzz")
        await settle(pilot)
        datasets = pane(app, Pane.DATASETS)
        assert datasets.table.row_count == 0
        assert datasets.has_class("-empty")
        assert "Nothing matches /zzz" in str(datasets.query_one(".hint").render())
        await pilot.press("escape")
        await settle(pilot)
        assert datasets.filter_text == "" and not datasets.is_filtering
        assert datasets.table.row_count == 3
        assert app.focused is datasets.table


async def test_filter_matches_a_run_id_and_model_aliases(seeded_workspace: Workspace) -> None:
    app = make_app(seeded_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("slash", "7", "enter")
        await settle(pilot)
        assert [row.key for row in pane(app, Pane.RUNS).rows()] == ["run:7"]
        await pilot.press("3", "slash", *"staging", "enter")
        await settle(pilot)
        models = pane(app, Pane.MODELS)
        assert [row.cells()[0] for row in models.rows()] == ["breast-cancer-clf"]


async def test_enter_opens_detail_and_esc_returns(seeded_workspace: Workspace) -> None:
    app = make_app(seeded_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        # the request (first row) opens the request screen (tests/test_tui_deploy.py);
        # a deployment opens the detail screen
        await pilot.press("4", "j", "enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.title_text == "Deployment 1"
        fields = dict(app.screen.fields)
        assert fields["model"] == "wine-clf"
        assert fields["by"] == "bob"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        assert isinstance(app.focused, PaneTable) and app.focused.pane is Pane.DEPLOYMENTS
        # a number key from a detail screen goes home and focuses that pane
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        await pilot.press("2")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        assert isinstance(app.focused, PaneTable) and app.focused.pane is Pane.RUNS


async def test_polling_stops_while_another_screen_is_on_top(seeded_workspace: Workspace) -> None:
    app = make_app(seeded_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("4", "j", "enter")  # a deployment: runs open their own live screen
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        started: list[object] = []
        app.home.refresh_panes = lambda: started.append(True)  # type: ignore[method-assign]
        app.home._poll()
        assert started == []
        await pilot.press("escape")
        await pilot.pause()
        app.home._poll()
        assert started  # (the 2 s timer may have polled too on a loaded machine)


# --- empty store, errors ----------------------------------------------------------------------


async def test_empty_panes_tell_the_user_how_to_fill_them(workspace: Workspace) -> None:
    app = make_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        for pane_ in Pane:
            widget = pane(app, pane_)
            assert widget.total == 0
            assert widget.has_class("-empty")
            hint = str(widget.query_one(".hint").render())
            assert hint == EMPTY_HINTS[pane_]
        assert "dockyard run start PROJECT" in EMPTY_HINTS[Pane.RUNS]
        assert "dockyard data add NAME PATH" in EMPTY_HINTS[Pane.DATASETS]
        assert "dockyard model register RUN_ID --name NAME" in EMPTY_HINTS[Pane.MODELS]
        assert "dockyard deploy request NAME@VERSION" in EMPTY_HINTS[Pane.DEPLOYMENTS]
        assert "dockyard monitor list" in EMPTY_HINTS[Pane.MONITORING]
        assert "agent stopped" in str(app.home.query_one("#status-line").render())
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen), "enter on an empty pane opens nothing"


async def test_a_failed_load_is_a_notification(seeded_workspace: Workspace) -> None:
    path = sqlite_file(seeded_workspace.db_url)
    assert path is not None
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("DROP TABLE model_alias")
    app = make_app(seeded_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        messages = notifications(app)
        assert len(messages) == 1
        assert messages[0].startswith("Cannot read Models: OperationalError: no such table")
        models = pane(app, Pane.MODELS)
        assert models.error and "(unavailable)" in str(models.border_title)
        # the other panes are fine, and a second failure does not notify again
        assert pane(app, Pane.RUNS).table.row_count == 8
        await pilot.press("r")
        await settle(pilot)
        assert len(notifications(app)) == 1


async def test_an_unreadable_store_is_a_notification(tmp_path: Path) -> None:
    home_dir = tmp_path / ".dockyard"
    home_dir.mkdir()
    (home_dir / "dockyard.db").write_bytes(b"this is not a database" * 100)
    broken = Workspace(home=home_dir, db_url=f"sqlite:///{home_dir / 'dockyard.db'}")
    app = make_app(broken)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        messages = notifications(app)
        assert len(messages) == 1
        assert messages[0].startswith("Cannot read the store: cannot open the store")
        assert pane(app, Pane.RUNS).error
        # and the polls back off: the next read waits 1, 2, 4, ... polls
        overview = app.home.overview
        assert overview._failed_polls >= 1  # each failed read counts
        started: list[bool] = []
        app.home.refresh_panes = lambda: started.append(True)  # type: ignore[method-assign]
        overview.skip_polls = 2  # no await below: the 2 s timer cannot poll in between
        app.home._poll()
        app.home._poll()
        assert started == []
        app.home._poll()
        assert started == [True]
        await pilot.press("q")


# --- paging and refresh -----------------------------------------------------------------------


async def test_lists_page_100_rows_at_a_time(workspace: Workspace) -> None:
    add_runs(workspace, 250)
    app = make_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        runs = pane(app, Pane.RUNS)
        assert runs.table.row_count == PAGE_SIZE
        assert "(250)" in str(runs.border_title)
        assert "100 of 250 loaded" in str(runs.border_subtitle)
        await pilot.press("G")
        await settle(pilot)
        assert runs.table.row_count == 200
        await pilot.press("G")
        await settle(pilot)
        assert runs.table.row_count == 250
        assert runs.table.cursor_row == 199
        assert runs.border_subtitle == ""
        assert len({row.key for row in runs.rows()}) == 250
        # newest first, one minute apart, no gaps or repeats across pages
        times = [row.created_at for row in runs.rows()]  # type: ignore[union-attr]
        assert times == sorted(times, reverse=True)  # type: ignore[type-var]
        # a refresh re-reads what is loaded and keeps the cursor where it was
        await pilot.press("r")
        await settle(pilot)
        assert runs.table.row_count == 250
        assert runs.table.cursor_row == 199


async def test_refresh_updates_cells_in_place_and_shows_new_rows(
    seeded_workspace: Workspace,
) -> None:
    app = make_app(seeded_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        runs = pane(app, Pane.RUNS)
        table = runs.table
        await pilot.press("j", "j", "j")  # the cursor on run 5
        assert runs.row_at_cursor() is not None and runs.row_at_cursor().key == "run:5"  # type: ignore[union-attr]
        path = sqlite_file(seeded_workspace.db_url)
        assert path is not None
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE run SET primary_value = 0.5 WHERE id = 5")
        await pilot.press("r")
        await settle(pilot)
        assert str(table.get_cell("run:5", "c4")) == "r2 0.5"
        assert table.row_count == 8
        with sqlite3.connect(path) as conn:
            conn.execute(
                "INSERT INTO run (project_id, status, command, error, host, user, log_path,"
                " env_json, created_at) VALUES (1, 'queued', '', '', '', 'bob', '', '{}', ?)",
                ((FROZEN_NOW - timedelta(seconds=30)).strftime("%Y-%m-%d %H:%M:%S.%f"),),
            )
        await pilot.press("r")
        await settle(pilot)
        assert table.row_count == 9
        assert "run:9" in [row.key for row in runs.rows()][:3]
        assert runs.row_at_cursor().key == "run:5", "the cursor stays on its row"  # type: ignore[union-attr]


# --- the read path ----------------------------------------------------------------------------


def test_import_tui_app_loads_nothing_heavy() -> None:
    code = textwrap.dedent(
        f"""
        import json, sys
        import dockyard.tui.app
        print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == []


def test_startup_on_a_sqlite_store_loads_nothing_heavy(seeded_workspace: Workspace) -> None:
    """The whole home screen, drawn with data, without SQLAlchemy, pandas or sklearn."""
    code = textwrap.dedent(
        f"""
        import asyncio, json, sys
        from pathlib import Path
        from dockyard.core.workspace import Workspace
        from dockyard.tui.app import DockyardApp

        async def main():
            workspace = Workspace(home=Path({str(seeded_workspace.home)!r}),
                                  db_url={seeded_workspace.db_url!r})
            app = DockyardApp(workspace, user="alice")
            async with app.run_test(size=(80, 24)) as pilot:
                await app.workers.wait_for_complete()
                await pilot.pause()
                rows = app.home.pane("runs").table.row_count
                await pilot.press("question_mark")
                await pilot.pause()
            return rows

        rows = asyncio.run(main())
        print(json.dumps({{"rows": rows,
                          "heavy": [m for m in {HEAVY_MODULES!r} if m in sys.modules]}}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"rows": 8, "heavy": []}


def test_open_reader_fast_path_checks_the_revision(seeded_workspace: Workspace) -> None:
    from dockyard.store.queries import SqliteReader

    reader = open_reader(seeded_workspace.db_url)
    try:
        assert isinstance(reader, SqliteReader)
        assert reader.fetch_one("SELECT version_num FROM alembic_version") == {
            "version_num": HEAD_REVISION
        }
        with pytest.raises(sqlite3.OperationalError):
            reader.fetch_all("DELETE FROM run")  # read-only
    finally:
        reader.close()


def test_open_reader_migrates_a_new_or_old_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    reader = open_reader(url)  # no file: created and migrated through store.db
    try:
        assert load_pane(reader, Pane.RUNS).total == 0
    finally:
        reader.close()
    with sqlite3.connect(tmp_path / "fresh.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0000'")
    with pytest.raises(Exception, match="newer than this Dockyard knows"):
        open_reader(url)


def test_like_filters_escape_wildcards(seeded_workspace: Workspace) -> None:
    assert like_pattern(" 50%_a ") == "%50\\%\\_a%"
    reader = open_reader(seeded_workspace.db_url)
    try:
        assert load_pane(reader, Pane.DATASETS, "%").total == 0
        assert load_pane(reader, Pane.DATASETS, "_").total == 1  # breast_cancer
        assert load_pane(reader, Pane.DATASETS, "WINE").total == 1
    finally:
        reader.close()


def test_segments_page_across_running_and_other_runs(seeded_workspace: Workspace) -> None:
    reader = open_reader(seeded_workspace.db_url)
    try:
        keys = [
            row.key
            for offset in range(0, 8, 3)
            for row in load_pane(reader, Pane.RUNS, limit=3, offset=offset, now=FROZEN_NOW).rows
        ]
        whole = [row.key for row in load_pane(reader, Pane.RUNS, now=FROZEN_NOW).rows]
        assert keys == whole
        assert whole[:2] == ["run:8", "run:7"]
        overview = load_home(reader, {Pane.RUNS: "diabetes"}, now=FROZEN_NOW)
        assert overview.panes[Pane.RUNS].total == 3
        assert overview.panes[Pane.RUNS].summary == "1 running"
        assert overview.agent.alive
        later = load_home(reader, now=FROZEN_NOW + timedelta(minutes=1))
        assert not later.agent.alive
    finally:
        reader.close()


def test_ages_come_from_the_injected_clock(seeded_workspace: Workspace) -> None:
    reader = open_reader(seeded_workspace.db_url)
    try:
        page = load_pane(reader, Pane.DATASETS, now=FROZEN_NOW)
        assert [row.cells()[-1] for row in page.rows] == ["45 min ago", "3 h ago", "2 d ago"]
        later = load_pane(reader, Pane.DATASETS, now=datetime(2026, 6, 1, tzinfo=UTC))
        assert later.rows[0].cells()[-1] == "2026-03-14"
    finally:
        reader.close()


def test_the_read_path_imports_neither_textual_nor_sqlalchemy() -> None:
    code = (
        "import json, sys; import dockyard.core.overview, dockyard.store.queries; "
        "print(json.dumps([m for m in ('textual', 'sqlalchemy', 'sqlmodel') if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == []


def test_the_sqlalchemy_reader_gives_the_same_overview(seeded_workspace: Workspace) -> None:
    """The reader used for non-SQLite stores (e.g. PostgreSQL), here over the same file."""
    from dockyard.store.db import open_engine
    from dockyard.store.queries import SqlAlchemyReader

    fast = open_reader(seeded_workspace.db_url)
    portable = SqlAlchemyReader(open_engine(seeded_workspace.db_url))
    try:
        for pane_ in Pane:
            expected = load_pane(fast, pane_, now=FROZEN_NOW)
            actual = load_pane(portable, pane_, now=FROZEN_NOW)
            assert actual == expected
        assert load_pane(portable, Pane.RUNS, "wine", now=FROZEN_NOW).total == 2
    finally:
        fast.close()
        portable.close()
    # any URL that is not a plain sqlite:///FILE goes through SQLAlchemy
    other = open_reader(seeded_workspace.db_url + "?timeout=5")
    try:
        assert isinstance(other, SqlAlchemyReader)
        assert load_pane(other, Pane.MODELS).total == 2
    finally:
        other.close()


# --- a refresh patches the rows that changed ----------------------------------------------------


def _dataset_rows(*ids: int) -> list[Any]:
    from dockyard.core.overview import DatasetRow

    return [DatasetRow(i, f"d{i}", "", 1, 10, 2, 100, "csv", None, "1 min ago") for i in ids]


@pytest.mark.parametrize(
    ("before", "after", "cursor_on", "cursor_after"),
    [
        ((1, 2, 3, 4, 5), (1, 3, 5), 4, 2),  # rows above the cursor left: it follows its row
        ((1, 2, 3, 4, 5), (9, 1, 2, 3, 4, 5), 2, 3),  # a row came in on top
        ((1, 2, 3, 4, 5), (1, 2, 4, 5), 2, 2),  # its own row left: it keeps its place
        ((1, 2, 3), (1, 2), 2, 1),  # ... or the last row when that was the last
    ],
)
async def test_a_refresh_patches_rows_in_place_and_the_cursor_keeps_its_row(
    before: tuple[int, ...], after: tuple[int, ...], cursor_on: int, cursor_after: int
) -> None:
    from textual.app import App, ComposeResult

    from dockyard.core.overview import Pane, PanePage
    from dockyard.tui.widgets.pane import OverviewPane

    class PaneApp(App[None]):
        def compose(self) -> ComposeResult:
            yield OverviewPane(Pane.DATASETS)

    app = PaneApp()
    async with app.run_test(size=(100, 20)) as pilot:
        pane = app.query_one(OverviewPane)
        pane.apply_page(PanePage(Pane.DATASETS, _dataset_rows(*before), len(before)))
        await pilot.pause()
        pane.table.move_cursor(row=cursor_on, animate=False)
        cleared: list[bool] = []
        clear = pane.table.clear

        def counted_clear(columns: bool = False) -> Any:
            cleared.append(columns)
            return clear(columns)

        pane.table.clear = counted_clear  # type: ignore[method-assign]
        pane.apply_page(PanePage(Pane.DATASETS, _dataset_rows(*after), len(after)))
        await pilot.pause()
        keys = [f"dataset:{i}" for i in after]
        assert [row.key for row in pane.rows()] == keys
        assert [row.key.value for row in pane.table.ordered_rows] == keys
        assert pane.table.cursor_row == cursor_after
        assert not cleared


@pytest.mark.parametrize("backend", ["sqlite", "pg"])
async def test_the_header_names_who_approves_from_here(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not DOCKYARD_USER (anyone can set it): the OS account, or on PostgreSQL the
    database login, as core records approvals; "for you" counts that user's requests."""
    from dockyard.core.workspace import init_workspace, os_user
    from tests.pg_server import SUPERUSER

    monkeypatch.setenv("DOCKYARD_USER", "mallory")
    db = request.getfixturevalue("pg_url") if backend == "pg" else None
    workspace = init_workspace(tmp_path / "ws", env={}, db=db)
    app = DockyardApp(workspace, now=lambda: FROZEN_NOW)
    async with app.run_test(size=(120, 30)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        header = str(app.home.query_one("#status-line").render())
    assert f"user {SUPERUSER if backend == 'pg' else os_user()} " in header, header
    assert "mallory" not in header
