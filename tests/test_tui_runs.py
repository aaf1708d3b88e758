"""The run screen, the launch form, cancel/retry/clone and the Runs pane's sweeps, with Pilot.

Every test runs the real app on a real SQLite store in ``tmp_path``, with a real log file
the test appends to and metric rows the test inserts. Waits are on the app's workers and
message queue; the one timing test measures the poll latency the screen promises. No agent
is started: ``core.agent.ensure_agent`` is replaced by a recorder.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Button, Input, Select

from dockyard.core.overview import ACTIVE_RUN_STATUSES, Pane, RunRow, load_pane
from dockyard.core.projects import add_project
from dockyard.core.run_logs import LogTail
from dockyard.core.runs import ACTIVE, get_run, list_runs
from dockyard.core.workspace import Workspace
from dockyard.store.queries import open_reader
from dockyard.tui.app import DockyardApp
from dockyard.tui.screens.help import HelpScreen
from dockyard.tui.screens.home import HomeScreen
from dockyard.tui.screens.launch import LaunchScreen
from dockyard.tui.screens.run import RunScreen
from dockyard.tui.widgets.confirm import ConfirmModal
from dockyard.tui.widgets.metric_chart import MAX_KEPT_POINTS, MetricChart, step_ticks, thin
from dockyard.tui.widgets.pane import PaneTable
from dockyard.tui.widgets.param_row import ParamRow, check_values, describe_spec, runs_count
from dockyard.tui.widgets.run_details import ordered_keys
from tests.conftest import FROZEN_NOW, ago
from tests.pilot_wait import notifications

TOY_TOML = """
[project]
name = "toy"
description = "A toy project for the TUI tests"
entry = "python train.py"

[params.model]
type = "choice"
choices = ["logreg", "forest"]
default = "logreg"
help = "Which estimator to fit"

[params.C]
type = "float"
default = 1.0
min = 0.001
max = 100.0
help = "Inverse regularisation strength"

[params.epochs]
type = "int"
default = 5
min = 1
max = 50
help = "Passes over the data"

[params.scale]
type = "bool"
default = true
help = "Standardise the features first"

[params.note]
type = "str"
default = "baseline"
help = "A free-text note"

[metrics]
primary = "accuracy"
direction = "maximize"
"""


# --- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture(autouse=True)
def agent_starts(monkeypatch: pytest.MonkeyPatch) -> list[Workspace]:
    """No real agent in TUI tests: record each ``ensure_agent`` call instead."""
    calls: list[Workspace] = []

    def fake_ensure_agent(workspace: Workspace) -> bool:
        calls.append(workspace)
        return False

    monkeypatch.setattr("dockyard.core.agent.ensure_agent", fake_ensure_agent)
    return calls


def register_toy(workspace: Workspace) -> None:
    folder = workspace.root / "toy"
    folder.mkdir(exist_ok=True)
    (folder / "dockyard.toml").write_text(TOY_TOML)
    (folder / "train.py").write_text("print('never run by these tests')\n")
    add_project(workspace, folder)


@pytest.fixture
def toy(workspace: Workspace) -> Workspace:
    """``workspace`` with the toy project registered (types: choice, float, int, bool, str)."""
    register_toy(workspace)
    return workspace


def session(workspace: Workspace) -> Any:
    from sqlmodel import Session

    from dockyard.core.workspace import engine_for

    return Session(engine_for(workspace))


def insert_run(
    workspace: Workspace,
    *,
    status: str = "running",
    params: dict[str, Any] | None = None,
    log: str | None = "",
    group_id: str | None = None,
    primary_value: float | None = None,
    **fields: Any,
) -> int:
    """A run of the toy project as the supervisor leaves it, with its log file."""
    from sqlmodel import select

    from dockyard.store.models import Param, Project, Run

    with session(workspace) as db:
        project = db.exec(select(Project).where(Project.name == "toy")).one()
        started = None if status == "queued" else ago(minutes=2)
        ended = ago(minutes=1) if status not in ACTIVE else None
        values: dict[str, Any] = {
            "project_id": project.id,
            "status": status,
            "command": "python train.py",
            "user": "alice",
            "host": "box",
            "primary_metric": "accuracy",
            "primary_value": primary_value,
            "group_id": group_id,
            "created_at": ago(minutes=3),
            "started_at": started,
            "ended_at": ended,
            "exit_code": None if ended is None else (1 if status == "failed" else 0),
            "seed": 7,
            "env_json": json.dumps({"python": "3.11.7", "cwd": "/srv/projects/toy"}),
        }
        values.update(fields)
        run = Run(**values)
        db.add(run)
        db.flush()
        assert run.id is not None
        for key, value in (params or {"model": "logreg", "C": 1.0, "epochs": 5}).items():
            db.add(Param(run_id=run.id, key=key, value=json.dumps(value)))
        if log is not None:
            path = workspace.logs / f"run-{run.id}.log"
            path.write_text(log)
            run.log_path = str(path)
            db.add(run)
        db.commit()
        return run.id


def add_metrics(
    workspace: Workspace, run_id: int, key: str, points: list[tuple[int, float]]
) -> None:
    from dockyard.store.models import Metric

    with session(workspace) as db:
        for step, value in points:
            db.add(Metric(run_id=run_id, key=key, step=step, value=value, timestamp=0.0))
        db.commit()


def set_status(workspace: Workspace, run_id: int, status: str) -> None:
    from dockyard.store.models import Run

    with session(workspace) as db:
        run = db.get(Run, run_id)
        run.status = status
        if status not in ACTIVE:
            run.ended_at = ago(seconds=1)
            run.exit_code = 0
        db.add(run)
        db.commit()


def append_log(workspace: Workspace, run_id: int, text: str) -> None:
    with (workspace.logs / f"run-{run_id}.log").open("a") as file:
        file.write(text)


def make_app(workspace: Workspace) -> DockyardApp:
    return DockyardApp(workspace, user="alice", now=lambda: FROZEN_NOW)


async def settle(pilot: Pilot[None]) -> None:
    """Let workers finish and their messages (and the polls they ask for) land."""
    app = pilot.app
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


async def open_run(pilot: Pilot[None], run_id: int, *, poll_seconds: float = 3600) -> RunScreen:
    """Open the run screen the way the app does, with the timer out of the way: the test
    triggers polls itself (``poll_now``) and waits for them."""
    app = pilot.app
    assert isinstance(app, DockyardApp)
    await settle(pilot)
    screen = RunScreen(run_id, poll_seconds=poll_seconds)
    await app.push_screen(screen)
    await settle(pilot)
    return screen


async def poll(pilot: Pilot[None], screen: RunScreen) -> None:
    screen.poll_now()
    await settle(pilot)


def log_lines(screen: RunScreen) -> list[str]:
    return [line for line in screen.log_view.lines if line]


def run_count(workspace: Workspace) -> int:
    return len(list_runs(workspace, limit=1000))


# --- the run screen ---------------------------------------------------------------------------


async def test_enter_on_a_run_opens_its_screen_and_esc_goes_back(toy: Workspace) -> None:
    run_id = insert_run(toy, log="hello\n")
    app = make_app(toy)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("2", "enter")
        await settle(pilot)
        assert isinstance(app.screen, RunScreen) and app.screen.run_id == run_id
        assert log_lines(app.screen) == ["hello"]
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        assert isinstance(app.focused, PaneTable) and app.focused.pane is Pane.RUNS


async def test_the_log_tails_only_new_bytes(toy: Workspace) -> None:
    run_id = insert_run(toy, log="epoch 0\nepoch 1\n")
    app = make_app(toy)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(pilot, run_id)
        assert log_lines(screen) == ["epoch 0", "epoch 1"]
        tail = screen._poller.tail if screen._poller is not None else None
        assert tail is not None and tail.offset == len(b"epoch 0\nepoch 1\n")
        append_log(toy, run_id, "epoch 2\npartial")
        await poll(pilot, screen)
        assert log_lines(screen) == ["epoch 0", "epoch 1", "epoch 2", "partial"]
        append_log(toy, run_id, " line\nepoch 3\n")
        await poll(pilot, screen)
        assert log_lines(screen) == ["epoch 0", "epoch 1", "epoch 2", "partial line", "epoch 3"]
        await poll(pilot, screen)  # nothing new: nothing repeated
        assert log_lines(screen)[-1] == "epoch 3" and len(log_lines(screen)) == 5


async def test_a_run_of_another_machine_shows_its_log_from_the_store(toy: Workspace) -> None:
    from dockyard.core.run_logs import LogStream

    run_id = insert_run(toy, log=None, host="a-worker-elsewhere")  # no file on this machine

    def stream(data: bytes) -> None:
        writer = LogStream(toy, run_id, flush_seconds=0.01)
        writer.write(data)
        writer.close()

    stream(b"epoch 0\nepoch 1\n")
    app = make_app(toy)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(pilot, run_id)
        assert log_lines(screen) == ["epoch 0", "epoch 1"]
        stream(b"epoch 2\n")
        await poll(pilot, screen)
        assert log_lines(screen) == ["epoch 0", "epoch 1", "epoch 2"]


async def test_new_points_extend_the_curve_and_the_latest_values(toy: Workspace) -> None:
    run_id = insert_run(toy)
    add_metrics(toy, run_id, "accuracy", [(0, 0.5), (1, 0.6)])
    app = make_app(toy)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(pilot, run_id)
        assert screen.chart.key == "accuracy"
        assert screen.chart.points == [(0, 0.5), (1, 0.6)]
        add_metrics(toy, run_id, "accuracy", [(2, 0.7), (3, 0.8)])
        add_metrics(toy, run_id, "loss", [(0, 1.0)])
        await poll(pilot, screen)
        assert screen.chart.points == [(0, 0.5), (1, 0.6), (2, 0.7), (3, 0.8)]
        assert screen.latest == {"accuracy": (3, 0.8), "loss": (0, 1.0)}
        title = str(screen.query_one("#run-chart-box").border_title)
        assert "accuracy 0.8 @3" in title


async def test_m_cycles_the_charted_metric(toy: Workspace) -> None:
    run_id = insert_run(toy, status="finished")
    add_metrics(toy, run_id, "accuracy", [(0, 0.5), (1, 0.9)])
    add_metrics(toy, run_id, "loss", [(0, 2.0), (1, 1.0), (2, 0.5)])
    app = make_app(toy)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(pilot, run_id)
        assert screen.chart.key == "accuracy"
        await pilot.press("m")
        await settle(pilot)
        assert screen.chart.key == "loss"
        assert screen.chart.points == [(0, 2.0), (1, 1.0), (2, 0.5)]
        await pilot.press("m")
        await settle(pilot)
        assert screen.chart.key == "accuracy"


async def test_the_primary_metric_is_charted_once_it_appears(toy: Workspace) -> None:
    run_id = insert_run(toy)
    add_metrics(toy, run_id, "cv/fold", [(0, 0.1), (1, 0.2)])
    app = make_app(toy)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(pilot, run_id)
        assert screen.chart.key == "cv/fold"
        add_metrics(toy, run_id, "accuracy", [(0, 0.9)])
        await poll(pilot, screen)
        assert screen.chart.key == "accuracy" and screen.chart.points == [(0, 0.9)]


async def test_a_long_history_is_downsampled_then_extended(toy: Workspace) -> None:
    run_id = insert_run(toy)
    add_metrics(toy, run_id, "accuracy", [(step, step / 20_000) for step in range(20_000)])
    app = make_app(toy)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(pilot, run_id)
        first = screen.chart.points
        assert 500 <= len(first) <= 1000
        assert first[0][0] == 0
        add_metrics(toy, run_id, "accuracy", [(20_000, 1.0), (20_001, 1.0)])
        await poll(pilot, screen)
        assert screen.chart.points[-2:] == [(20_000, 1.0), (20_001, 1.0)]
        assert len(screen.chart.points) == len(first) + 2


async def test_header_details_and_the_final_poll(toy: Workspace) -> None:
    run_id = insert_run(toy, log="start\n", pid=None, git_commit="0123456789abcdef", git_dirty=True)
    app = make_app(toy)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_run(pilot, run_id)
        header = str(screen.query_one("#run-header").render())
        assert f"Run {run_id}" in header and "running" in header and "elapsed 2m00s" in header
        cells = {
            str(row[0]).strip(): str(row[1])
            for row in (
                screen.query_one("#run-details").get_row_at(index)  # type: ignore[attr-defined]
                for index in range(screen.query_one("#run-details").row_count)  # type: ignore[attr-defined]
            )
        }
        assert cells["C"] == "1.0" and cells["model"] == "logreg"
        assert cells["code"] == "git 0123456789ab (dirty)"
        assert cells["python"] == "3.11.7" and cells["seed"] == "7"
        assert screen._timer is not None and screen.final is False
        # the run ends: the poll that sees it reads the rest, then polling stops
        append_log(toy, run_id, "done\n")
        set_status(toy, run_id, "finished")
        await poll(pilot, screen)
        assert screen.final and log_lines(screen) == ["start", "done"]
        assert "finished after" in str(screen.query_one("#run-header").render())
        started: list[bool] = []
        screen.poll_now = lambda: started.append(True)
        screen._tick()
        assert started == []


async def test_polling_pauses_under_another_screen(toy: Workspace) -> None:
    run_id = insert_run(toy)
    app = make_app(toy)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(pilot, run_id)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        started: list[bool] = []
        original = screen.poll_now
        screen.poll_now = lambda: started.append(True)  # type: ignore[method-assign]
        screen._tick()
        assert started == []
        screen.poll_now = original  # type: ignore[method-assign]
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        screen.poll_now = lambda: started.append(True)  # type: ignore[method-assign]
        screen._tick()
        assert started == [True]


async def test_help_lists_the_run_screen_keys(toy: Workspace) -> None:
    run_id = insert_run(toy)
    app = make_app(toy)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_run(pilot, run_id)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        listed = {row.binding_id for row in app.screen.rows}
        for binding_id in ("cancel-run", "retry-run", "clone-run", "focus-log", "next-metric"):
            assert binding_id in listed


async def test_new_lines_and_points_show_on_the_real_timer(toy: Workspace) -> None:
    """The real timer, not ``poll_now``: new lines and points reach the screen by themselves.

    "Within a second" is the poll period (asserted here) plus one incremental read, whose
    time ``bench/load.py`` measures on a 10-million-point store; a wall-clock bound here
    would only measure how busy the test machine is."""
    run_id = insert_run(toy, log="first\n")
    app = make_app(toy)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.open_run(run_id)
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunScreen)
        assert log_lines(screen) == ["first"]
        append_log(toy, run_id, "second\n")
        add_metrics(toy, run_id, "accuracy", [(0, 0.25)])
        assert screen.poll_seconds <= 0.5
        deadline = time.monotonic() + 30  # generous: only a hang fails, not a busy machine
        while time.monotonic() < deadline:
            await pilot.pause(0.05)
            if "second" in log_lines(screen) and screen.chart.points == [(0, 0.25)]:
                break
        assert "second" in log_lines(screen) and screen.chart.points == [(0, 0.25)]


async def test_a_failing_store_is_one_notification_and_polls_back_off(
    toy: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = insert_run(toy)
    app = make_app(toy)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(pilot, run_id)

        def broken(*_args: object) -> None:
            raise OSError("disk on fire")

        monkeypatch.setattr("dockyard.core.runs.get_run", broken)
        await poll(pilot, screen)
        await poll(pilot, screen)
        assert screen._skip_polls == 2
        failures = [text for text in notifications(app) if "disk on fire" in text]
        assert len(failures) == 1
        started: list[bool] = []
        screen.poll_now = lambda: started.append(True)  # type: ignore[method-assign]
        screen._tick()
        screen._tick()
        assert started == []
        screen._tick()
        assert started == [True]


# --- cancel, retry, clone ---------------------------------------------------------------------


async def test_cancel_asks_first_with_the_safe_button_focused(toy: Workspace) -> None:
    run_id = insert_run(toy, pid=None)
    app = make_app(toy)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_run(pilot, run_id)
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        assert app.focused is app.screen.cancel_button
        await pilot.press("enter")  # the focused, safe answer
        await settle(pilot)
        assert isinstance(app.screen, RunScreen)
        assert get_run(toy, run_id).status == "running"
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("escape")
        await settle(pilot)
        assert get_run(toy, run_id).status == "running"
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("tab", "enter")  # move to the confirm button on purpose
        await settle(pilot)
        assert get_run(toy, run_id).status == "cancelling"
        assert isinstance(app.screen, RunScreen)


async def test_cancel_is_offered_only_while_the_run_is_live(toy: Workspace) -> None:
    run_id = insert_run(toy, status="failed", error="boom")
    app = make_app(toy)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(pilot, run_id)
        assert screen.check_action("cancel_run", ()) is False
        assert screen.check_action("retry_run", ()) is True
        await pilot.press("x")
        await pilot.pause()
        assert app.screen is screen
        assert "error: boom" in str(screen.query_one("#run-header").render())


async def test_retry_queues_the_same_run_and_watches_it(
    toy: Workspace, agent_starts: list[Workspace]
) -> None:
    run_id = insert_run(toy, status="failed", params={"model": "forest", "C": 0.5, "epochs": 3})
    app = make_app(toy)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_run(pilot, run_id)
        await pilot.press("R")
        await settle(pilot)
        retried = [run for run in list_runs(toy) if run.id != run_id]
        assert len(retried) == 1
        new = retried[0]
        assert new.status == "queued" and new.parent_run_id == run_id
        assert new.params["model"] == "forest" and new.params["C"] == "0.5"
        assert len(agent_starts) == 1
        assert isinstance(app.screen, RunScreen) and app.screen.run_id == new.id
        assert any(f"Queued run {new.id}" in text for text in notifications(app))


async def test_clone_opens_the_form_with_the_run_values(toy: Workspace) -> None:
    run_id = insert_run(
        toy, status="finished", params={"model": "forest", "C": 0.5, "epochs": 3, "scale": False}
    )
    app = make_app(toy)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_run(pilot, run_id)
        await pilot.press("e")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, LaunchScreen)
        values = {row.spec.name: row.text for row in form.rows()}
        assert values == {
            "model": "forest",
            "C": "0.5",
            "epochs": "3",
            "scale": "false",
            "note": "baseline",
        }
        editor = form.rows()[2].editor
        assert isinstance(editor, Input)
        editor.value = "7"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await settle(pilot)
        clone = next(run for run in list_runs(toy) if run.id != run_id)
        assert clone.parent_run_id == run_id
        assert clone.params["epochs"] == "7" and clone.params["model"] == "forest"
        assert isinstance(app.screen, HomeScreen)


# --- the launch form --------------------------------------------------------------------------


async def open_form(pilot: Pilot[None]) -> LaunchScreen:
    await settle(pilot)
    await pilot.press("n")
    await settle(pilot)
    form = pilot.app.screen
    assert isinstance(form, LaunchScreen)
    return form


def row(form: LaunchScreen, name: str) -> ParamRow:
    return next(item for item in form.rows() if item.spec.name == name)


async def test_the_form_builds_one_field_per_parameter(toy: Workspace) -> None:
    app = make_app(toy)
    async with app.run_test(size=(100, 30)) as pilot:
        form = await open_form(pilot)
        assert form.project is not None and form.project.name == "toy"
        editors = {item.spec.name: type(item.editor) for item in form.rows()}
        assert editors == {
            "model": Select,
            "C": Input,
            "epochs": Input,
            "scale": Select,
            "note": Input,
        }
        assert row(form, "C").text == "1.0"
        await pilot.press("enter")  # the project list: go to the fields
        await pilot.pause()
        assert app.focused is row(form, "model").editor
        await pilot.press("tab")
        assert "Inverse regularisation strength" in str(form.query_one("#launch-help").render())


async def test_a_bad_value_is_flagged_as_you_type_and_queues_nothing(toy: Workspace) -> None:
    app = make_app(toy)
    async with app.run_test(size=(100, 30)) as pilot:
        form = await open_form(pilot)
        c_field = row(form, "C").editor
        form.set_focus(c_field)
        await pilot.press("ctrl+a", "ctrl+k", *"abc")
        await pilot.pause()
        assert row(form, "C").has_class("-invalid")
        assert "not a number" in str(form.query_one("#launch-summary").render())
        await pilot.press("enter")
        await settle(pilot)
        assert run_count(toy) == 0
        assert any("C: 'abc' is not a number" in text for text in notifications(app))
        assert isinstance(app.screen, LaunchScreen)
        await pilot.press("ctrl+a", "ctrl+k", *"500")
        await pilot.pause()
        assert "above the maximum" in str(form.query_one("#launch-summary").render())
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert run_count(toy) == 0


async def test_a_good_value_queues_one_run_and_goes_home(
    toy: Workspace, agent_starts: list[Workspace]
) -> None:
    running = insert_run(toy)  # listed first, above the run about to be queued
    app = make_app(toy)
    async with app.run_test(size=(100, 30)) as pilot:
        form = await open_form(pilot)
        form.set_focus(row(form, "C").editor)
        await pilot.press("ctrl+a", "ctrl+k", *"0.25")
        await pilot.pause()
        assert str(form.query_one("#launch-summary").render()) == "1 run will be queued"
        await pilot.press("enter")
        await settle(pilot)
        runs = [run for run in list_runs(toy) if run.id != running]
        assert len(runs) == 1
        assert runs[0].status == "queued" and runs[0].params["C"] == "0.25"
        assert runs[0].params["scale"] == "True" and runs[0].params["note"] == "baseline"
        assert len(agent_starts) == 1
        assert f"Queued run {runs[0].id}" in notifications(app)
        assert isinstance(app.screen, HomeScreen)
        assert isinstance(app.focused, PaneTable) and app.focused.pane is Pane.RUNS
        await settle(pilot)
        pane = app.home.pane(Pane.RUNS)
        assert [r.key for r in pane.rows()] == [f"run:{running}", f"run:{runs[0].id}"]
        cursor = pane.row_at_cursor()
        assert cursor is not None and cursor.key == f"run:{runs[0].id}"


async def test_lists_and_all_choices_make_a_sweep(toy: Workspace) -> None:
    app = make_app(toy)
    async with app.run_test(size=(100, 30)) as pilot:
        form = await open_form(pilot)
        form.set_focus(row(form, "C").editor)
        await pilot.press("ctrl+a", "ctrl+k", *"0.1, 1,10")
        model = row(form, "model").editor
        assert isinstance(model, Select)
        model.value = "logreg,forest"  # the "all 2 (sweep)" entry
        await pilot.pause()
        assert str(form.query_one("#launch-summary").render()) == (
            "6 runs will be queued (sweep over model x C)"
        )
        assert str(form.query_one("#launch-queue-button", Button).label) == "Queue 6"
        await pilot.press("ctrl+s")
        await settle(pilot)
        runs = list_runs(toy)
        assert len(runs) == 6
        assert len({run.group_id for run in runs}) == 1 and runs[0].group_id
        grid = {(run.params["model"], run.params["C"]) for run in runs}
        assert grid == {(m, c) for m in ("logreg", "forest") for c in ("0.1", "1.0", "10.0")}
        assert any("Queued 6 runs" in text for text in notifications(app))


async def test_esc_leaves_the_form_without_queuing(toy: Workspace) -> None:
    app = make_app(toy)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_form(pilot)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        assert run_count(toy) == 0


async def test_new_and_launch_in_the_command_bar(toy: Workspace) -> None:
    app = make_app(toy)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        for alias in ("new", "launch"):
            await pilot.press("colon", *alias, "enter")
            await settle(pilot)
            assert isinstance(app.screen, LaunchScreen)
            await pilot.press("escape")
            await pilot.pause()


async def test_an_unknown_dataset_version_is_a_notification(toy: Workspace) -> None:
    app = make_app(toy)
    async with app.run_test(size=(100, 30)) as pilot:
        form = await open_form(pilot)
        picker = form.query_one("#dataset", Select)
        picker.set_options([("bogus", "nope@9")])
        picker.value = "nope@9"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert run_count(toy) == 0
        assert any("no dataset named 'nope'" in text for text in notifications(app))
        assert isinstance(app.screen, LaunchScreen) and not form.queueing


async def test_a_project_archived_while_the_form_is_open_queues_nothing(toy: Workspace) -> None:
    from dockyard.core import housekeeping

    app = make_app(toy)
    async with app.run_test(size=(100, 30)) as pilot:
        form = await open_form(pilot)
        housekeeping.archive(toy, "project", "toy")  # from another terminal
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert run_count(toy) == 0
        assert (
            "project toy is archived, so it takes no new runs; restore it first: "
            "`dockyard project restore toy`"
        ) in notifications(app)
        assert isinstance(app.screen, LaunchScreen) and not form.queueing


def test_field_rules() -> None:
    from dockyard.core.projects import ParamSpec

    c = ParamSpec("C", "float", 1.0, min=0.001, max=100.0)
    assert check_values(c, "") == ([], None)
    assert check_values(c, "0.1, 1") == (["0.1", "1"], None)
    assert check_values(c, "0.1,") == (["0.1", ""], "an empty value in the list")
    assert check_values(c, "1000")[1] == "1000.0 is above the maximum 100"
    # the form parses with the core's parser: NaN passes every min/max comparison
    for text in ("nan", "1, NaN", "inf", "1e999"):
        assert "is not a finite number" in str(check_values(c, text)[1]), text
    seed = ParamSpec("seed", "int", 1)
    assert "out of range" in str(check_values(seed, "99999999999999999999")[1])
    assert check_values(ParamSpec("note", "str", "x"), "") == ([""], None)
    assert describe_spec(c) == "float 0.001..100"
    assert describe_spec(ParamSpec("seed", "int", 1, min=0)) == "int ≥0"
    # bounds arrive as floats from TOML; an int parameter's print as ints, never 1e+06
    assert describe_spec(ParamSpec("seed", "int", 1, min=0.0, max=1e6)) == "int 0..1000000"
    assert runs_count([1, 3, 0, 2]) == 6


# --- the home screen's Runs pane --------------------------------------------------------------


async def test_x_and_R_work_on_the_highlighted_run(
    toy: Workspace, agent_starts: list[Workspace]
) -> None:
    finished = insert_run(toy, status="finished")
    queued = insert_run(toy, status="queued", log=None)
    app = make_app(toy)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        runs = app.home.pane(Pane.RUNS)
        assert [r.key for r in runs.rows()] == [f"run:{queued}", f"run:{finished}"]
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        assert app.focused is app.screen.cancel_button
        await pilot.press("y")
        await settle(pilot)
        assert get_run(toy, queued).status == "cancelled"
        await pilot.press("j", "R")
        await settle(pilot)
        assert run_count(toy) == 3 and len(agent_starts) == 1
        assert runs.rows()[-1].key == f"run:{finished}"
        await pilot.press("G", "x")  # a run that has ended: nothing to confirm
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        assert any("nothing to cancel" in text for text in notifications(app))


def test_the_best_run_of_each_ended_sweep_is_marked(toy: Workspace) -> None:
    done = [
        insert_run(toy, status="finished", group_id="aaaa1111", primary_value=value, log=None)
        for value in (0.7, 0.9, 0.8)
    ]
    insert_run(toy, status="failed", group_id="aaaa1111", primary_value=0.99, log=None)
    live = insert_run(toy, status="finished", group_id="bbbb2222", primary_value=0.95, log=None)
    insert_run(toy, status="running", group_id="bbbb2222", log=None)
    single = insert_run(toy, status="finished", primary_value=1.0, log=None)
    reader = open_reader(toy.db_url)
    try:
        page = load_pane(reader, Pane.RUNS, now=FROZEN_NOW)
    finally:
        reader.close()
    rows = {row.id: row for row in page.rows if isinstance(row, RunRow)}
    assert [run_id for run_id, row in rows.items() if row.best] == [done[1]]
    assert rows[done[1]].sweep == "aaaa ★" and rows[done[0]].sweep == "aaaa"
    assert rows[live].sweep == "bbbb"  # its sweep is still running
    assert rows[single].sweep == "" and not rows[single].best


def test_a_minimizing_project_marks_the_lowest(toy: Workspace) -> None:
    from sqlmodel import select

    from dockyard.store.models import Project

    with session(toy) as db:
        project = db.exec(select(Project).where(Project.name == "toy")).one()
        spec = json.loads(project.spec_json)
        spec["direction"] = "minimize"
        project.spec_json = json.dumps(spec)
        db.add(project)
        db.commit()
    ids = [
        insert_run(toy, status="finished", group_id="cccc3333", primary_value=value, log=None)
        for value in (0.3, 0.1, 0.2)
    ]
    reader = open_reader(toy.db_url)
    try:
        page = load_pane(reader, Pane.RUNS, now=FROZEN_NOW)
    finally:
        reader.close()
    assert [row.id for row in page.rows if isinstance(row, RunRow) and row.best] == [ids[1]]


def test_active_statuses_agree_with_the_core() -> None:
    assert ACTIVE_RUN_STATUSES == ACTIVE


# --- pieces -----------------------------------------------------------------------------------


async def test_the_confirm_modal_answers(toy: Workspace) -> None:
    app = make_app(toy)
    answers: list[bool | None] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for keys in (["enter"], ["escape"], ["n"], ["y"], ["right", "enter"]):
            await app.push_screen(ConfirmModal("Drop it?", "Really?"), answers.append)
            await pilot.pause()
            assert isinstance(app.focused, Button) and app.focused.id == "confirm-cancel-button"
            await pilot.press(*keys)
            await pilot.pause()
    assert answers == [False, False, False, True, True]


def test_log_tail_reads_only_what_was_appended(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    path.write_bytes(b"")
    tail = LogTail(path)
    assert tail.read_new().text == ""
    snowman = "☃".encode()
    path.write_bytes(b"a\n" + snowman[:1])
    assert tail.read_new().text == "a\n"  # half a character waits for the rest
    with path.open("ab") as file:
        file.write(snowman[1:] + b"\n")
    assert tail.read_new().text == "☃\n"
    path.write_bytes(b"new\n")  # truncated and rewritten: start over
    chunk = tail.read_new()
    assert chunk.reset and chunk.text == "new\n"
    assert LogTail(tmp_path / "missing.log").read_new().text == ""


async def test_a_long_log_opens_at_its_end_with_a_note(toy: Workspace) -> None:
    run_id = insert_run(toy, log="".join(f"line {index:06d}\n" for index in range(100_000)))
    app = make_app(toy)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(pilot, run_id)
        lines = log_lines(screen)
        assert lines[0].startswith("… ") and lines[0].endswith(f"dockyard run logs {run_id})")
        assert lines[1].startswith("line ") and lines[-1] == "line 099999"
        assert len(lines) <= 5000


def test_log_tail_opens_a_long_log_near_its_end(tmp_path: Path) -> None:
    from dockyard.core import run_logs

    path = tmp_path / "long.log"
    lines = [f"line {index:06d}\n" for index in range(100_000)]
    path.write_text("".join(lines))
    chunk = LogTail(path).read_new()
    assert chunk.skipped_bytes > 0
    assert chunk.text.endswith("line 099999\n")
    assert chunk.text.startswith("line ")  # no partial first line
    assert len(chunk.text) <= run_logs.LOG_TAIL_BYTES


def test_metric_keys_order_and_chart_helpers() -> None:
    latest = {"zeta": (5, 1.0), "alpha": (0, 1.0), "accuracy": (3, 0.5), "beta": (4, 2.0)}
    # the primary metric, then curves by name, then single values
    assert ordered_keys(latest, "zeta") == ["zeta", "accuracy", "beta", "alpha"]
    assert ordered_keys(latest, None) == ["accuracy", "beta", "zeta", "alpha"]
    points = [(step, float(step)) for step in range(1000)]
    thinned = thin(points, 100)
    assert len(thinned) == 100 and thinned[-1] == (999, 999.0) and thinned[0] == (0, 0.0)
    assert (
        step_ticks(0, 0) == [0] and step_ticks(0, 1) == [0, 1] and step_ticks(2, 10) == [2, 6, 10]
    )
    chart = MetricChart()
    chart.show_curve("x", [(step, 0.0) for step in range(MAX_KEPT_POINTS)])
    chart.extend([(MAX_KEPT_POINTS + step, 1.0) for step in range(10)])
    assert len(chart.points) < MAX_KEPT_POINTS
    assert chart.last_step == MAX_KEPT_POINTS + 9
    chart.extend([(3, 5.0)])  # an old step: ignored
    assert chart.last_step == MAX_KEPT_POINTS + 9


async def test_a_metric_logged_once_shows_its_value_not_a_one_point_chart() -> None:
    from textual.app import App, ComposeResult

    class ChartApp(App[None]):
        def compose(self) -> ComposeResult:
            yield MetricChart(id="chart")

    async with ChartApp().run_test(size=(60, 12)) as pilot:
        chart = pilot.app.query_one(MetricChart)
        chart.show_curve("accuracy", [(0, 0.9561403508)])
        await pilot.pause()
        shown = chart.render()
        assert isinstance(shown, Text)
        assert shown.plain == "accuracy = 0.95614035\nlogged once (step 0)"
        chart.extend([(1, 0.97)])  # a second point: a curve again
        await pilot.pause()
        assert "logged once" not in str(chart.render())


def test_import_tui_app_loads_neither_plotext_nor_the_run_screens() -> None:
    code = (
        "import sys, json, tui.app\n"
        "print(json.dumps([m for m in ('plotext', 'textual_plotext', 'dockyard.tui.screens.run',"
        " 'dockyard.tui.screens.launch', 'sqlmodel', 'sqlalchemy') if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(result.stdout) == []


def record_engine_opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Forget the engines and readers opened so far (the fixtures opened some) and record
    every engine opened from here on: the TUI's screens must need none (decision 28)."""
    from dockyard.core import workspace as workspace_module
    from dockyard.store import db

    opened: list[str] = []
    original = db.open_engine

    def open_engine(url: str, *args: Any, **kwargs: Any) -> Any:
        opened.append(url)
        return original(url, *args, **kwargs)

    monkeypatch.setattr(db, "open_engine", open_engine)
    monkeypatch.setattr(workspace_module, "_ENGINES", {})
    monkeypatch.setattr(workspace_module, "_READERS", {})
    return opened


async def test_the_first_run_screen_opens_no_engine(
    toy: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening a run (status, log, metrics, the chart, artifacts) reads through sqlite3:
    the first run screen of a session does not pay for importing and opening SQLAlchemy."""
    run_id = insert_run(toy, status="finished", log="hello\n")
    add_metrics(toy, run_id, "loss", [(step, 1 / (step + 1)) for step in range(300)])
    opened = record_engine_opens(monkeypatch)
    app = make_app(toy)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(pilot, run_id)
        await poll(pilot, screen)
        assert log_lines(screen) == ["hello"]
        assert screen.info is not None and screen.info.status == "finished"
        assert screen.latest["loss"][0] == 299
        assert screen.artifacts == []
    assert opened == []
