"""The dataset screen, the diff view and the add-dataset form, with Pilot on real stores.

Datasets are registered through ``core.datasets.register_dataset`` from small CSVs written
in ``tmp_path``; times are then pinned relative to ``FROZEN_NOW`` so snapshots hold.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from dockyard.core.datasets import list_versions, register_dataset
from dockyard.core.workspace import Workspace
from dockyard.store.queries import sqlite_file
from dockyard.tui.app import DockyardApp
from dockyard.tui.screens.add_dataset import AddDatasetScreen
from dockyard.tui.screens.dataset import DatasetScreen
from dockyard.tui.screens.dataset_diff import DatasetDiffScreen
from dockyard.tui.screens.home import HomeScreen
from dockyard.tui.sparkline import SPARK
from dockyard.tui.widgets.dataset_preview import PreviewTable
from dockyard.tui.widgets.dataset_tables import ProfileTable
from tests.conftest import FROZEN_NOW, ago
from tests.pilot_wait import notified

KINDS = ("red", "white", "rose")


def write_csv(path: Path, rows: int, *, extra: bool = False) -> Path:
    header = "id,alcohol,kind" + (",extra" if extra else "")
    lines = [header]
    for i in range(rows):
        line = f"{i},{(i * 7) % 100 / 10:.1f},{KINDS[i % 3]}"
        lines.append(line + (f",{i % 5}" if extra else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


def _time(moment: Any) -> str:
    return str(moment.strftime("%Y-%m-%d %H:%M:%S.%f"))


def build_datasets_store(workspace: Workspace, data: Path) -> dict[str, Any]:
    """wine@1 (3,000 rows, 3 columns) and wine@2 (3,100 rows, a column more), registered
    by alice 2 days and 3 hours before ``FROZEN_NOW``; a finished run used wine@1."""
    data.mkdir(parents=True, exist_ok=True)
    v1 = register_dataset(
        workspace, "wine", write_csv(data / "wine1.csv", 3000), "first cut", author="alice"
    )
    v2 = register_dataset(
        workspace,
        "wine",
        write_csv(data / "wine2.csv", 3100, extra=True),
        "adds extra",
        author="alice",
    )
    path = sqlite_file(workspace.db_url)
    assert path is not None
    db = sqlite3.connect(path)
    with db:
        db.execute(
            "UPDATE dataset_version SET created_at = ? WHERE id = ?",
            (_time(ago(days=2)), v1.version.id),
        )
        db.execute(
            "UPDATE dataset_version SET created_at = ? WHERE id = ?",
            (_time(ago(hours=3)), v2.version.id),
        )
        db.execute(
            "UPDATE dataset SET created_at = ?, updated_at = ?",
            (_time(ago(days=2)), _time(ago(hours=3))),
        )
        db.execute(
            "INSERT INTO project (name, path, description, entry, spec_json, spec_hash, "
            "created_at, updated_at) VALUES ('wine', '/samples/wine', '', 'python train.py', "
            "'{}', 'h', ?, ?)",
            (_time(ago(days=2)), _time(ago(days=2))),
        )
        cursor = db.execute(
            "INSERT INTO run (project_id, dataset_version_id, status, command, error, host, "
            "user, log_path, env_json, created_at) VALUES "
            "(1, ?, 'finished', 'python train.py', '', 'h', 'alice', '', '{}', ?)",
            (v1.version.id, _time(ago(days=1))),
        )
    db.close()
    return {"v1": v1.version, "v2": v2.version, "run_id": cursor.lastrowid}


def make_app(workspace: Workspace) -> DockyardApp:
    return DockyardApp(workspace, user="alice", now=lambda: FROZEN_NOW)


async def settle(pilot: Pilot[Any]) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def open_dataset(pilot: Pilot[Any]) -> DatasetScreen:
    await settle(pilot)
    await pilot.press("1", "enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, DatasetScreen)
    return screen


def column_text(table: DataTable[Any], column: int) -> list[str]:
    return [str(table.get_row_at(i)[column]) for i in range(table.row_count)]


async def test_enter_opens_the_dataset_screen_with_profile(
    workspace: Workspace, tmp_path: Path
) -> None:
    build_datasets_store(workspace, tmp_path / "data")
    app = make_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_dataset(pilot)
        assert screen.dataset_name == "wine"
        assert column_text(screen.table, 0) == [" v2", " v1"]
        assert column_text(screen.table, 1) == ["3,100", "3,000"]
        profile = screen.query_one(ProfileTable)
        assert column_text(profile, 0) == ["id", "alcohol", "kind", "extra"]
        sparks = column_text(profile, 2)
        assert all(ch in SPARK for ch in sparks[1]) and len(sparks[1]) > 3
        assert "red" in sparks[2]
        # the same kinds and number forms as `dockyard data show` (one shared helper)
        assert column_text(profile, 1) == ["int64 id", "float64", "category", "int64"]
        assert column_text(profile, 6)[0] == "3099"  # an id's max: no thousands separator
        # tab goes into the section, then on to the next one; esc comes back
        await pilot.press("tab")
        assert app.focused is profile
        await pilot.press("tab")
        await settle(pilot)
        assert app.focused is screen.query_one(PreviewTable)
        await pilot.press("escape", "p", "escape")
        assert app.focused is screen.table
        # the cursor on v1 shows v1's profile
        await pilot.press("j")
        await settle(pilot)
        assert column_text(profile, 0) == ["id", "alcohol", "kind"]
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


async def test_the_preview_pages_forward_and_jumps_to_the_end(
    workspace: Workspace, tmp_path: Path
) -> None:
    build_datasets_store(workspace, tmp_path / "data")
    app = make_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_dataset(pilot)
        await pilot.press("s")
        await settle(pilot)
        preview = screen.query_one(PreviewTable)
        assert app.focused is preview
        assert preview.row_count <= 300
        assert column_text(preview, 0)[0] == "1"
        assert column_text(preview, 1)[0] == "0"  # the id column of the first data row
        for _ in range(20):
            await pilot.press("pagedown")
            await settle(pilot)
        ids = [int(v) for v in column_text(preview, 1)]
        assert max(ids) > 400 and min(ids) > 0  # a later page, earlier ones dropped
        assert preview.row_count <= 300
        status = str(screen.query_one("#ds-preview-status").render())
        assert "of 3,100" in status
        await pilot.press("G")
        await settle(pilot)
        assert column_text(preview, 1)[-1] == "3099"
        assert preview.cursor_row == preview.row_count - 1
        await pilot.press("g")
        await settle(pilot)
        assert column_text(preview, 1)[0] == "0"
        assert screen.last_page_seconds is not None


async def test_lineage_lists_the_run_and_enter_opens_it(
    workspace: Workspace, tmp_path: Path
) -> None:
    ids = build_datasets_store(workspace, tmp_path / "data")
    app = make_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_dataset(pilot)
        await pilot.press("l")
        await settle(pilot)
        lineage = screen.query_one("#ds-lineage", DataTable)
        assert lineage.row_count == 0
        assert "No runs used wine@2" in str(screen.query_one("#ds-lineage-empty").render())
        await pilot.press("escape", "j", "l")
        await settle(pilot)
        assert column_text(lineage, 0) == [str(ids["run_id"])]
        assert column_text(lineage, 3) == ["wine@1"]
        await pilot.press("enter")
        await pilot.pause()
        assert type(app.screen).__name__ == "RunScreen"


async def test_c_diffs_against_the_previous_version(workspace: Workspace, tmp_path: Path) -> None:
    build_datasets_store(workspace, tmp_path / "data")
    app = make_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_dataset(pilot)
        await pilot.press("c")
        await settle(pilot)
        diff = app.screen
        assert isinstance(diff, DatasetDiffScreen)
        assert (diff.ref_a, diff.ref_b) == ("wine@1", "wine@2")
        summary = str(diff.query_one("#diff-summary").render())
        assert "+ added: extra" in summary and "(+100)" in summary
        table = diff.query_one(DataTable)
        names = column_text(table, 1)
        changes = column_text(table, 4)
        assert changes[names.index("extra")] == "added"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DatasetScreen)
        # tagging two versions diffs those; on v1 alone there is nothing before it
        await pilot.press("j", "c")
        await pilot.pause()
        assert isinstance(app.screen, DatasetScreen)


async def test_add_dataset_registers_and_reports_bad_input(
    workspace: Workspace, tmp_path: Path
) -> None:
    build_datasets_store(workspace, tmp_path / "data")
    fresh = write_csv(tmp_path / "data" / "wine3.csv", 50)
    app = make_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("1", "a")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, AddDatasetScreen)
        assert form.query_one("#add-name", Input).value == "wine"
        form.query_one("#add-path", Input).value = str(tmp_path / "nope.csv")
        await pilot.press("enter")
        await settle(pilot)
        still_open = app.screen is form  # (an assert here would narrow form's type)
        assert still_open
        assert form.error is not None and "nope.csv" in form.error
        assert len(list_versions(workspace, "wine")) == 2
        form.query_one("#add-path", Input).value = str(fresh)
        form.query_one("#add-message", Input).value = "fifty rows"
        await pilot.press("enter")
        await settle(pilot)
        assert form.outcome == "wine@3 registered"
        assert isinstance(app.screen, HomeScreen)
        assert list_versions(workspace, "wine")[0].message == "fifty rows"
        # the same bytes again: no new version
        await pilot.press("a")
        await pilot.pause()
        again = app.screen
        assert isinstance(again, AddDatasetScreen)
        again.query_one("#add-path", Input).value = str(fresh)
        await pilot.press("enter")
        await settle(pilot)
        assert again.outcome == "identical to wine@3; no new version"


async def test_add_dataset_esc_closes_and_palette_alias_opens(
    workspace: Workspace, tmp_path: Path
) -> None:
    build_datasets_store(workspace, tmp_path / "data")
    app = make_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"add", "enter")
        await pilot.pause()
        assert isinstance(app.screen, AddDatasetScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


async def test_a_on_the_dataset_screen_adds_a_version(workspace: Workspace, tmp_path: Path) -> None:
    build_datasets_store(workspace, tmp_path / "data")
    fresh = write_csv(tmp_path / "data" / "wine3.csv", 40)
    app = make_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_dataset(pilot)
        await pilot.press("a")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, AddDatasetScreen)
        assert form.query_one("#add-name", Input).value == "wine"
        form.query_one("#add-path", Input).value = str(fresh)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        assert column_text(screen.table, 0) == [" v3", " v2", " v1"]


async def test_an_altered_object_is_flagged_on_the_dataset_screen(
    workspace: Workspace, tmp_path: Path
) -> None:
    build_datasets_store(workspace, tmp_path / "data")
    stored = list_versions(workspace, "wine")[0].object_path  # wine@2, opened first
    data = stored.read_bytes()
    stored.chmod(0o644)
    stored.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])  # same size
    app = make_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_dataset(pilot)
        sections = str(screen.query_one("#ds-sections").render())
        assert "wine@2" in sections and "stored object altered or missing" in sections
        notes = [n for n in notified(app) if n.title == "Stored object altered"]
        assert len(notes) == 1 and "wine@2: object" in notes[0].message
        assert "no longer matches" in notes[0].message
        await pilot.press("j")  # wine@1 is intact: no warning on its line
        await settle(pilot)
        assert "altered" not in str(screen.query_one("#ds-sections").render())


def stored_state(workspace: Workspace) -> tuple[int, list[str], list[str]]:
    """(version rows, files under objects/ outside tmp, entries of objects/tmp)."""
    db = sqlite3.connect(str(sqlite_file(workspace.db_url)))
    try:
        (rows,) = db.execute("SELECT count(*) FROM dataset_version").fetchone()
    finally:
        db.close()
    objects = workspace.objects
    tmp = objects / "tmp"
    stored = sorted(p.name for p in objects.rglob("*") if p.is_file() and tmp not in p.parents)
    return rows, stored, sorted(p.name for p in tmp.iterdir()) if tmp.is_dir() else []


@pytest.mark.slow
async def test_esc_during_the_progress_leaves_nothing(workspace: Workspace, tmp_path: Path) -> None:
    build_datasets_store(workspace, tmp_path / "data")
    big = tmp_path / "data" / "big.csv"
    with open(big, "w") as f:
        f.write("id,x,kind\n")
        f.writelines(f"{i},{i % 97 / 7:.4f},{KINDS[i % 3]}\n" for i in range(1_500_000))
    before = stored_state(workspace)
    app = make_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("1", "a")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, AddDatasetScreen)
        form.query_one("#add-path", Input).value = str(big)
        # enter's action, called directly: pilot.press("enter") returns only once the app
        # is idle, which is after the progress messages stop, i.e. after the registration
        form.action_register()
        # half-way: the progress bar has moved (the copy is staged in objects/tmp)
        for _ in range(2000):
            if form._hash_share or form._profile_share or not form.registering:
                break
            await pilot.pause(0.005)
        assert form.registering and (form._hash_share or form._profile_share)
        assert stored_state(workspace)[2] != []
        assert form._profile_share < 1.0
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        assert any("cancelled; nothing was written" in n.message for n in notified(app))
    assert stored_state(workspace) == before
    assert before[2] == []


@pytest.mark.slow
async def test_malformed_files_in_the_form_get_the_command_lines_messages(
    workspace: Workspace, tmp_path: Path
) -> None:
    from tests.test_datasets import BAD_FILES

    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env["PYTHONPATH"] = str(root / ".pkg")
    cases: list[tuple[Path, str]] = []
    for _case, name, content, _message in BAD_FILES:
        path = tmp_path / "bad" / name
        path.parent.mkdir(exist_ok=True)
        if content is not None:
            path.write_bytes(content.encode() if isinstance(content, str) else content)
        cli = subprocess.run(
            [sys.executable, "-m", "dockyard.tui", "--home", str(workspace.home), "data", "add",
             "bad", str(path)],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert cli.returncode == 2, cli.stderr
        cases.append((path, cli.stderr.strip().removeprefix("dockyard: error: ")))
    app = make_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("1", "a")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, AddDatasetScreen)
        form.query_one("#add-name", Input).value = "bad"
        for path, message in cases:
            form.query_one("#add-path", Input).value = str(path)
            await pilot.press("enter")
            await settle(pilot)
            assert form.is_current
            assert form.error == message
            assert notified(app)[-1].message == message
    assert stored_state(workspace) == (0, [], [])


async def test_the_diff_names_categories_that_appeared_disappeared_and_moved(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Issue 10: a categorical column's diff says which values came, went and moved."""
    one = tmp_path / "a.csv"
    one.write_text("kind\n" + "red\n" * 60 + "rose\n" * 30 + "gone\n" * 10)
    two = tmp_path / "b.csv"
    two.write_text("kind\n" + "red\n" * 30 + "rose\n" * 50 + "new\x1b\n" * 20)
    register_dataset(workspace, "wine", one, "first", author="alice")
    register_dataset(workspace, "wine", two, "second", author="alice")
    app = make_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await app.push_screen(DatasetDiffScreen(workspace, "wine@1", "wine@2"))
        await settle(pilot)
        summary = str(app.screen.query_one("#diff-summary").render())
        line = next(x for x in summary.splitlines() if x.startswith("kind:"))
        assert "new: new␛" in line and "gone: gone" in line  # the escape made visible
        assert "moved: red -30.0 pts, rose +20.0 pts" in line
