"""Snapshots of the run screen and the launch form: fixed data, a frozen clock, no animations.

Regenerate after a deliberate change (or a Textual upgrade) with
``pytest tests/test_snapshots_runs.py --snapshot-update`` and look at the SVGs first.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from dockyard.core.workspace import Workspace
from dockyard.tui.app import DockyardApp
from dockyard.tui.screens.launch import LaunchScreen
from tests.conftest import FROZEN_NOW, ago
from tests.test_tui_runs import register_toy

SnapCompare = Callable[..., bool]

LOG = """\
toy: 120 training rows, 40 held out
fold 1: accuracy 0.9167
fold 2: accuracy 0.9583
fold 3: accuracy 0.9167
step 1/40: accuracy 0.6500 loss 0.9100
step 2/40: accuracy 0.7000 loss 0.8000
step 3/40: accuracy 0.7400 loss 0.7100
step 4/40: accuracy 0.7800 loss 0.6300
step 5/40: accuracy 0.8100 loss 0.5600
step 6/40: accuracy 0.8300 loss 0.5000
step 7/40: accuracy 0.8500 loss 0.4500
step 8/40: accuracy 0.8700 loss 0.4100
"""


@pytest.fixture(autouse=True)
def _stable_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    monkeypatch.setenv("HOME", "/home/alice")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr("dockyard.core.agent.ensure_agent", lambda _workspace: False)


def seed_runs(workspace: Workspace) -> dict[str, int]:
    """The toy project, a running run with a log, curves, params, tags and an artifact,
    and a failed one; every time relative to ``FROZEN_NOW``."""
    from sqlmodel import Session, select

    from dockyard.core.workspace import engine_for
    from dockyard.store.models import Artifact, Metric, Param, Project, Run, RunTag

    register_toy(workspace)
    ids: dict[str, int] = {}
    with Session(engine_for(workspace)) as db:
        project = db.exec(select(Project).where(Project.name == "toy")).one()
        assert project.id is not None
        env = {
            "python": "3.11.7",
            "platform": "Linux-6.1-x86_64-with-glibc2.36",
            "cwd": "/home/alice/iris-lab/toy",
            "argv": ["python", "train.py"],
            "packages": {"numpy": "2.1.0", "scikit-learn": "1.5.2"},
        }
        running = Run(
            project_id=project.id,
            status="running",
            command="python train.py",
            user="alice",
            host="box",
            pid=4242,
            seed=7,
            git_commit="3f2a9c1e0b7d4a5c6e8f9a0b1c2d3e4f5a6b7c8d",
            git_dirty=True,
            primary_metric="accuracy",
            primary_value=0.87,
            group_id="c193f4dc",
            env_json=json.dumps(env),
            created_at=ago(minutes=3),
            started_at=ago(minutes=2, seconds=5),
        )
        failed = Run(
            project_id=project.id,
            status="failed",
            command="python train.py",
            user="alice",
            host="box",
            seed=7,
            exit_code=1,
            error="exit code 1: ValueError: could not convert string to float: 'n/a'",
            primary_metric="accuracy",
            env_json=json.dumps(env),
            created_at=ago(hours=1),
            started_at=ago(hours=1),
            ended_at=ago(minutes=59, seconds=48),
        )
        db.add_all([running, failed])
        db.flush()
        assert running.id is not None and failed.id is not None
        ids.update(running=running.id, failed=failed.id)
        for run in (running, failed):
            assert run.id is not None
            for key, value in (("model", "forest"), ("C", 0.5), ("epochs", 40), ("scale", True)):
                db.add(Param(run_id=run.id, key=key, value=json.dumps(value)))
            path = workspace.logs / f"run-{run.id}.log"
            text = LOG
            if run is failed:
                head = "".join(LOG.splitlines(keepends=True)[:4])
                text = head + "ValueError: could not convert string to float: 'n/a'\n"
            path.write_text(text)
            run.log_path = str(path)
            db.add(run)
        db.add(RunTag(run_id=running.id, key="task", value="classification"))
        db.add(RunTag(run_id=running.id, key="dataset", value="toy"))
        for step in range(1, 9):
            accuracy = 0.95 - 0.3 * math.exp(-step / 3)
            db.add(
                Metric(run_id=running.id, key="accuracy", step=step, value=accuracy, timestamp=0)
            )
            loss = 0.3 + 0.7 * math.exp(-step / 3)
            db.add(Metric(run_id=running.id, key="loss", step=step, value=loss, timestamp=0))
        for fold in range(1, 4):
            db.add(Metric(run_id=running.id, key="cv/accuracy", step=fold, value=0.93, timestamp=0))
        db.add(
            Artifact(
                run_id=running.id,
                name="confusion_matrix.json",
                sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                size_bytes=412,
                object_path="objects/9f86",
                created_at=ago(minutes=1),
            )
        )
        db.commit()
    return ids


def snapshot_app(workspace: Workspace) -> DockyardApp:
    return DockyardApp(workspace, user="alice", now=lambda: FROZEN_NOW)


async def settled(pilot: Pilot[Any]) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def open_run(run_id: int) -> Callable[[Pilot[Any]], Any]:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        app = pilot.app
        assert isinstance(app, DockyardApp)
        app.open_run(run_id)
        await settled(pilot)

    return run_before


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_run_screen(snap_compare: SnapCompare, workspace: Workspace, size: tuple[int, int]) -> None:
    ids = seed_runs(workspace)
    assert snap_compare(
        snapshot_app(workspace), terminal_size=size, run_before=open_run(ids["running"])
    )


def test_run_screen_failed_80x24(snap_compare: SnapCompare, workspace: Workspace) -> None:
    ids = seed_runs(workspace)
    assert snap_compare(
        snapshot_app(workspace), terminal_size=(80, 24), run_before=open_run(ids["failed"])
    )


def test_cancel_confirmation_80x24(snap_compare: SnapCompare, workspace: Workspace) -> None:
    ids = seed_runs(workspace)

    async def ask(pilot: Pilot[Any]) -> None:
        await open_run(ids["running"])(pilot)
        await pilot.press("x")
        await pilot.pause()

    assert snap_compare(snapshot_app(workspace), terminal_size=(80, 24), run_before=ask)


def open_form(*typed: tuple[int, str]) -> Callable[[Pilot[Any]], Any]:
    """Open the launch form with ``n`` and type ``text`` into the field at ``index``."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        await pilot.press("n")
        await settled(pilot)
        form = pilot.app.screen
        assert isinstance(form, LaunchScreen)
        for index, text in typed:
            editor = form.rows()[index].editor
            assert isinstance(editor, Input)
            editor.focus()
            editor.value = text
            await pilot.pause()
        for field in form.query(Input):
            field.cursor_blink = False
        await settled(pilot)

    return run_before


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_launch_form(
    snap_compare: SnapCompare, workspace: Workspace, size: tuple[int, int]
) -> None:
    seed_runs(workspace)
    assert snap_compare(snapshot_app(workspace), terminal_size=size, run_before=open_form())


def test_launch_form_sweep_120x40(snap_compare: SnapCompare, workspace: Workspace) -> None:
    seed_runs(workspace)
    assert snap_compare(
        snapshot_app(workspace),
        terminal_size=(120, 40),
        run_before=open_form((1, "0.1,1,10"), (2, "20,40")),
    )


def test_launch_form_bad_value_80x24(snap_compare: SnapCompare, workspace: Workspace) -> None:
    seed_runs(workspace)
    assert snap_compare(
        snapshot_app(workspace), terminal_size=(80, 24), run_before=open_form((1, "abc"))
    )
