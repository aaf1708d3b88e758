"""Data is text: hostile names, messages, tags, params, columns and log lines are shown
literally everywhere, never as markup and never as terminal control; ``--json`` is exact.

The workspace here is real (a SQLite store in ``tmp_path``, a CSV registered by the core,
a run's rows and log file as the supervisor leaves them) and full of strings a teammate
could plant: Rich/Textual markup that is invalid (``[/x]``), valid (``[red]x[/red]``) or
a link, and an escape sequence that retitles the terminal and clears it (:data:`EVIL`).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable

from dockyard.core.overview import Pane
from dockyard.core.projects import add_project
from dockyard.core.text import visible, visible_tree
from dockyard.core.workspace import Workspace, init_workspace
from dockyard.tui.app import DockyardApp
from dockyard.tui.screens.dataset import DatasetScreen
from dockyard.tui.screens.run import RunScreen
from dockyard.tui.widgets.dataset_preview import PreviewTable
from dockyard.tui.widgets.dataset_tables import ProfileTable
from dockyard.tui.widgets.run_details import DetailsTable
from dockyard.tui.widgets.run_log import RunLog
from tests.conftest import FROZEN_NOW, ago, seed_store
from tests.pilot_wait import notified

ROOT = Path(__file__).resolve().parents[1]
MARKUP_MODULES = ("textual.markup", "rich.markup")

#: OSC 0 (set the window title) then "clear the screen": what a hostile string carries.
EVIL = "\x1b]0;pwned\x07\x1b[2J"
#: The same, made visible by core.text.visible.
EVIL_SHOWN = "␛]0;pwned␇␛[2J"

BAD_CLOSE = "[/x]"
RED = "[red]x[/red]"
LINK = "[link=http://evil]x[/link]"
MESSAGE = "[/bogus] closing tag"

PROJECT_TOML = """
[project]
name = "hostile"
description = "\\u001b]0;pwned\\u0007\\u001b[2J [/bogus] described"
entry = "python train.py"

[params.style]
type = "str"
default = "[link=http://evil]x[/link]"
help = "[/x] \\u001b]0;pwned\\u0007\\u001b[2J"
"""


# --- the function ---------------------------------------------------------------------------


def test_visible_makes_every_control_character_visible() -> None:
    assert visible(EVIL) == EVIL_SHOWN
    assert visible("a\tb\nc\rd\x00\x7f") == "a␉b␊c␍d␀␡"
    assert visible("csi \x9b2J next \x85") == "csi \\x9b2J next \\x85"
    # bidi overrides and isolates, zero-width characters, tag characters
    assert visible("abc\u202edcba\u2066x\u2069") == "abc\\u202edcba\\u2066x\\u2069"
    assert visible("wi\u200bne\ufeff") == "wi\\u200bne\\ufeff"
    assert visible("x\U000e0041") == "x\\U000e0041"
    assert visible("line\nand\ttab\x1b", keep="\n\t") == "line\nand\ttab␛"
    # ordinary text, markup included, is returned as it is (the same object)
    text = "naïve [red]x[/red] café ✓ 日本"
    assert visible(text) is text


def test_visible_tree_cleans_keys_and_values_and_keeps_numbers() -> None:
    tree = {EVIL: [EVIL, 1.5, None, ("x\x07", 2)], "n": True}
    assert visible_tree(tree) == {EVIL_SHOWN: [EVIL_SHOWN, 1.5, None, ("x␇", 2)], "n": True}


def test_faces_show_data_only_through_the_helpers() -> None:
    """The class of bug, not one string: no module of the TUI builds markup from data with
    ``textual.markup.escape`` (it misses ``[$var]``, ``[B]`` and a trailing backslash), and
    no command-line module prints with ``click.echo`` except the one door in cli/kit.py."""
    offenders = []
    for path in sorted((ROOT / "tui").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in MARKUP_MODULES:
                offenders.append(f"{path.name}: imports from {node.module}")
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "echo"
                and isinstance(node.value, ast.Name)
                and node.value.id == "click"
                and path != ROOT / "tui" / "cli" / "kit.py"
            ):
                offenders.append(f"{path.name}:{node.lineno}: click.echo")
    assert offenders == []


# --- a hostile workspace --------------------------------------------------------------------


def write_hostile_csv(path: Path) -> Path:
    """A CSV whose header and values carry markup and an escape sequence."""
    header = ["a", BAD_CLOSE, RED, LINK, EVIL]
    rows = [["1", "x", RED, LINK, EVIL], ["2", "y", "[/x]", "b", "c"]]
    import csv

    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def build_hostile(workspace: Workspace) -> dict[str, Any]:
    """The hostile project, dataset version and run in ``workspace``; returns their ids."""
    from sqlmodel import Session, select

    from dockyard.core.datasets import register_dataset
    from dockyard.core.workspace import engine_for
    from dockyard.store.models import Metric, Param, Project, Run, RunTag

    folder = workspace.root / "hostile"
    folder.mkdir()
    (folder / "dockyard.toml").write_text(PROJECT_TOML)
    (folder / "train.py").write_text("print('never run here')\n")
    add_project(workspace, folder)
    csv_path = write_hostile_csv(workspace.root / "hostile.csv")
    version = register_dataset(workspace, "hostile", csv_path, f"{MESSAGE} {EVIL}")

    with Session(engine_for(workspace)) as db:
        project = db.exec(select(Project)).one()
        assert project.id is not None
        run = Run(
            project_id=project.id,
            status="failed",
            command="python train.py",
            user="alice",
            host="box",
            error=f"ValueError: bad column {BAD_CLOSE} {EVIL}",
            exit_code=1,
            created_at=ago(minutes=3),
            started_at=ago(minutes=2),
            ended_at=ago(minutes=1),
            env_json=json.dumps({"python": "3.11", "cwd": f"/srv/{EVIL}"}),
        )
        db.add(run)
        db.flush()
        assert run.id is not None
        db.add(Param(run_id=run.id, key="style", value=json.dumps(f"{LINK} {EVIL}")))
        db.add(RunTag(run_id=run.id, key="colour", value=RED))
        db.add(RunTag(run_id=run.id, key="title", value=EVIL))
        db.add(Metric(run_id=run.id, key=f"loss{BAD_CLOSE}", step=0, value=0.5, timestamp=0.0))
        log = workspace.logs / f"run-{run.id}.log"
        log.write_text(f"starting\nhello {EVIL} world\n{MESSAGE} {RED}\ndone\n")
        run.log_path = str(log)
        db.add(run)
        db.commit()
        run_id = run.id
    return {"run": run_id, "version": version}


@pytest.fixture
def hostile(tmp_path: Path) -> Workspace:
    workspace = init_workspace(tmp_path / "ws")
    build_hostile(workspace)
    return workspace


# --- the TUI ----------------------------------------------------------------------------------


def make_app(workspace: Workspace) -> DockyardApp:
    return DockyardApp(workspace, user="alice", now=lambda: FROZEN_NOW)


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def column(table: DataTable[Any], index: int) -> list[Text]:
    return [table.get_row_at(row)[index] for row in range(table.row_count)]


def assert_literal(cells: list[Any], *wanted: str) -> None:
    """Each of ``wanted`` is the whole plain text of a cell, with no style of its own (a
    link or a colour would mean the string was parsed as markup)."""
    by_text = {cell.plain: cell for cell in cells if isinstance(cell, Text)}
    for text in wanted:
        assert text in by_text, (text, list(by_text))
        assert by_text[text].spans == [], by_text[text].spans


def title_text(widget: Any) -> str:
    """A border title as the user reads it (the getter answers with escaped markup)."""
    from textual.content import Content

    return Content.from_markup(widget.border_title or "").plain


def no_raw_control(text: str) -> bool:
    return not any(ord(char) < 0x20 and char not in "\n" for char in text)


async def test_a_hostile_dataset_shows_literally_and_does_not_crash(hostile: Workspace) -> None:
    app = make_app(hostile)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await pilot.press("1", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DatasetScreen)
        messages = column(screen.table, 5)
        assert [cell.plain for cell in messages] == [f"{MESSAGE} {EVIL_SHOWN}"]

        names = column(screen.query_one(ProfileTable), 0)
        assert_literal(names, BAD_CLOSE, RED, LINK[:21] + "…", EVIL_SHOWN)  # names are cut at 22

        await pilot.press("s")
        await settle(pilot)
        preview = screen.query_one(PreviewTable)
        headers = [col.label.plain for col in preview.columns.values()]
        assert headers == ["#", "a", BAD_CLOSE, RED, LINK[:23] + "…", EVIL_SHOWN]  # cut at 24
        assert_literal(column(preview, 3), RED)
        assert_literal(column(preview, 4), LINK)
        assert_literal(column(preview, 5), EVIL_SHOWN)
        assert all(not col.label.spans for col in preview.columns.values())
    assert app.return_code in (None, 0)


async def test_a_hostile_run_screen_shows_tags_params_and_log_literally(
    hostile: Workspace,
) -> None:
    app = make_app(hostile)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        app.push_screen(RunScreen(1))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunScreen)
        details = screen.query_one(DetailsTable)
        values = column(details, 1)
        assert_literal(values, RED, f"{LINK} {EVIL_SHOWN}", EVIL_SHOWN, f"/srv/{EVIL_SHOWN}")
        names = [cell.plain.strip() for cell in column(details, 0)]
        assert f"loss{BAD_CLOSE}" in names

        header = str(screen.query_one("#run-header").render())
        assert f"error: ValueError: bad column {BAD_CLOSE} {EVIL_SHOWN}" in header

        log = screen.query_one(RunLog)
        assert f"hello {EVIL_SHOWN} world" in log.lines
        assert f"{MESSAGE} {RED}" in log.lines
        assert all(no_raw_control(line) for line in log.lines)
    assert app.return_code in (None, 0)


async def test_an_error_quoting_hostile_input_is_a_plain_notification(
    hostile: Workspace,
) -> None:
    app = make_app(hostile)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        app.push_screen(DatasetScreen(hostile, f"{BAD_CLOSE}{EVIL}", now=lambda: FROZEN_NOW))
        await settle(pilot)
        shown = [(n.title, n.message, n.markup) for n in notified(app)]
        assert shown, "the failed read must be a notification"
        for title, message, markup in shown:
            assert not markup
            assert no_raw_control(title + message)
        assert any(BAD_CLOSE in message for _title, message, _markup in shown)
        # ... and a markup-looking message from anywhere stays literal
        app.notify(f"{MESSAGE} {LINK}")
        await pilot.pause()
        last = notified(app)[-1]
        assert last.message == f"{MESSAGE} {LINK}" and not last.markup
    assert app.return_code in (None, 0)


@pytest.fixture
def seeded(tmp_path: Path) -> Workspace:
    workspace = init_workspace(tmp_path / "seeded")
    seed_store(workspace)
    return workspace


async def test_the_filter_keeps_slashes_and_brackets_literally(seeded: Workspace) -> None:
    """The Runs pane's title has a bold summary ("2 running"): a filter typed into it,
    bracket by bracket, used to end the app with a MarkupError."""
    app = make_app(seeded)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        runs = app.home.pane(Pane.RUNS)
        await pilot.press("2", "slash", "w", "i", "slash", "n", "left_square_bracket", "e")
        await settle(pilot)
        assert runs.filter_text == "wi/n[e"
        assert runs.filter_input is not None and runs.filter_input.value == "wi/n[e"
        assert "matching /wi/n[e" in title_text(runs)
        await pilot.press("escape", "slash", *("left_square_bracket", "slash", "x"))
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert runs.filter_text == "[/x]"
        assert "matching /[/x]" in title_text(runs)
        hint = str(runs.query_one(".hint").render())
        assert "Nothing matches /[/x]" in hint
    assert app.return_code in (None, 0)


# --- the command line -------------------------------------------------------------------------


def dockyard(workspace: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    return subprocess.run(
        [sys.executable, "-m", "dockyard.tui", "--home", str(workspace.root), *args],
        cwd=workspace.root,
        env=env | {"PYTHONPATH": str(ROOT / ".pkg")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def shown(workspace: Workspace, *args: str) -> str:
    result = dockyard(workspace, *args)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout, result.stdout
    assert "\x1b" not in result.stderr
    return result.stdout


def exact(workspace: Workspace, *args: str) -> Any:
    result = dockyard(workspace, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_data_show_and_head_make_control_characters_visible(hostile: Workspace) -> None:
    text = shown(hostile, "data", "show", "hostile")
    assert f"message: {MESSAGE} {EVIL_SHOWN}" in text
    for name in (BAD_CLOSE, RED, LINK, EVIL_SHOWN):
        assert any(line.startswith(name + " ") for line in text.splitlines()), name
    data = exact(hostile, "data", "show", "hostile")
    assert data["message"] == f"{MESSAGE} {EVIL}"
    assert EVIL in [c["name"] for c in data["profile"]["columns"]]

    head = shown(hostile, "data", "head", "hostile")
    assert EVIL_SHOWN in head.splitlines()[0] and RED in head.splitlines()[0]
    assert EVIL_SHOWN in head.splitlines()[1]
    rows = exact(hostile, "data", "head", "hostile")
    assert rows[0][EVIL] == EVIL and rows[0][LINK] == LINK


def test_run_list_and_show_make_control_characters_visible(hostile: Workspace) -> None:
    listed = shown(hostile, "run", "list")
    assert f"style={LINK} {EVIL_SHOWN}" in listed
    assert exact(hostile, "run", "list")[0]["params"]["style"] == f"{LINK} {EVIL}"

    text = shown(hostile, "run", "show", "1")
    assert f"ValueError: bad column {BAD_CLOSE} {EVIL_SHOWN}" in text
    assert f"style = {LINK} {EVIL_SHOWN}" in text
    run = exact(hostile, "run", "show", "1")
    assert run["error"] == f"ValueError: bad column {BAD_CLOSE} {EVIL}"
    assert run["tags"]["title"] == EVIL

    logs = dockyard(hostile, "run", "logs", "1")  # into a pipe: the log as it was written
    assert f"hello {EVIL} world" in logs.stdout


def test_project_show_makes_control_characters_visible(hostile: Workspace) -> None:
    text = shown(hostile, "project", "show", "hostile")
    assert f"{EVIL_SHOWN} [/bogus] described" in text
    assert f"[/x] {EVIL_SHOWN}" in text
    project = exact(hostile, "project", "show", "hostile")
    assert project["description"] == f"{EVIL} [/bogus] described"


def test_an_error_quoting_hostile_input_is_one_visible_line(hostile: Workspace) -> None:
    # core quotes the path as given: "<path>: no such file or folder; check the path"
    result = dockyard(hostile, "data", "add", "evil", f"missing{EVIL}\nsecond line.csv")
    assert result.returncode == 2
    assert f"missing{EVIL_SHOWN}␊second line.csv" in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dockyard: error: "), result.stderr
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
